import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { benchLocks } from '../../src/cli/locks.js';
import { Machine } from '../../src/engine/machine.js';
import { ProgressLine } from '../../src/report/progress.js';
import { withReport } from '../../src/report/run-machine.js';
import type { RoleResult } from '../../src/engine/protocol.js';
import { Histogram } from '../../src/report/histogram.js';
import { type RunReport, buildRunReport, groupByRole, isRunReport, mergeTimelines, recorderOf, roleTimes, runReportExitCode } from '../../src/report/run-report.js';
import type { ThreadTime } from '../../src/sync/snapshot.js';
import type { JobStats } from '../../src/report/types.js';
import { runBench } from '../../src/cli/bench.js';
import { formatRunReport } from '../../src/report/format.js';
import { renderHtml } from '../../src/report/html.js';
import '../../src/cli/all.js';
import { type RecorderJSON, OpRecorder, hitStats } from '../../src/report/types.js';

/** A recorder output made by hand: `n` ops of `lat` ns each, `bytes` each, on a timeline. */
function sample(read: number[], write: number[], bytes: number, timeline: { t0Ms: number; binMs: number; rops: number[]; wops: number[] }): RecorderJSON {
  const h = (xs: number[]) => {
    const x = new Histogram();
    xs.forEach((v) => x.record(v));
    return x.toJSON();
  };
  return {
    read: { ops: read.length, bytes: read.length * bytes, hist: h(read) },
    write: { ops: write.length, bytes: write.length * bytes, hist: h(write) },
    timeline: { ...timeline, rbytes: timeline.rops.map((n) => n * bytes), wbytes: timeline.wops.map((n) => n * bytes) },
  };
}

