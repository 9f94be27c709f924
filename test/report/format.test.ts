import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { contendedPct, formatRunReport, humanBytes, humanCount, latencyUnit } from '../../src/report/format.js';
import { Histogram } from '../../src/report/histogram.js';
import type { RunReport } from '../../src/report/run-report.js';
import { dirStats, hitStats } from '../../src/report/types.js';

function report(): RunReport {
  const h = new Histogram();
  for (let i = 1; i <= 1000; i++) h.record(i * 1000); // 1 µs .. 1 ms
  const empty = new Histogram().toJSON();
  return {
    kiolab_version: 'kiolab-9.9.9',
    timestamp: 0,
    time: '2026-01-01T00:00:00.000Z',
    scenario: 'demo',
    options: { seed: 7, duration: 1, json: false },
    machine: { node: 'v20.0.0', cpus: 4, hostCores: 2, hostCpuModel: 'cpu', platform: 'linux', arch: 'x64' },
    jobs: [
      {
        jobname: 'bufcache:caller',
        workers: 2,
        read: dirStats([{ ops: 1000, bytes: 1000 * 4096, hist: h.toJSON() }], 1000),
        write: dirStats([{ ops: 0, bytes: 0, hist: empty }], 1000),
        hits: { bufcache: hitStats(900, 100) },
      },
    ],
    locks: [{ className: 'bufqspin', kind: 'spin', locks: 4, acquisitions: 2000, contended: 1000, spins: 5000, sleeps: 0, waitUsTotal: 3000, waitUsMax: 250 }],
    sleeps: [{ wmesg: 'biord', sleeps: 10, wakeups: 9, timeouts: 1, totalUs: 20_000, maxUs: 5000 }],
    devices: [],
    uvmexp: { swpgonly: 12, nswget: 3 },
    timeline: { binMs: 100, rampMs: 0, roles: [] },
    checks: [{ name: 'oracle: no stale read', ok: true }],
  };
}

describe('report: the human report', () => {
  it('prints fio-style job lines with human units and the percentiles', () => {
    const text = formatRunReport(report());
    const lines = text.split('\n');
    expect(lines[0]).to.equal('kiolab bench demo — kiolab-9.9.9, node v20.0.0, 4 cpus on 2 host cores, 2026-01-01T00:00:00.000Z');
    expect(lines).to.include('options: seed=7 duration=1');
    expect(lines).to.include('bufcache:caller: (2 workers)');
    expect(lines).to.include('  read: IOPS=1000, BW=3.91MiB/s (4.10MB/s)(3.91MiB/1000msec); 1,000 ios');
    const clat = lines.find((l) => l.startsWith('    clat (usec):'))!;
    expect(clat).to.match(/^ {4}clat \(usec\): min=1, max=1000, avg=500\.50, stdev=288\.67, N=1,000$/);
    const pct = lines.find((l) => l.startsWith('     percentiles (usec):'))!;
    expect(pct).to.match(/p50=(49\d|50\d), p90=(89\d|90\d), p99=(98\d|99\d), p99\.9=(99\d|100\d)$/);
    expect(text).not.to.match(/^ {2}write:/m); // no write I/O: no write block
    expect(lines).to.include('  bufcache: hit ratio 90.0% (900 hits, 100 misses)');
  });

  it('prints the lock table, the sleep table, counters and checks', () => {
    const lines = formatRunReport(report()).split('\n');
    const head = lines.findIndex((l) => l.startsWith('locks (per class'));
    expect(lines[head + 1]).to.match(/^ {2}class\s+kind\s+locks\s+acquisitions\s+contended\s+spins\s+sleeps\s+mean wait\s+max wait$/);
    expect(lines[head + 2].trim().split(/\s{2,}/)).to.deep.equal(['bufqspin', 'spin', '4', '2,000', '50.00%', '5,000', '0', '3.00us', '250us']);
    const sh = lines.findIndex((l) => l.startsWith('sleeps (per wmesg)'));
    expect(lines[sh + 2].trim().split(/\s{2,}/)).to.deep.equal(['biord', '10', '9', '1', '20.0ms', '5.00ms', '2.00ms']);
    expect(lines).to.include('uvmexp:');
    expect(lines).to.include('  swpgonly = 12 pages');
    expect(lines).to.include('  ok     oracle: no stale read');
  });

  it('shows fairness across workers and a throughput sparkline', () => {
    const r = report();
    r.jobs[0].worker_ios = [400, 600];
    r.timeline = { binMs: 100, rampMs: 0, roles: [{ role: 'bufcache:caller', iops: [0, 500, 1000, 1000], read_iops: [], write_iops: [], bw_bytes: [] }] };
    const lines = formatRunReport(r).split('\n');
    expect(lines).to.include('  per worker: ios min=400, max=600 (min/max 0.67)');
    expect(lines).to.include('throughput over time (one mark per 100 ms):');
    expect(lines).to.include('  bufcache:caller  ▁▅██  peak 1000 IOPS');
    expect(contendedPct(2, 622_080)).to.equal('0.00032%');
    expect(contendedPct(1, 4)).to.equal('25.00%');
  });

  it('human units', () => {
    expect(humanCount(999)).to.equal('999');
    expect(humanCount(123_456)).to.equal('123k');
    expect(humanCount(1_500_000)).to.equal('1.50M');
    expect(humanBytes(512)).to.equal('512B');
    expect(humanBytes(1536)).to.equal('1.50KiB');
    expect(humanBytes(5 * 1024 ** 3)).to.equal('5.00GiB');
    expect(latencyUnit(500).name).to.equal('nsec');
    expect(latencyUnit(50_000).name).to.equal('usec');
    expect(latencyUnit(50_000_000).name).to.equal('msec');
  });
});
