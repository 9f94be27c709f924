/**
 * One option contract: every bench scenario × every common option group is either honoured (the
 * run takes it and its report shows the effect) or refused with exit 2 and the scenario's reason,
 * never ignored; a scenario's help lists only what applies.
 */
import '../../workers/index.js';
import '../../src/cli/all.js';
import '../../src/cli/locks.js';
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchHelp, refusedOptions, seedSwitches } from '../../src/cli/bench.js';
import { loadWorkload } from '../../src/workload/index.js';
import { validateChromeTrace } from '../../src/report/trace-chrome.js';
import { COMMON_KEYS, type CommonKey, KEY_OPTIONS, scenarios } from '../../src/cli/registry.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const kiolab = (args: string[], cwd: string) => spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 180_000 });

/** A value for each common option when a test gives it. */
const VALUE: Record<string, string | null> = {
  seed: '7',
  duration: '0.5',
  ops: '300',
  ramp: '0.1',
  cpus: '3',
  'latency-us': '5',
  bandwidth: '500',
  'device-file': 'disk.img',
  'device-sync': null,
  'as-seed': null,
  trace: 'trace.json',
  'trace-events': '4096',
  check: null,
};
const argsOf = (opts: readonly string[]) => opts.flatMap((o) => (VALUE[o] === null ? [`--${o}`] : [`--${o}`, VALUE[o]!]));

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The trace file was written, holds spans, and is one Perfetto loads cleanly (spans on a track nest). */
function traced(dir: string): void {
  expect(existsSync(join(dir, 'trace.json')), 'trace written').to.equal(true);
  const t = JSON.parse(readFileSync(join(dir, 'trace.json'), 'utf8')) as { traceEvents: { ph: string }[] };
  expect(t.traceEvents.filter((e) => e.ph === 'X').length).to.be.greaterThan(0);
  expect(validateChromeTrace(t)).to.deep.equal([]);
}

/** --as-seed: exactly the seed's switches of the subsystems the scenario runs are on, and the report says so. */
const seeded = (subsystems: string[]) => (r: Json) => {
  expect(r.options['as-seed']).to.equal(true);
  const want = seedSwitches().filter((b) => subsystems.includes(b.subsystem)).map((b) => b.name);
  expect(r.switches ?? []).to.have.members(want);
};

/**
 * --device-file disk.img --device-sync on a one-disk machine: the report names the file and its
 * fdatasync, the file was written, and the disk served I/O from it.
 */
function onFile(r: Json, dir: string): void {
  expect(r.devices[0].file).to.equal('disk.img');
  expect(r.devices[0].syncWrites).to.equal(true);
  expect(statSync(join(dir, 'disk.img')).size).to.be.greaterThan(0);
  expect(r.devices[0].reads + r.devices[0].writes).to.be.greaterThan(0);
}

/** The recorded example the workload tests replay. */
const WORKLOAD = fileURLToPath(new URL('../../../examples/workloads/mixed-2files.iolog', import.meta.url));

/** --workload: the report names the trace, and every one of its requests ran as one operation of the jobs. */
function replayedAll(r: Json): void {
  expect(r.options.workload).to.equal(WORKLOAD);
  const w = loadWorkload(WORKLOAD);
  const rw = w.requests.filter((q) => q.op !== 'T');
  const jobs = (r.jobs as Json[]).filter((j) => /caller/.test(j.jobname));
  const ios = (d: 'read' | 'write') => jobs.reduce((s, j) => s + j[d].total_ios, 0);
  // mixed: the boot's reads come before the replay, through the same callers.
  const bootReads = r.mixed?.boot.reads ?? 0;
  expect(ios('read') - bootReads).to.equal(rw.filter((q) => q.op === 'R').length);
  expect(ios('write')).to.equal(rw.filter((q) => q.op === 'W').length);
}

/** --ramp 0.1: the report records it, its timeline marks it, and no op of the figures ended inside it. */
function ramped(r: Json): void {
  expect(r.options.ramp).to.equal(0.1);
  expect(r.timeline.rampMs).to.equal(100);
}

/**
 * Per scenario: its own options that keep a run short, and for each honoured group what in the
 * JSON report (and stderr) shows that the option took effect.
 */
