/**
 * The buffer cache against its seed (DragonFly's vfs_bio.c), point by point: each test pins one
 * behaviour of the seed that kiolab used to do otherwise (issue 18).
 */
import './seed-fixture.js';
import { expect } from 'chai';
import { BufCache } from '../../src/bufcache/core.js';
import { buf_daemon_hw_limit, buf_daemon_limit } from '../../src/bufcache/daemon.js';
import { bd_heatup, buf_dirty_count_severe } from '../../src/bufcache/space.js';
import { resolveBufCache } from '../../src/bufcache/tunables.js';
import { sleepTable } from '../../src/sync/snapshot.js';
import { MachineError } from '../../src/engine/machine.js';
import { runMachine } from '../../src/report/run-machine.js';
import { SwitchFault, stoppedRunReport } from '../../src/report/run-report.js';
import { bufMachine } from './helpers.js';

describe('bufcache: the seed by default (vfs_bio.c)', () => {
  it('nbuf / 2 is an integer division, as in C: with nbuf 17, 8 dirty buffers are half', () => {
    const m = bufMachine(2, { nbuf: 17, files: 1, fileBlocks: 64, bsize: 4096 });
    const bc = BufCache.of(m.sync);
    const G = bc.G;
    G.store(bc.g, 'dirtybufcount', 8);
    const huge = 2 ** 30; // the space test alone never fires
    expect(buf_daemon_limit(bc, huge)).to.equal(true); // 8 - 0 >= 17 / 2 = 8
    G.store(bc.g, 'dirtybufcounthw', 8);
    expect(buf_daemon_hw_limit(bc, huge)).to.equal(true);
    G.store(bc.g, 'dirtybufcounthw', 0);
    expect(buf_dirty_count_severe(bc)).to.equal(true);
    // bd_heatup → bd_speedup: the count alone reaches the mark and kicks buf_daemon.
    G.store(bc.g, 'lodirtybufspace', huge);
    G.store(bc.g, 'hidirtybufspace', huge);
    bd_heatup(bc);
    expect(G.load(bc.g, 'bd_request')).to.equal(1);
    G.store(bc.g, 'dirtybufcount', 7);
    expect(buf_daemon_limit(bc, huge)).to.equal(false);
  });

  it('sleeps are in ticks of a configurable hz (default 100); hzMs is the one time scale', () => {
    expect(resolveBufCache({ nbuf: 16 }, 512, 4096).hz).to.equal(100);
    expect(() => resolveBufCache({ nbuf: 16, hz: 60 }, 512, 4096)).to.throw(/hz must be an integer in \[100, 10000\]/);
    const m = bufMachine(2, { nbuf: 16, files: 1, fileBlocks: 64, bsize: 4096, hz: 1000, hzMs: 500 });
    const bc = BufCache.of(m.sync);
    expect(bc.ticks(bc.hz)).to.equal(500); // hz ticks: one (scaled) second
    expect(bc.ticks(1)).to.equal(0.5);
  });

  it('an idle daemon sleeps in psleep for hz ticks, as the seed (no 100 ms cap, no polling)', async () => {
    const m = bufMachine(4, { nbuf: 32, files: 1, fileBlocks: 64, bsize: 4096, hzMs: 2000 });
    await m.run(
      [
        { role: 'device:worker', args: { unit: 0 }, daemon: true, io: true },
        { role: 'bufcache:buf_daemon', daemon: true },
        { role: 'bufcache:buf_daemon_hw', daemon: true },
        { role: 'buftest:idle', args: { ms: 4000 } },
      ],
      { timeoutMs: 60_000 },
    );
    const psleep = sleepTable(m.sync).find((r) => r.wmesg === 'psleep')!;
    expect(psleep.maxUs).to.be.greaterThan(1_500_000); // a whole hz (2 s here) asleep
    expect(psleep.timeouts).to.be.at.most(4); // each daemon timed out at most twice in 4 s
    expect(sleepTable(m.sync).map((r) => r.wmesg)).to.not.include('bdquiet');
  });

  it('flushbufqueues writes through cluster_awrite: a dirty buffer and the dirty ones after it in its file go in one flush', async () => {
    const m = bufMachine(3, { nbuf: 32, files: 1, fileBlocks: 64, bsize: 4096 });
    const res = await m.run([{ role: 'device:worker', args: { unit: 0 }, daemon: true, io: true }, { role: 'buftest:flush-run', args: { n: 6 } }], { timeoutMs: 60_000 });
    expect(res.find((r) => r.role === 'buftest:flush-run')!.value).to.deep.equal({ dirty: 6, ops: 1, after: 0 });
  });

  it('a contract broken with bug switches on ends the bench as a failed check (exit 1), not an internal error', async () => {
    const on = bufMachine(2, { nbuf: 16, files: 1, fileBlocks: 64, bsize: 4096 });
    on.spec.bugs = ['vfs-flush-no-marker'];
    const err = await runMachine(on, [{ role: 'buftest:contract' }]).then(() => null, (e: unknown) => e);
    expect(err).to.be.instanceOf(SwitchFault);
    const report = stoppedRunReport('bufcache', undefined, err as SwitchFault);
    expect(report.checks).to.deep.equal([{ name: "the run ended without breaking a contract (the switches on are the seed's own bugs)", ok: false, detail: (err as Error).message }]);
    expect(report.switches).to.deep.equal(['vfs-flush-no-marker']);
    const off = bufMachine(2, { nbuf: 16, files: 1, fileBlocks: 64, bsize: 4096 });
    expect(await runMachine(off, [{ role: 'buftest:contract' }]).then(() => null, (e: unknown) => e)).to.be.instanceOf(MachineError); // no switch on: kiolab's own bug
  });
});
