import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { BC_FLAG_HTRUNCATED, BC_HE_HIT, BC_HE_MISS, BC_HE_TAG, BC_HE_WRITE, CE_ABORTED, CE_IODONE } from '../../src/bootcache/defs.js';
import { BootCache } from '../../src/bootcache/cache.js';
import { Machine } from '../../src/engine/machine.js';
import { runBench } from '../../src/cli/bench.js';
import type { RunReport } from '../../src/report/run-report.js';
import '../../src/cli/all.js';
import { BS, KB, R, T, W, caller, callers, disk, makeMachine, playlist, reader } from './helpers.js';

describe('bootcache: reads, writes and history', () => {
  it('serves reads inside extents from the cache, misses the rest, and records both in order', async () => {
    const { m, ctl } = makeMachine({ ncpu: 3 });
    const pl = playlist([[0, 16 * KB, 0], [64 * KB, 16 * KB, 1], [128 * KB, 8 * KB, 0]]);
    await ctl.start(pl);
    const reqs = [T(7), R(0, 4 * KB), R(4 * KB, 12 * KB), R(64 * KB, 16 * KB), R(200 * KB, 4 * KB), R(128 * KB, 8 * KB), R(0, 4 * KB)];
    const res = await m.run([reader, disk, caller(reqs, { warm: true })], { timeoutMs: 20_000 });
    const [c] = callers(res);
    expect(c.mismatches).to.deep.equal([]);
    expect(c.errors).to.equal(0);
    const st = await ctl.stats();
    expect(st.ss_extent_lookups).to.equal(6);
    expect(st.ss_extent_hits).to.equal(5); // R(200K) is outside every extent
    expect(st.ss_hit_blocks).to.equal((4 + 12 + 16 + 8) * 2); // the last R(0, 4K) finds its blocks gone
    expect(st.ss_hit_blkmissing).to.equal(1);
    expect(st.ss_read_blocks).to.equal(40 * 2);
    expect(st.ss_total_extents).to.equal(3);
    expect(st.ss_strategy_bypassed).to.equal(2);
    const stop = await ctl.stop();
    expect(stop.entries).to.equal(7);
    expect(stop.bc_length).to.equal(7 * 24);
    const h = await ctl.history();
    expect(h.map((e) => [e.he_flags, e.he_offset, e.he_length])).to.deep.equal([
      [BC_HE_TAG, 7, 0],
      [BC_HE_HIT, 0, 4 * KB],
      [BC_HE_HIT, 4 * KB, 12 * KB],
      [BC_HE_HIT, 64 * KB, 16 * KB],
      [BC_HE_MISS, 200 * KB, 4 * KB],
      [BC_HE_HIT, 128 * KB, 8 * KB],
      [BC_HE_MISS, 0, 4 * KB],
    ]);
    // Pages whose every block was consumed were freed.
    expect(ctl.bc.pages_freed()).to.equal(10);
  });

  it('a write discards the cached blocks it covers, in its extent and in every intersecting neighbour', async () => {
    const { m, ctl } = makeMachine({ ncpu: 3 });
    // Three adjacent extents; the middle one is consumed first, so a write spanning all three
    // discards nothing there and must still reach the third (bc-write-discard-early-break).
    await ctl.start(playlist([[0, 8 * KB, 0], [8 * KB, 8 * KB, 0], [16 * KB, 8 * KB, 0]]));
    const reqs = [R(8 * KB, 8 * KB), W(4 * KB, 16 * KB), R(0, 4 * KB), R(4 * KB, 4 * KB), R(16 * KB, 4 * KB), R(20 * KB, 4 * KB)];
    const res = await m.run([reader, disk, caller(reqs, { warm: true })], { timeoutMs: 20_000 });
    const [c] = callers(res);
    expect(c.mismatches).to.deep.equal([]);
    const st = await ctl.stats();
    expect(st.ss_write_discards).to.equal(8 + 8); // 4K of extent 0 and 4K of extent 2; extent 1 was empty
    expect(st.ss_strategy_nonread).to.equal(1);
    expect(st.ss_hit_blkmissing).to.equal(2); // R(4K,4K) and R(16K,4K) were written
    expect(st.ss_hit_blocks).to.equal(16 + 8 + 8);
    await ctl.stop();
    const h = await ctl.history();
    expect(h.map((e) => e.he_flags)).to.deep.equal([BC_HE_HIT, BC_HE_WRITE, BC_HE_HIT, BC_HE_MISS, BC_HE_MISS, BC_HE_HIT]);
  });

  it('a read error discards the blocks of the failed chunk and counts them; the rest is served', async () => {
    // Block 40 is bad: the 64K extent at 0 is read in 16K chunks (maxRead), the chunk [32..64) fails.
    const { m, ctl } = makeMachine({ ncpu: 3, bootcache: { maxRead: 16 * KB }, device: { faults: { bad: [[40, 40]] } } });
    await ctl.start(playlist([[0, 64 * KB, 0]]));
    const res = await m.run([reader, disk, caller([R(0, 16 * KB), R(16 * KB, 16 * KB), R(32 * KB, 16 * KB)], { warm: true })], { timeoutMs: 20_000 });
    const [c] = callers(res);
    expect(c.mismatches).to.deep.equal([]);
    expect(c.errors).to.equal(1); // the bypassed read of the bad block fails on the device too
    const st = await ctl.stats();
    expect(st.ss_initiated_reads).to.equal(4);
    expect(st.ss_read_errors).to.equal(1);
    expect(st.ss_error_discards).to.equal(32);
    expect(st.ss_hit_blocks).to.equal(64);
    expect(st.ss_hit_blkmissing).to.equal(1);
    await ctl.stop();
  });

  it('a caller waits for its extent, in slices, and is woken when the reader marks it CE_IODONE', async () => {
    const { m, ctl } = makeMachine({ ncpu: 3, device: { latency: { baseUs: 100_000 } } });
    // Batch 1 extents are read after all of batch 0; the caller asks for the last one at once.
    await ctl.start(playlist([[0, 8 * KB, 0], [16 * KB, 8 * KB, 0], [32 * KB, 8 * KB, 1]]));
    const res = await m.run([reader, disk, caller([R(32 * KB, 8 * KB)])], { timeoutMs: 20_000 });
    const [c] = callers(res);
    expect(c.mismatches).to.deep.equal([]);
    const st = await ctl.stats();
    expect(st.ss_strategy_blocked).to.equal(1);
    expect(st.ss_extent_hits).to.equal(1);
    expect(st.ss_hit_blocks).to.equal(16);
    // The seed's timeval: the caller slept for the 100 ms reads of batch 0 at least.
    expect(st.ss_wait_time.tv_sec * 1e6 + st.ss_wait_time.tv_usec).to.be.greaterThan(50_000);
    expect(st.ss_wait_time.tv_usec).to.be.within(0, 999_999);
    ctl.bc.sync_extents();
    expect(ctl.bc.ceFlags(2) & CE_IODONE).to.equal(CE_IODONE);
    await ctl.stop();
    expect(ctl.bc.ceFlags(2) & CE_ABORTED).to.equal(CE_ABORTED); // BC_terminate_cache aborts every extent
  });

  it('gives up waiting after BC_wait_for_readahead and bypasses (no reader running)', async () => {
    const { m, ctl } = makeMachine({ ncpu: 2, bootcache: { waitForReadaheadMs: 100, strategySliceMs: 20 } });
    await ctl.start(playlist([[0, 8 * KB, 0]]));
    const res = await m.run([disk, caller([R(0, 4 * KB)])], { timeoutMs: 20_000 });
    const [c] = callers(res);
    expect(c.mismatches).to.deep.equal([]);
    expect(c.errors).to.equal(0);
    const st = await ctl.stats();
    expect(st.ss_strategy_blocked).to.equal(1);
    expect(st.ss_hit_blocks).to.equal(0);
    expect(st.ss_strategy_bypassed).to.equal(1);
    // IOBUSY is still set (the reader never ran): STOP cannot stop readahead and reports EBUSY.
    const stop = await stopShort(ctl);
    expect(stop.errors.readahead).to.equal(16);
    expect(stop.errors.cache).to.equal(16);
  });
});

