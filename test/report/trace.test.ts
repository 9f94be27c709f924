import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Machine } from '../../src/engine/machine.js';
import type { RunContext } from '../../src/cli/registry.js';
import type { MachineSpec } from '../../src/engine/spec.js';
import { lockTable, sleepTable } from '../../src/sync/snapshot.js';
import { ProgressLine } from '../../src/report/progress.js';
import { runMachine, withReport } from '../../src/report/run-machine.js';
import { type ChromeEvent, type ChromeTrace, chromeTrace, cpuOfTid, validateChromeTrace } from '../../src/report/trace-chrome.js';
import { type ReportSpecPart, TraceKind, rings } from '../../src/report/trace.js';

function ctxFor(trace?: string, traceEvents = 4096): RunContext {
  return { common: { json: true, trace, traceEvents }, options: {}, progress: new ProgressLine(false), trace: null };
}

/** The cpus whose tracks hold the events `pred` picks (a cpu has its own track and its I/O tracks). */
const tids = (evs: ChromeEvent[], pred: (e: ChromeEvent) => boolean) => new Set(evs.filter(pred).map((e) => cpuOfTid(e.tid)));

describe('report: traces', () => {
  it('the validator refuses spans of one track that overlap without nesting (Perfetto does)', () => {
    const x = (ts: number, dur: number, tid = 0) => ({ name: 's', ph: 'X' as const, ts, dur, pid: 1, tid });
    expect(validateChromeTrace(chromeTrace([x(0, 10), x(2, 3), x(5, 5)]))).to.deep.equal([]);
    expect(validateChromeTrace(chromeTrace([x(0, 10), x(5, 10)]))).to.deep.equal(['track 1/0: 1 span(s) overlap another without nesting']);
    expect(validateChromeTrace(chromeTrace([x(0, 10), x(5, 10, 1)]))).to.deep.equal([]);
  });

  it('a ring keeps the newest records and counts the dropped ones', () => {
    const spec: MachineSpec & ReportSpecPart = { ncpu: 2, report: { trace: 16 } };
    const m = new Machine(spec);
    const [r0, r1] = rings(m.arena, m.spec);
    for (let i = 0; i < 20; i++) r0.put(TraceKind.IO_READ, 0, i, 1, 0, 4096);
    r1.put(TraceKind.WAKEUP, 0, 5, 0, 64, 0);
    const a = r0.read();
    expect(a.dropped).to.equal(4);
    expect(a.events.map((e) => e.ts)).to.deep.equal([4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(a.events[0]).to.include({ cpu: 0, kind: TraceKind.IO_READ, arg: 4096, dur: 1 });
    expect(r1.read().events).to.have.length(1);
    expect(r1.read().events[0]).to.include({ cpu: 1, kind: TraceKind.WAKEUP, addr: 64 });
  });

  it('a spec without a report part reserves nothing (arena layouts of other code are unchanged)', () => {
    const plain = new Machine({ ncpu: 2 });
    const withNothing = new Machine(withReport({ ncpu: 2 }, { ...ctxFor(undefined) }));
    expect(withNothing.arena.size).to.equal(plain.arena.size);
    expect(rings(plain.arena, plain.spec)).to.deep.equal([]);
  });

  it('tsleep/wakeup ping-pong between 2 workers gives valid Chrome Trace JSON with sleeps and wakeups from both', async () => {
    const ctx = ctxFor('unused.json');
    const m = new Machine(withReport({ ncpu: 2, lab: true }, ctx));
    await runMachine(
      m,
      [0, 1].map((side) => ({ role: 'lab:pingpong', args: { iters: 300, side, mode: 'tsleep', timeoutMs: 0 } })),
      ctx,
      { timeoutMs: 60_000, label: 'pingpong' },
    );
    expect(ctx.trace).to.not.equal(null);
    const t: ChromeTrace = JSON.parse(JSON.stringify(chromeTrace(ctx.trace!.events as ChromeEvent[])));
    expect(validateChromeTrace(t)).to.deep.equal([]);
    const evs = t.traceEvents;
    const sleeps = evs.filter((e) => e.cat === 'sleep');
    // Every wakeup call and every sleep is in the trace (the rings did not fill).
    expect(ctx.trace!.dropped).to.equal(0);
    expect(evs.filter((e) => e.cat === 'wakeup' && cpuOfTid(e.tid) === 0).length).to.equal(300);
    expect(evs.filter((e) => e.cat === 'wakeup' && cpuOfTid(e.tid) === 1).length).to.equal(300);
    const table = sleepTable(m.sync);
    for (const wm of ['ping', 'pong']) {
      const n = table.find((s) => s.wmesg === wm)?.sleeps ?? 0;
      expect(sleeps.filter((e) => e.name === `tsleep ${wm}`).length, wm).to.equal(n);
    }
    expect(sleeps.length).to.be.greaterThan(0);
    expect(sleeps.every((e) => e.ph === 'X' && e.dur! >= 0)).to.equal(true);
    const names = evs.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => (e.args as { name: string }).name);
    expect(names).to.deep.equal(['cpu 0 lab:pingpong', 'cpu 1 lab:pingpong']);
  });

  it('every contended lock acquisition shows as a lock wait of its class', async () => {
    const ctx = ctxFor('unused.json', 65536);
    const m = new Machine(withReport({ ncpu: 2, lab: true }, ctx));
    await runMachine(m, [{ role: 'lab:count-mtx', args: { iters: 20_000, work: 20 }, count: 2 }], ctx, { timeoutMs: 60_000 });
    const evs = ctx.trace!.events as ChromeEvent[];
    expect(ctx.trace!.dropped).to.equal(0);
    const locks = evs.filter((e) => e.cat === 'lock');
    // Under load the sleep path's own spinlocks can be contended too: those are waits of their
    // own classes, never unnamed.
    const waits = locks.filter((e) => e.name === 'lock wait lab_mtx');
    const row = lockTable(m.sync).find((l) => l.className === 'lab_mtx')!;
    expect(row.acquisitions).to.equal(40_000);
    // Each contended acquisition is traced; a wait can also be traced when another cpu's contended
    // acquisition overlapped this cpu's attempt, so the trace holds at least as many.
    expect(waits.length).to.be.at.least(row.contended);
    const classes = new Set(lockTable(m.sync).map((l) => `lock wait ${l.className}`));
    const odd = locks.filter((e) => !classes.has(e.name) || e.ph !== 'X' || !(e.dur! >= 0));
    expect(odd, JSON.stringify(odd.slice(0, 3))).to.deep.equal([]);
    expect(validateChromeTrace(chromeTrace(evs))).to.deep.equal([]);
  });

  it('kiolab bench locks --trace writes a trace with I/O spans and sleeps from 2 workers', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiolab-trace-'));
    const file = join(dir, 'sub', 'trace.json');
    const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
    const r = spawnSync(process.execPath, [cli, 'bench', 'locks', '--cpus', '2', '--ops', '3000', '--sleep-every', '50', '--trace', file], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^trace: .*trace\.json \([\d,]+ events/m);
    const t = JSON.parse(readFileSync(file, 'utf8')) as ChromeTrace;
    expect(validateChromeTrace(t)).to.deep.equal([]);
    expect(tids(t.traceEvents, (e) => e.cat === 'io')).to.deep.equal(new Set([0, 1]));
    expect(tids(t.traceEvents, (e) => e.cat === 'sleep').size).to.equal(2);
    const io = t.traceEvents.filter((e) => e.cat === 'io');
    expect(io.length).to.equal(3000);
    expect(io.every((e) => (e.args as { bytes: number }).bytes === 4)).to.equal(true);
  });
});