const HONOURED: Record<string, { extra: string[]; evidence: Partial<Record<CommonKey, (r: Json, stderr: string, dir: string) => void>> }> = {
  locks: {
    extra: [],
    evidence: {
      seed: (r) => expect(r.options.seed).to.equal(7),
      duration: (r) => expect(r.options.duration).to.equal(0.5),
      ops: (r) => expect(r.options.ops).to.equal(300),
      ramp: (r) => expect(r.options.ramp).to.equal(0.1),
      cpus: (r) => expect(r.jobs[0].worker_ios).to.have.length(3),
      trace: (_r, _e, dir) => traced(dir),
    },
  },
  bufcache: {
    extra: ['--nbuf', '64'],
    evidence: {
      seed: (r) => expect(r.options.seed).to.equal(7),
      duration: (r) => expect(r.options.duration).to.equal(0.5),
      ops: (r) => expect(r.options.ops).to.equal(300),
      ramp: ramped,
      cpus: (r) => expect(r.bufcache.config.callers).to.equal(3),
      device: (r) => expect(r.devices[0].latency).to.include({ baseUs: 5, bandwidthMBps: 500 }),
      // A real file: written, stamped, read back and oracle-checked (the verdict is PASS).
      'device-file': (r, _e, dir) => {
        onFile(r, dir);
        expect(r.bufcache.runs[0].oracle.mismatchCount).to.equal(0);
      },
      trace: (_r, _e, dir) => traced(dir),
      check: (_r, e) => expect(e).to.match(/checker: \d+ samples of bufcache/),
      'as-seed': seeded(['bufcache', 'bio']),
      workload: replayedAll,
    },
  },
  bootcache: {
    extra: ['--locking', 'fine'],
    evidence: {
      seed: (r) => expect(r.options.seed).to.equal(7),
      ops: (r) => expect(r.boot.config.requests).to.equal(300),
      cpus: (r) => expect(r.jobs[0].workers).to.equal(3),
      device: (r) => expect(r.devices[0].latency).to.include({ baseUs: 5, bandwidthMBps: 500 }),
      'device-file': (r, _e, dir) => {
        onFile(r, dir);
        expect(r.devices[0].reads).to.be.greaterThan(0);
        expect(r.boot.runs[0].mismatches).to.deep.equal([]);
      },
      trace: (_r, _e, dir) => traced(dir),
      check: (_r, e) => expect(e).to.match(/checker: \d+ samples of bootcache/),
      'as-seed': seeded(['bootcache', 'bio']),
      workload: replayedAll,
    },
  },
  swap: {
    extra: [],
    evidence: {
      seed: (r) => expect(r.options.seed).to.equal(7),
      duration: (r) => expect(r.options.duration).to.equal(0.5),
      ramp: ramped,
      cpus: (r) => expect(r.jobs[0].workers).to.equal(3),
      device: (r) => expect(r.devices[0].latency).to.include({ baseUs: 5, bandwidthMBps: 500 }),
      'device-file': (r, _e, dir) => {
        expect(r.devices.map((d: Json) => d.file)).to.deep.equal(['disk.img-wd0', 'disk.img-wd1']);
        expect(r.devices.map((d: Json) => d.syncWrites)).to.deep.equal([true, true]);
        for (const d of ['wd0', 'wd1']) expect(statSync(join(dir, `disk.img-${d}`)).size).to.be.greaterThan(0);
        expect(r.devices[0].reads + r.devices[0].writes + r.devices[1].reads + r.devices[1].writes).to.be.greaterThan(0);
        expect(r.swap.pagers.mismatches).to.equal(0);
      },
      trace: (_r, _e, dir) => traced(dir),
      check: (_r, e) => expect(e).to.match(/checker: \d+ samples of swap/),
      'as-seed': seeded(['swap', 'bio']),
    },
  },
  mixed: {
    extra: [],
    evidence: {
      seed: (r) => expect(r.options.seed).to.equal(7),
      duration: (r) => expect(r.options.duration).to.equal(0.5),
      ramp: ramped,
      device: (r) => expect(r.devices[0].latency).to.include({ baseUs: 5, bandwidthMBps: 500 }),
      'device-file': (r, _e, dir) => {
        onFile(r, dir);
        expect(r.devices[0].reads).to.be.greaterThan(0);
      },
      trace: (_r, _e, dir) => traced(dir),
      check: (_r, e) => expect(e).to.match(/checker: \d+ samples of/),
      'as-seed': seeded(['bootcache', 'bufcache', 'bio', 'swap']),
      workload: replayedAll,
    },
  },
  primitives: { extra: [], evidence: {} },
};

