import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { BufLayout, BufPcpuLayout } from '../../src/bufcache/layout.js';
import { BQUEUE_CLEAN, BQUEUE_EMPTY } from '../../src/bufcache/tunables.js';
import { resolveDevice } from '../../src/device/config.js';
import { Oracle } from '../../src/device/oracle.js';
import '../../src/cli/all.js';
import { bench } from '../../src/cli/bench.js';
import { LabLayout } from '../../workers/lab.js';
import { Machine } from '../../src/engine/machine.js';
import { MachineLayout, type MachineSpec } from '../../src/engine/spec.js';
import { runRace } from '../../src/race/runner.js';
import { startChecker } from '../../src/race/checker.js';

const until = async (cond: () => boolean, what: string, ms = 30_000): Promise<void> => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('race: the checker samples the subsystems while they run', () => {
  it('kiolab bench bufcache --check: a clean run samples and reports no violation', async () => {
    const err: string[] = [];
    const out: string[] = [];
    const code = await bench(['bufcache', '--check', '--callers', '2', '--ops', '400', '--nbuf', '64'], { out: (s) => out.push(s), err: (s) => err.push(s), isTTY: false });
    const text = err.join('');
    expect(code, text).to.equal(0);
    const m = /checker: (\d+) samples of bufcache over 1 machine\(s\): no violation/.exec(text);
    expect(m, text).to.not.equal(null);
    expect(Number(m![1])).to.be.at.least(1);
  });

  it('a queued buffer whose b_qindex is made wrong while the checker runs is reported, naming the buffer', async () => {
    const d = { name: 'md0', blocks: 1024, blockSize: 4096, oracle: true };
    const spec: MachineSpec = { ncpu: 1, lab: true, devices: [d], bufcache: { nbuf: 32, files: 2, fileBlocks: 32, bsize: 4096 } };
    const m = new Machine(spec);
    new Oracle(m.arena, 0, resolveDevice(d, 0)).format(m.arena.region('dev.0.store').offset);
    const h = startChecker(m.arena, m.spec, 5);
    // One cpu sleeps until the test wakes it: the machine runs, nothing touches the queues.
    const lab = m.arena.pool('lab', LabLayout).addr(0);
    const run = m.run([{ role: 'lab:tsleep-timeout', args: { ms: 60_000 } }], { timeoutMs: 90_000 });
    const M = m.arena.view(MachineLayout);
    const mc = m.arena.pool('machine', MachineLayout).addr(0);
    try {
      await until(() => M.load(mc, 'm_go') !== 0, 'the machine to start');
      // Under set 0's spinlock (as the queue code would), claim the first EMPTY buffer is on CLEAN.
      const P = m.arena.view(BufPcpuLayout);
      const B = m.arena.view(BufLayout);
      const pc = m.arena.pool('bufcache.pcpu', BufPcpuLayout).addr(0);
      const spin = P.addrOf(pc, 'spin');
      m.sync.spin_lock(spin);
      const bp = P.loadAt(pc, 'q_head', BQUEUE_EMPTY);
      B.store(bp, 'b_qindex', BQUEUE_CLEAN);
      m.sync.spin_unlock(spin);
      const n = B.load(bp, 'b_owner');
      await until(() => h.violations.length > 0, 'the checker to report');
      expect(h.violations[0].checker).to.equal('bufcache');
      expect(h.violations[0].message).to.contain(`buffer ${n} `).and.contain('is on queue EMPTY@0 but its b_qindex/b_qcpu say CLEAN@0');
    } finally {
      m.sync.wakeup(LabLayout.addrOf(lab, 'c_z'));
      await run;
      await h.stop();
    }
  });

  it('a stress race run gets a checker cpu; a clean one reports nothing', async () => {
    const r = await runRace({ scenario: 'getblk-recycle', bug: null, mode: 'stress', budgetMs: 1500 });
    expect(r.failure, r.failure?.message).to.equal(null);
    expect(r.checker?.checkers).to.deep.equal(['bufcache']);
    expect(r.checker!.samples).to.be.at.least(1);
  });
});
