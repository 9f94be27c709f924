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
import type { LoadResult } from '../../src/bufcache/load.js';
import { sysctlSnapshot } from '../../src/bufcache/sysctl.js';
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

  describe('the VM pages behind the buffers', () => {
    const run = async (role: string, vm: { vmPages?: number; vmFreeMin?: number } = {}) => {
      const m = bufMachine(3, { nbuf: 32, files: 1, fileBlocks: 64, bsize: 4096, ...vm });
      const res = await m.run([{ role: 'device:worker', args: { unit: 0 }, daemon: true, io: true }, { role }], { timeoutMs: 60_000 });
      return { value: res.find((r) => r.role === role)!.value as Record<string, unknown>, m };
    };

    it("a released buffer's pages stay in the VM object, valid: inmem sees them, getblk comes out valid with no device read, and B_NOCACHE destroys them", async () => {
      const { value } = await run('buftest:vm');
      expect(value).to.deep.equal({ inmemAfterRelease: true, cached: true, fromVm: true, sameData: true, deviceReads: 0, afterNocache: false });
    });

    it('with vmPages 0 (no VM) a released buffer loses its data, as kiolab did before', async () => {
      const { value } = await run('buftest:vm', { vmPages: 0 });
      expect(value).to.include({ inmemAfterRelease: false, cached: false, fromVm: false });
    });

    it('bqrelse frees a clean buffer at once when the VM is short of pages (vm_paging_min), instead of caching it', async () => {
      const { value } = await run('buftest:lowmem', { vmPages: 160, vmFreeMin: 160 });
      expect(value).to.deep.equal({ queue: 'EMPTY', bufsize: 0, lowmem: 1 });
      const normal = await run('buftest:lowmem');
      expect(normal.value).to.deep.equal({ queue: 'CLEAN', bufsize: 4096, lowmem: 0 });
    });

    it('the page count is a bound: a working set larger than the pages reclaims the oldest cached pages, and every page is wired, cached or free', async () => {
      // 256 blocks of 4 KiB over 160 pages: read and written at random by two callers, with the daemons.
      const m = bufMachine(6, { nbuf: 32, files: 2, fileBlocks: 128, bsize: 4096, vmPages: 160 });
      const res = await m.run(
        [
          { role: 'bufcache:load', args: { ops: 800, ncallers: 2, ndaemons: 2, pattern: 'random' }, count: 2 },
          { role: 'bufcache:buf_daemon', daemon: true },
          { role: 'bufcache:buf_daemon_hw', daemon: true },
          { role: 'device:worker', args: { unit: 0 }, daemon: true, io: true },
        ],
        { timeoutMs: 60_000 },
      );
      const loads = res.slice(0, 2).map((r) => r.value as LoadResult);
      const s = sysctlSnapshot(m.arena);
      expect(s['kiolab.vm.reclaims']).to.be.greaterThan(0);
      expect(s['vm.stats.vm.v_wire_count'] + s['vm.stats.vm.v_cache_count'] + s['vm.stats.vm.v_free_count']).to.equal(160);
      for (const l of loads) expect(l.mismatches).to.deep.equal([]); // every read returned the latest data
      expect(loads.find((l) => l.final)!.final!.lostWrites).to.deep.equal([]);
    });
  });
});