describe('cli: one option contract for every bench scenario', function () {
  this.timeout(600_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kiolab-opts-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('every scenario honours each common option group or gives its reason for refusing it', () => {
    for (const s of scenarios()) {
      expect(HONOURED[s.name], `the test knows scenario ${s.name}`).to.not.equal(undefined);
      for (const k of COMMON_KEYS) {
        if (s.honours.includes(k)) expect(HONOURED[s.name].evidence[k], `${s.name} honours ${k}: the test checks its effect`).to.be.a('function');
        else expect(s.refuses?.[k], `${s.name} refuses ${k}: why`).to.be.a('string').and.have.length.greaterThan(10);
      }
    }
  });

  it("the README's table says which scenario honours which option, as the scenarios do", () => {
    const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
    const cols: CommonKey[] = ['seed', 'duration', 'ops', 'ramp', 'cpus', 'device', 'device-file', 'trace', 'check', 'as-seed', 'workload'];
    for (const s of scenarios()) {
      const row = new RegExp(`^\\| ${s.name} \\|(.*)\\|$`, 'm').exec(readme);
      expect(row, `README row for ${s.name}`).to.not.equal(null);
      const marks = row![1].split('|').map((c) => c.trim());
      expect(marks, s.name).to.deep.equal(cols.map((k) => (s.honours.includes(k) ? '✓' : '–')));
    }
  });

  it("each scenario's help lists the common options that apply, and names the others with the reason", () => {
    for (const s of scenarios()) {
      const help = benchHelp(s.name);
      const [common, notHere = ''] = help.split('Common options that do not apply here');
      for (const [o, why] of refusedOptions(s)) {
        expect(common, `${s.name}: --${o} is not offered`).to.not.match(new RegExp(`^ {2}--${o} `, 'm'));
        expect(notHere, `${s.name}: --${o} is named with its reason`).to.contain(`--${o}`).and.contain(why);
      }
      for (const k of s.honours) for (const o of KEY_OPTIONS[k]) if (!(o in (s.options ?? {}))) expect(common, `${s.name}: --${o}`).to.match(new RegExp(`^ {2}--${o} `, 'm'));
    }
  });

  for (const s of scenarios()) {
    it(`bench ${s.name}: every refused option exits 2 with the reason, before any run`, () => {
      for (const [o, why] of refusedOptions(s)) {
        const r = kiolab(['bench', s.name, ...argsOf([o])], dir);
        expect(r.status, `${s.name} --${o}: ${r.stderr}`).to.equal(2);
        expect(r.stderr.trim()).to.equal(`kiolab: bench ${s.name}: --${o} does not apply: ${why}`);
      }
    });

    // Below: locks' ramp, --as-seed (the seed's races may fail a check) and --workload (a file).
    const honoured = s.honours.filter((k) => !(s.name === 'locks' && k === 'ramp') && k !== 'as-seed' && k !== 'workload');
    if (honoured.length === 0) continue;
    it(`bench ${s.name}: the honoured options together take effect, and the report shows each`, () => {
      const opts = honoured.flatMap((k) => KEY_OPTIONS[k]).filter((o) => !(o in (s.options ?? {})));
      const r = kiolab(['bench', s.name, ...argsOf(opts), ...HONOURED[s.name].extra, '--json'], dir);
      expect(r.status, r.stderr.slice(-2000)).to.equal(0);
      const report = JSON.parse(r.stdout) as Json;
      expect(report.verdict?.line ?? '', 'the report ends in a verdict').to.match(/^PASS: \d+ checks?, 0 failures$/);
      for (const k of honoured) HONOURED[s.name].evidence[k]!(report, r.stderr, dir);
    });
  }

  for (const s of scenarios().filter((x) => x.honours.includes('as-seed'))) {
    it(`bench ${s.name} --as-seed: the seed's switches of its subsystems are on, and the run ends with a verdict`, () => {
      const short = s.name === 'bootcache' ? ['--ops', '300'] : ['--duration', '0.5'];
      const r = kiolab(['bench', s.name, '--as-seed', ...short, ...HONOURED[s.name].extra, '--json'], dir);
      // The seed's races may or may not strike in a short run: a failed check (1) is an outcome, not a fault.
      expect([0, 1], r.stderr.slice(-2000)).to.include(r.status);
      const report = JSON.parse(r.stdout) as Json;
      expect(report.verdict?.line ?? '').to.match(/^(PASS|FAIL): /);
      HONOURED[s.name].evidence['as-seed']!(report, r.stderr, dir);
    });
  }

  for (const s of scenarios().filter((x) => x.honours.includes('workload'))) {
    it(`bench ${s.name} --workload: the recorded example replays, every request once, oracle-checked`, () => {
      const r = kiolab(['bench', s.name, '--workload', WORKLOAD, '--replay-speed', 'max', ...HONOURED[s.name].extra, '--json'], dir);
      expect(r.status, r.stderr.slice(-2000)).to.equal(0);
      const report = JSON.parse(r.stdout) as Json;
      expect(report.verdict?.line ?? '').to.match(/^PASS: \d+ checks?, 0 failures$/);
      HONOURED[s.name].evidence.workload!(report, r.stderr, dir);
    });
  }

  it('bench locks: --ramp leaves the first seconds out of the figures', () => {
    const r = kiolab(['bench', 'locks', '--duration', '0.6', '--ramp', '0.1', '--seed', '7', '--json'], dir);
    expect(r.status, r.stderr).to.equal(0);
    HONOURED.locks.evidence.ramp!(JSON.parse(r.stdout) as Json, r.stderr, dir);
  });
});
