import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { BC_MAGIC, BC_OP_HISTORY, BC_OP_START, BC_OP_STATS, BC_OP_STOP, BC_OP_TAG, BC_FLAG_CACHEACTIVE, BC_FLAG_IOBUSY, BC_HE_MISS, BC_HE_TAG, CE_ABORTED } from '../../src/bootcache/defs.js';
import { KernelError } from '../../src/sync/errno.js';
import { deviceStats } from '../../src/device/disk.js';
import { KB, R, caller, callers, disk, makeMachine, playlist, reader, untilAsleep } from './helpers.js';

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(KernelError);
    return (e as KernelError).code;
  }
  return 'OK';
}

describe('bootcache: commands, termination and shutdown', () => {
  it('BC_sysctl: bad magic and opcode are EINVAL; START twice is EBUSY; HISTORY before STOP is EBUSY; TAG and STATS work', async () => {
    const { ctl } = makeMachine({ ncpu: 2 });
    expect(await code(ctl.sysctl({ bc_magic: 1, bc_opcode: BC_OP_STATS }))).to.equal('EINVAL');
    expect(await code(ctl.sysctl({ bc_magic: BC_MAGIC, bc_opcode: 99 }))).to.equal('EINVAL');
    await ctl.sysctl({ bc_magic: BC_MAGIC, bc_opcode: BC_OP_START, bc_data: null }); // no playlist: recording only
    expect(await code(ctl.sysctl({ bc_magic: BC_MAGIC, bc_opcode: BC_OP_START, bc_data: null }))).to.equal('EBUSY');
    await ctl.sysctl({ bc_magic: BC_MAGIC, bc_opcode: BC_OP_TAG, bc_param: 42 });
    expect(await code(ctl.sysctl({ bc_magic: BC_MAGIC, bc_opcode: BC_OP_HISTORY }))).to.equal('EBUSY');
    const st = (await ctl.sysctl({ bc_magic: BC_MAGIC, bc_opcode: BC_OP_STATS })) as Record<string, number>;
    for (const k of ['ss_blocksize', 'ss_initiated_reads', 'ss_read_blocks', 'ss_read_errors', 'ss_error_discards', 'ss_batch_size', 'ss_batch_time', 'ss_cache_stop', 'ss_wait_time', 'ss_strategy_calls', 'ss_strategy_nonread', 'ss_strategy_bypassed', 'ss_strategy_bypass_active', 'ss_strategy_blocked', 'ss_strategy_duringio', 'ss_extent_lookups', 'ss_extent_hits', 'ss_requested_blocks', 'ss_hit_blocks', 'ss_hit_blkmissing', 'ss_write_discards', 'ss_spurious_blocks', 'ss_total_extents', 'ss_history_clusters', 'ss_cache_flags']) {
      expect(st, k).to.have.property(k);
    }
    expect(st.ss_blocksize).to.equal(512);
    expect(st.ss_cache_flags & BC_FLAG_CACHEACTIVE).to.equal(BC_FLAG_CACHEACTIVE);
    const stop = (await ctl.sysctl({ bc_magic: BC_MAGIC, bc_opcode: BC_OP_STOP })) as { entries: number; errors: Record<string, number> };
    expect(stop.entries).to.equal(1);
    expect(stop.errors).to.deep.equal({ readahead: 0, cache: 0, history: 0 }); // cache: ENXIO? no: active with no extents
    expect(await code(ctl.sysctl({ bc_magic: BC_MAGIC, bc_opcode: BC_OP_STATS, bc_length: 3 }))).to.equal('ENOMEM');
    expect(await code(ctl.sysctl({ bc_magic: BC_MAGIC, bc_opcode: BC_OP_HISTORY, bc_length: 23 }))).to.equal('ENOMEM');
    const h = (await ctl.sysctl({ bc_magic: BC_MAGIC, bc_opcode: BC_OP_HISTORY, bc_length: 24 })) as { he_flags: number; he_offset: number }[];
    expect(h).to.deep.equal([{ he_offset: 42, he_length: 0, he_flags: BC_HE_TAG }]);
    // After HISTORY every flag is clear: the cache can start again; STOP of a stopped cache is fine.
    await ctl.start(null);
    await ctl.stop();
    const again = await ctl.stop();
    expect(again.errors.cache).to.equal(6); // ENXIO: not active
    ctl.untimeout();
  });

  it('START refuses too little memory (ENOMEM), a playlist block size below the device\'s (EINVAL), a playlist larger than the arena (ENOMEM)', async () => {
    const a = makeMachine({ ncpu: 2, bootcache: { memSizeMB: 128, minimumMemMB: 256 } });
    expect(await code(a.ctl.start(playlist([[0, 4 * KB, 0]])))).to.equal('ENOMEM');
    const b = makeMachine({ ncpu: 2, device: { blockSize: 4096 } });
    expect(await code(b.ctl.start(playlist([[0, 8 * KB, 0]], 512)))).to.equal('EINVAL');
    const c = makeMachine({ ncpu: 2, bootcache: { bufferBytes: 128 * KB } });
    expect(await code(c.ctl.start(playlist([[0, 1024 * KB, 0]])))).to.equal('ENOMEM');
    const d = makeMachine({ ncpu: 2, bootcache: { maxExtents: 2 } });
    expect(await code(d.ctl.start(playlist([[0, 4 * KB, 0], [8 * KB, 4 * KB, 0], [16 * KB, 4 * KB, 0]])))).to.equal('ENOMEM');
  });

  it('record-only mode, as the seed: the extents stay with empty blockmaps, the reader runs through them, lookups find them and miss their blocks', async () => {
    // memSizeMB 1: half is 512 KiB; the playlist wants 1 MiB (two extents, batches 0 and 1).
    const { m, ctl } = makeMachine({ ncpu: 3, bootcache: { memSizeMB: 1, minimumMemMB: 0 } });
    const r = await ctl.start(playlist([[0, 512 * KB, 0], [512 * KB, 512 * KB, 1]]));
    expect(r).to.deep.equal({ extents: 2, recordOnly: true });
    expect(ctl.bc.cflags() & BC_FLAG_IOBUSY).to.equal(BC_FLAG_IOBUSY); // the reader is started
    const res = await m.run([reader, disk, caller([R(0, 4 * KB), R(520 * KB, 4 * KB)], { warm: true })], { timeoutMs: 20_000 });
    expect(callers(res)[0].mismatches).to.deep.equal([]);
    const st = await ctl.stats();
    expect(st.ss_total_extents).to.equal(2);
    expect(st.ss_initiated_reads).to.equal(0); // nothing present to read
    expect(st.ss_read_blocks).to.equal(2048); // but every extent counted as read
    expect(st.ss_batch_size.slice(0, 3)).to.deep.equal([1024, 1024, 0]);
    expect(st.ss_extent_lookups).to.equal(2);
    expect(st.ss_extent_hits).to.equal(2);
    expect(st.ss_hit_blkmissing).to.equal(2);
    expect(st.ss_hit_blocks).to.equal(0);
    expect(st.ss_strategy_bypassed).to.equal(2);
    await ctl.stop();
    expect((await ctl.history()).map((e) => e.he_flags)).to.deep.equal([BC_HE_MISS, BC_HE_MISS]);
  });

  it('history is bounded as the seed: HTRUNCATED when the count of clusters reaches the limit (>=), and STOP reports 0 bytes', async () => {
    const { m, ctl } = makeMachine({ ncpu: 2, bootcache: { historyClusterEntries: 4, historyMaxClusters: 3 } });
    await ctl.start(null);
    const reqs = Array.from({ length: 20 }, (_, i) => R(i * 4 * KB, 4 * KB));
    await m.run([disk, caller(reqs)], { timeoutMs: 20_000 });
    const st = await ctl.stats();
    expect(st.ss_history_clusters).to.equal(2); // the third cluster would reach the limit of 3
    const stop = await ctl.stop();
    expect(stop.bc_length).to.equal(0);
    const h = await ctl.history();
    expect(h.map((e) => e.he_offset)).to.deep.equal(reqs.slice(0, 8).map((q) => q.offset)); // in order across clusters
  });

  it('history stops growing past half of the configured memory (bytes bound)', async () => {
    const { m, ctl } = makeMachine({ ncpu: 2, bootcache: { memSizeMB: 1, minimumMemMB: 0 } }); // bound: 512 KiB
    await ctl.start(null);
    const reqs = Array.from({ length: 12 }, (_, i) => R(i * 64 * KB, 64 * KB));
    await m.run([disk, caller(reqs)], { timeoutMs: 20_000 });
    await ctl.stop();
    expect((await ctl.history()).length).to.equal(8);
  });

  for (const locking of ['fine', 'funnel'] as const) {
    it(`STOP with callers asleep on unread extents (${locking}): readahead bails out, aborts the rest and wakes them; they bypass`, async () => {
      // A slow disk: 4 extents of batch 0 take ~4 × 250 ms; callers wait on the later batch-1 extents.
      const { m, ctl } = makeMachine({ ncpu: 5, bootcache: { locking }, device: { latency: { baseUs: 250_000 } } });
      await ctl.start(playlist([[0, 4 * KB, 0], [8 * KB, 4 * KB, 0], [16 * KB, 4 * KB, 0], [24 * KB, 4 * KB, 0], [64 * KB, 8 * KB, 1], [96 * KB, 8 * KB, 1]]));
      const run = m.run([reader, disk, caller([R(64 * KB, 4 * KB)]), caller([R(96 * KB, 8 * KB)])], { timeoutMs: 30_000 });
      await untilAsleep(m, 'BC_strategy', 2);
      const stop = await ctl.stop();
      expect(stop.errors).to.deep.equal({ readahead: 0, cache: 0, history: 0 });
      const res = await run;
      for (const c of callers(res)) {
        expect(c.mismatches).to.deep.equal([]);
        expect(c.errors).to.equal(0);
      }
      const st = await ctl.stats();
      expect(st.ss_strategy_blocked).to.equal(2);
      expect(st.ss_hit_blocks).to.equal(0);
      expect(st.ss_strategy_bypassed).to.be.at.least(0);
      expect(ctl.bc.C.load(ctl.bc.c, 'c_strategycalls')).to.equal(0);
      expect(ctl.bc.cflags() & (BC_FLAG_IOBUSY | BC_FLAG_CACHEACTIVE)).to.equal(0);
      ctl.bc.sync_extents();
      expect(ctl.bc.n).to.equal(0); // extents freed
      const h = await ctl.history();
      expect(h.map((e) => e.he_flags)).to.deep.equal([BC_HE_MISS, BC_HE_MISS]);
    });
  }

  it('the cache timeout terminates readahead, cache and history on its own', async () => {
    const { m, ctl } = makeMachine({ ncpu: 3, bootcache: { cacheTimeoutMs: 400 }, device: { latency: { baseUs: 300_000 } } });
    await ctl.start(playlist([[0, 4 * KB, 0], [8 * KB, 4 * KB, 0], [16 * KB, 4 * KB, 0], [24 * KB, 4 * KB, 0], [32 * KB, 4 * KB, 0]]));
    const res = await m.run([reader, disk, caller([R(32 * KB, 4 * KB)])], { timeoutMs: 30_000 });
    expect(callers(res)[0].mismatches).to.deep.equal([]);
    const t0 = Date.now();
    while (ctl.bc.cflags() & BC_FLAG_CACHEACTIVE && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
    await ctl.mutex.waitForUnlock();
    expect(ctl.bc.cflags() & (BC_FLAG_CACHEACTIVE | BC_FLAG_IOBUSY)).to.equal(0);
    const st = await ctl.stats();
    expect(st.ss_cache_stop.tv_sec * 1e6 + st.ss_cache_stop.tv_usec).to.be.greaterThan(0);
    expect(deviceStats(m.arena, m.sync, m.spec)[0].strategy).to.equal('disk_strategy'); // strategy given back
    await ctl.stop();
    // Usually the caller was asleep on the unread extent when the timeout fired: woken, it bypassed
    // and its miss was recorded. On a slow start the timeout comes first and the read never sees BootCache.
    const h = await ctl.history();
    if (st.ss_strategy_blocked) expect(h.map((e) => e.he_flags)).to.deep.equal([BC_HE_MISS]);
    else expect(h.filter((e) => e.he_flags !== BC_HE_MISS)).to.deep.equal([]);
    expect(st.ss_hit_blocks).to.equal(0);
  });
});

describe('bootcache: the drains time out with EBUSY', () => {
  it('BC_terminate_cache gives up with EBUSY while a caller stays in BC_strategy, and marks the cache active again; BC_terminate_history likewise for bypasses', async () => {
    const { ctl } = makeMachine({ ncpu: 2, bootcache: { drainSliceMs: 5, drainRetries: 4 } });
    await ctl.start(null);
    const { C, c } = ctl.bc;
    C.add(c, 'c_strategycalls', 1); // a wedged caller
    C.add(c, 'c_bypasscalls', 1);
    const first = await ctl.stop();
    expect(first.errors).to.deep.equal({ readahead: 0, cache: 16, history: 16 });
    expect(ctl.bc.cflags() & BC_FLAG_CACHEACTIVE).to.equal(BC_FLAG_CACHEACTIVE);
    C.sub(c, 'c_strategycalls', 1);
    C.sub(c, 'c_bypasscalls', 1);
    const second = await ctl.stop();
    expect(second.errors).to.deep.equal({ readahead: 0, cache: 0, history: 0 });
    expect(await ctl.history()).to.deep.equal([]);
  });
});

describe('bootcache: the covered device only', () => {
  it('covers the device named in the spec; I/O to another device never enters BootCache', async () => {
    const { Machine } = await import('../../src/engine/machine.js');
    const { BootCacheControl } = await import('../../src/bootcache/control.js');
    const { deviceStats } = await import('../../src/device/disk.js');
    const { FAST } = await import('./helpers.js');
    const m = new Machine({ ncpu: 5, devices: [{ name: 'disk0', blocks: 1024 }, { name: 'disk1', blocks: 1024 }], bootcache: { ...FAST, device: 'disk1' } });
    const ctl = new BootCacheControl(m);
    await ctl.start(playlist([[0, 4 * KB, 0]]));
    const st0 = deviceStats(m.arena, m.sync, m.spec);
    expect(st0.map((d) => d.strategy)).to.deep.equal(['disk_strategy', 'bootcache']);
    await m.run(
      [reader, { role: 'device:worker', args: { unit: 1 }, daemon: true }, disk, caller([R(0, 4 * KB)], { unit: 0, warm: true }), caller([R(0, 4 * KB)], { unit: 1, warm: true })],
      { timeoutMs: 20_000 },
    );
    const st = await ctl.stats();
    expect(st.ss_strategy_calls).to.equal(1);
    expect(st.ss_hit_blocks).to.equal(8);
    await ctl.stop();
    expect(deviceStats(m.arena, m.sync, m.spec).map((d) => d.strategy)).to.deep.equal(['disk_strategy', 'disk_strategy']);
    expect(await ctl.history()).to.have.length(1);
  });
});