describe('report: run report from synthetic samples', () => {
  const m = new Machine({ ncpu: 2 });

  it('merges workers of a role into fio figures over the runtime', () => {
    const a = sample([1000, 2000, 3000], [10_000], 4096, { t0Ms: 1_000_000, binMs: 100, rops: [3], wops: [1] });
    const b = sample([4000], [20_000, 30_000], 4096, { t0Ms: 1_000_100, binMs: 100, rops: [1], wops: [2] });
    const results: RoleResult[] = [
      { cpu: 0, role: 'x:caller', value: a },
      { cpu: 1, role: 'x:caller', value: { io: b, other: 'kept by the role' } },
    ];
    const r = buildRunReport({ scenario: 'synthetic', machine: m, results, runtimeMs: 2000, hits: { 'x:caller': { bufcache: hitStats(3, 1) } } });
    expect(isRunReport(r)).to.equal(true);
    expect(r.kiolab_version).to.match(/^kiolab-\d+\.\d+\.\d+/);
    expect(r.jobs).to.have.length(1);
    const j = r.jobs[0];
    expect(j.jobname).to.equal('x:caller');
    expect(j.workers).to.equal(2);
    expect(j.read.total_ios).to.equal(4);
    expect(j.read.io_bytes).to.equal(4 * 4096);
    expect(j.read.iops).to.equal(2); // 4 ops in 2 s
    expect(j.read.bw_bytes).to.equal((4 * 4096) / 2);
    expect(j.read.runtime).to.equal(2000);
    expect(j.read.clat_ns.min).to.equal(1000);
    expect(j.read.clat_ns.max).to.equal(4000);
    expect(j.read.clat_ns.mean).to.equal(2500);
    expect(j.read.clat_ns.N).to.equal(4);
    expect(j.read.clat_ns.percentile['50.000000']).to.be.closeTo(2000, 2000 / 64);
    expect(j.write.total_ios).to.equal(3);
    expect(j.write.clat_ns.max).to.equal(30_000);
    expect(j.hits?.bufcache).to.deep.equal({ hits: 3, misses: 1, ratio: 0.75 });
    expect(r.machine.cpus).to.equal(2);
    expect(r.machine.node).to.equal(process.version);
    expect(r.locks.map((l) => l.className)).to.include('names');
    expect(runReportExitCode(r)).to.equal(0);
  });

  it('aligns per-worker timelines on one time axis', () => {
    const a = sample([], [], 100, { t0Ms: 1_000_000, binMs: 100, rops: [1, 2, 3], wops: [0, 0, 0] });
    const b = sample([], [], 100, { t0Ms: 1_000_100, binMs: 100, rops: [10, 20], wops: [1, 1] });
    const t = mergeTimelines(groupByRole([{ cpu: 0, role: 'r', value: a }, { cpu: 1, role: 'r', value: b }]));
    expect(t.binMs).to.equal(100);
    expect(t.roles[0].role).to.equal('r');
    // bin 0: 1 read; bin 1: 2 + 10 reads, 1 write; bin 2: 3 + 20 reads, 1 write — per second (x10)
    expect(t.roles[0].read_iops).to.deep.equal([10, 120, 230]);
    expect(t.roles[0].write_iops).to.deep.equal([0, 10, 10]);
    expect(t.roles[0].iops).to.deep.equal([10, 130, 240]);
    expect(t.roles[0].bw_bytes).to.deep.equal([1000, 13000, 24000]);
  });

  it('ignores results that carry no recorder, and fails the exit code on a failed check', () => {
    expect(recorderOf({ hello: 1 })).to.equal(null);
    expect(recorderOf(null)).to.equal(null);
    const r = buildRunReport({
      scenario: 's',
      machine: m,
      results: [{ cpu: 0, role: 'device:worker', value: { done: 5 } }],
      checks: [{ name: 'oracle', ok: false, detail: '2 stale reads' }],
    });
    expect(r.jobs).to.deep.equal([]);
    expect(runReportExitCode(r)).to.equal(1);
  });

  it('OpRecorder leaves the ramp out of the figures but keeps it in the timeline', () => {
    const rec = new OpRecorder({ rampMs: 60_000, binMs: 50 }); // every op below falls in the ramp
    for (let i = 0; i < 10; i++) rec.read(1000, 512);
    const j = rec.toJSON();
    expect(j.read.ops).to.equal(0);
    expect(j.rampOps).to.equal(10);
    expect(j.span).to.equal(undefined);
    expect(j.timeline!.rops.reduce((x, y) => x + y, 0)).to.equal(10);
    const rec2 = new OpRecorder();
    rec2.read(1000, 512);
    rec2.write(3000, 4096);
    const k = rec2.toJSON();
    expect([k.read.ops, k.read.bytes, k.write.ops, k.write.bytes]).to.deep.equal([1, 512, 1, 4096]);
    expect(k.span!.t1).to.be.at.least(k.span!.t0);
  });

  it('a real run (the locks scenario) adds up: ops, lock acquisitions, sleeps and the timeline agree', async () => {
    const ctx = { common: { json: true, cpus: 2, ops: 4001, seed: 5 }, options: {}, progress: new ProgressLine(false), trace: null };
    const r = await benchLocks({ 'sleep-every': '100', 'read-pct': '50' }, ctx);
    const j = r.jobs[0];
    expect(j.workers).to.equal(2);
    expect(j.read.total_ios + j.write.total_ios).to.equal(4001);
    expect(j.read.total_ios).to.be.greaterThan(0);
    expect(j.write.total_ios).to.be.greaterThan(0);
    expect(j.read.io_bytes).to.equal(4 * j.read.total_ios);
    expect(j.read.clat_ns.N).to.equal(j.read.total_ios);
    expect(r.locks.find((l) => l.className === 'lab_mtx')!.acquisitions).to.equal(4001);
    // 2001 and 2000 ops: 20 sleeps each, every one woken or timed out
    const s = r.sleeps.find((x) => x.wmesg === 'lkload')!;
    expect(s.sleeps).to.equal(40);
    expect(s.wakeups + s.timeouts).to.equal(40);
    const tl = r.timeline.roles[0];
    expect(tl.role).to.equal('lock-load (mtx)');
    const ops = tl.iops.reduce((a, b) => a + b, 0) * (r.timeline.binMs / 1000);
    expect(Math.round(ops)).to.equal(4001);
    expect(r.options).to.include({ cpus: 2, seed: 5, ops: 4001 });
  });

  it('withReport applies the common device options to every device and turns on the report region', () => {
    const spec = { ncpu: 2, devices: [{ name: 'wd0', blocks: 64, latency: { seekUs: 5 } }, { name: 'wd1', blocks: 64 }] };
    const ctx = { common: { json: false, latencyUs: 80, bandwidth: 200, deviceFile: '/tmp/disk', trace: 't.json', traceEvents: 32 }, options: {}, progress: new ProgressLine(false), trace: null };
    const s2 = withReport(spec, ctx);
    expect(s2.devices).to.deep.equal([
      { name: 'wd0', blocks: 64, latency: { seekUs: 5, baseUs: 80, bandwidthMBps: 200 }, file: '/tmp/disk-wd0' },
      { name: 'wd1', blocks: 64, latency: { baseUs: 80, bandwidthMBps: 200 }, file: '/tmp/disk-wd1' },
    ]);
    expect(s2.report).to.deep.equal({ trace: 32, live: false });
    expect(spec.devices[0].latency).to.deep.equal({ seekUs: 5 }); // the caller's spec is untouched
    const plain = withReport(spec, { ...ctx, common: { json: false } });
    expect(plain).to.equal(spec);
  });
});