async function stopShort(ctl: Awaited<ReturnType<typeof makeMachine>>['ctl']) {
  ctl.bc.C.store(ctl.bc.c, 't_terminate_ms', 50);
  return ctl.stop();
}
void BS;

describe('bootcache: hit-rate cutoff and the funnel', () => {
  for (const locking of ['fine', 'funnel'] as const) {
    it(`a poor hit rate after readahead terminates readahead and cache inline, at the lookup past the threshold, as the seed; history keeps recording (${locking})`, async () => {
      const { m, ctl } = makeMachine({ ncpu: 3, bootcache: { chitCheckStart: 10, chitLowLevel: 50, locking } });
      await ctl.start(playlist([[0, 4 * KB, 0]]));
      const misses = Array.from({ length: 20 }, (_, i) => R(64 * KB + i * 4 * KB, 4 * KB));
      const res = await m.run([reader, disk, caller([R(0, 4 * KB), ...misses], { warm: true })], { timeoutMs: 20_000 });
      expect(callers(res)[0].mismatches).to.deep.equal([]);
      // The 11th lookup (> 10 lookups, 1 hit) misses; its bypass terminates the cache before the
      // request goes on, so no later request runs against the cache: exactly 11 lookups.
      const st = await ctl.stats();
      expect(st.ss_extent_lookups).to.equal(11);
      expect(st.ss_extent_hits).to.equal(1);
      expect(st.ss_strategy_calls).to.equal(11);
      expect(st.ss_cache_flags & 2).to.equal(0); // CACHEACTIVE gone
      expect(ctl.bc.C.load(ctl.bc.c, 'c_extent_count')).to.equal(0); // and its extents freed
      const stop = await ctl.stop();
      expect(stop.errors.cache).to.equal(6); // ENXIO: it had already terminated itself
      const h = await ctl.history();
      expect(h).to.have.length(21);
      expect(h.slice(1).every((e) => e.he_flags === BC_HE_MISS)).to.equal(true);
    });
  }

  it('funnel mode gives the same results as fine mode on the same boot (single caller, warm)', async () => {
    const out: unknown[] = [];
    for (const locking of ['fine', 'funnel'] as const) {
      const { m, ctl } = makeMachine({ ncpu: 3, bootcache: { locking } });
      await ctl.start(playlist([[0, 16 * KB, 0], [32 * KB, 16 * KB, 1], [96 * KB, 8 * KB, 2]]));
      const reqs = [R(0, 8 * KB), W(36 * KB, 4 * KB), R(32 * KB, 4 * KB), R(40 * KB, 8 * KB), R(96 * KB, 8 * KB), R(8 * KB, 8 * KB), R(300 * KB, 4 * KB)];
      const res = await m.run([reader, disk, caller(reqs, { warm: true })], { timeoutMs: 20_000 });
      expect(callers(res)[0].mismatches).to.deep.equal([]);
      const st = await ctl.stats();
      await ctl.stop();
      const h = await ctl.history();
      const { ss_batch_time, ss_wait_time, ss_cache_stop, ss_cache_flags, ...counts } = st;
      void ss_batch_time, ss_wait_time, ss_cache_stop, ss_cache_flags;
      out.push({ counts, h });
    }
    expect(out[1]).to.deep.equal(out[0]);
  });
});