describe('report: where the time goes, per role', () => {
  const t = (cpu: number, role: string, x: Partial<ThreadTime>): ThreadTime => ({ cpu, role, wallUs: 0, lockWaitUs: 0, sleepUs: 0, ioWaitUs: 0, deviceBusyUs: 0, sleeps: {}, ...x });

  it('sums the workers of a role and splits their time into own code, lock waits, the device and other sleeps', () => {
    const jobs = [{ jobname: 'caller', workers: 2, read: { total_ios: 3000 }, write: { total_ios: 1000 } }] as unknown as JobStats[];
    const rows = roleTimes(
      [
        t(0, 'caller', { wallUs: 1_000_000, lockWaitUs: 100_000, sleepUs: 500_000, ioWaitUs: 400_000, sleeps: { biord: 400_000, newbuf: 100_000 } }),
        t(1, 'caller', { wallUs: 1_000_000, lockWaitUs: 0, sleepUs: 200_000, ioWaitUs: 200_000, sleeps: { biord: 200_000 } }),
        t(2, 'device:worker', { wallUs: 2_000_000, sleepUs: 1_000_000, deviceBusyUs: 600_000, sleeps: { devidle: 1_000_000 } }),
      ],
      jobs,
    );
    const c = rows.find((r) => r.role === 'caller')!;
    expect(c).to.deep.include({ workers: 2, wallUs: 2_000_000, lockWaitUs: 100_000, deviceUs: 600_000, otherSleepUs: 100_000, ownUs: 1_200_000 });
    expect(c.opsPerWorkerS, '4000 ops in 2 worker-seconds').to.equal(2000);
    expect(c.topSleeps).to.deep.equal([['biord', 600_000], ['newbuf', 100_000]]);
    const d = rows.find((r) => r.role === 'device:worker')!;
    expect(d).to.deep.include({ deviceUs: 600_000, otherSleepUs: 1_000_000, ownUs: 400_000 });
    expect(d.opsPerWorkerS, 'a role that records no ops').to.equal(undefined);
  });

  it('a real run: every worker of every role is counted, its parts add up to its time, and callers that read a disk wait for it', async () => {
    const { report } = await runBench<RunReport>('bufcache', { duration: 0.5, cpus: 2 });
    const rows = report.timeByRole!;
    const caller = rows.find((r) => r.role === 'bufcache caller')!;
    expect(caller.workers).to.equal(2);
    expect(caller.deviceUs, 'the callers read the disk (biord)').to.be.greaterThan(0);
    expect(caller.opsPerWorkerS).to.be.greaterThan(0);
    expect(rows.find((r) => r.role === 'device:worker')!.deviceUs, 'the device worker served requests').to.be.greaterThan(0);
    for (const r of rows) {
      expect(r.ownUs + r.lockWaitUs + r.deviceUs + r.otherSleepUs, r.role).to.be.at.most(r.wallUs * 1.01 + 1000);
      expect(r.wallUs, r.role).to.be.greaterThan(0);
    }
    const text = formatRunReport(report);
    expect(text).to.match(/^where the time goes \(per role/m);
    expect(text).to.match(/^ {2}bufcache caller +2 +\d+ +[\d.]+% +[\d.]+% +[\d.]+% +[\d.]+%/m);
    expect(renderHtml(report)).to.contain('Where the time goes (per role)');
  });
});