describe('bootcache: the history the arena reserves (historyReserveEntries)', () => {
  const machine = (bootcache: Record<string, number>) => new Machine({ ncpu: 1, devices: [{ name: 'disk0', blocks: 2048 }], bootcache: { maxExtents: 4, bufferBytes: 64 * 1024, historyClusterEntries: 4, ...bootcache } });

  it('reserves enough clusters for the entries it is told of, plus one, and names the overrun as a kiolab bug', () => {
    const m = machine({ historyMaxClusters: 100, historyReserveEntries: 10 });
    const bc = BootCache.of(m.sync);
    expect(bc.hc_reserved).to.equal(4); // ceil(10 / 4) + 1
    for (let k = 0; k < 16; k++) bc.BC_add_history(k * 512, 0, BC_HE_TAG);
    expect(() => bc.BC_add_history(16 * 512, 0, BC_HE_TAG)).to.throw(/cluster 5 is past the 4 the arena reserved/);
    expect(bc.S.load(bc.st, 'ss_history_clusters'), 'the failed allocation is not counted').to.equal(4);
  });

  it("by default reserves all the seed could allocate, and stops as the seed does (HTRUNCATED at BC_HISTORY_MAXCLUSTERS)", () => {
    const m = machine({ historyMaxClusters: 3 });
    const bc = BootCache.of(m.sync);
    expect(bc.hc_reserved).to.equal(2);
    for (let k = 0; k < 20; k++) bc.BC_add_history(k * 512, 0, BC_HE_TAG);
    expect(bc.cflags() & BC_FLAG_HTRUNCATED).to.not.equal(0);
    expect(bc.S.load(bc.st, 'ss_history_clusters')).to.equal(2);
  });

  it('bench bootcache reserves one entry a request of its boot: metadata under 5% of the page memory', async () => {
    const { report } = await runBench<RunReport>('bootcache', { ops: 64, locking: 'fine' });
    const a = report.machine.arena!;
    expect(a.metadataShare).to.be.below(0.05);
  });
});
