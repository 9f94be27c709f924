/**
 * BootCache roles and the registration of its arena regions and strategy routine.
 *  bootcache:reader  the readahead thread's host (a daemon).
 *  bootcache:caller  a "process" issuing a request stream (reads, writes, tags) through the
 *                    device's strategy — BootCache when it covers the device — each write stamped
 *                    and each read checked by the device oracle; latencies in an OpRecorder.
 */
import { BootCache } from '../src/bootcache/cache.js';
import { BC_FLAG_IOBUSY, BC_HE_TAG, R_CALLERS, initBootCache, planBootCache, resolveBootCache } from '../src/bootcache/defs.js';
import { readerDaemon } from '../src/bootcache/reader.js';
import { BC_strategy } from '../src/bootcache/strategy.js';
import { Devices, registerStrategy } from '../src/device/disk.js';
import { setupRaw } from '../src/device/rawio.js';
import type { BCRequest } from '../src/bootcache/workload.js';
import { sleepUntil } from '../src/shm/view.js';
import { OpRecorder } from '../src/report/types.js';
import { PINTERLOCKED } from '../src/sync/sync.js';
import { registerRoles } from '../src/engine/roles.js';
import { type Kernel, registerInitializer, registerPlanner } from '../src/engine/spec.js';

registerPlanner('bootcache', (plan, spec) => planBootCache(plan, spec));
registerInitializer('bootcache', (arena, sync, spec) => initBootCache(arena, sync, spec));

// BC_strategy, installed in d_strategy by BC_init_cache; runs on whichever cpu issues the I/O.
registerStrategy('bootcache', (dev, unit, bio) => {
  const bc = BootCache.of(dev.sync);
  bc.dev ??= dev;
  BC_strategy(bc, dev, unit, bio);
});

export type { BCRequest };

export interface CallerResult {
  reads: number;
  writes: number;
  tags: number;
  errors: number;
  mismatches: string[];
  rec: ReturnType<OpRecorder['toJSON']>;
  /** When the first request was issued and the last completed (ms, wall clock). */
  t0: number;
  t1: number;
}

function attach(k: Kernel): { bc: BootCache; dev: Devices } {
  const dev = Devices.of(k.sync, k.spec);
  const bc = BootCache.of(k.sync);
  bc.dev ??= dev;
  return { bc, dev };
}

/** Sleep until readahead is done (IOBUSY clear) or the machine stops ("BC_warm", 50 ms slices). */
function waitReadahead(k: Kernel, bc: BootCache): void {
  const ident = bc.C.addrOf(bc.c, 'c_flags');
  while (bc.cflags() & BC_FLAG_IOBUSY && !k.shuttingDown()) {
    k.sync.tsleep_interlock(ident);
    if (!(bc.cflags() & BC_FLAG_IOBUSY)) k.sync.tsleep_remove();
    else k.sync.tsleep(ident, PINTERLOCKED, 'BC_warm', 50);
  }
}

registerRoles(import.meta.url, {
  'bootcache:reader': (k) => {
    const { bc, dev } = attach(k);
    return readerDaemon(bc, dev, () => k.shuttingDown());
  },

  /**
   * Issue `requests` in order on the covered device (args.unit overrides). `warm`: start only
   * once readahead is done. Returns counts, oracle mismatches (stale or corrupt hits) and latencies.
   */
  'bootcache:caller': (k, a: { requests: BCRequest[]; warm?: boolean; unit?: number; timeoutMs?: number; speed?: number }) => {
    const { bc, dev } = attach(k);
    if (!k.spec.bootcache) throw new Error('bootcache:caller: the machine spec has no "bootcache" part');
    const r = resolveBootCache(k.spec.bootcache);
    const unit = a.unit ?? (typeof r.device === 'string' ? dev.unit(r.device) : r.device);
    const bs = dev.conf[unit].blockSize;
    const oracle = dev.oracles[unit];
    const data = k.arena.region(R_CALLERS).offset + k.cpu * r.callerSliceBytes;
    if (a.warm) waitReadahead(k, bc);
    const rec = new OpRecorder();
    const wall = () => performance.timeOrigin + performance.now();
    const res: CallerResult = { reads: 0, writes: 0, tags: 0, errors: 0, mismatches: [], rec: rec.toJSON(), t0: wall(), t1: 0 };
    const start = performance.now();
    for (const q of a.requests) {
      // A recorded workload at its recorded times (divided by `speed`): a plain sleep until then.
      if (a.speed && q.t !== undefined) sleepUntil(start + (q.t * 1000) / a.speed);
      if (q.op === 'T') {
        bc.BC_add_history(q.offset, 0, BC_HE_TAG);
        res.tags++;
        continue;
      }
      if (q.length <= 0 || q.length % bs !== 0 || q.offset % bs !== 0 || q.length > r.callerSliceBytes) {
        throw new RangeError(`bootcache:caller: request ${q.op} ${q.offset} ${q.length} must be block-aligned (${bs}) and at most ${r.callerSliceBytes} bytes`);
      }
      const write = q.op === 'W';
      const blk = q.offset / bs;
      const nblk = q.length / bs;
      if (write && oracle) oracle.stamp(data, blk, nblk, k.cpu);
      const floor = !write && oracle ? oracle.snapshot(blk, nblk) : null;
      const bp = dev.pbufs.getpbuf();
      if (bp === null) throw new Error('bootcache:caller: no pbuf');
      const t0 = performance.now();
      const bio2 = setupRaw(dev, bp, unit, write, blk, nblk, data);
      const bio1 = dev.io.setup_sync(bp);
      dev.dev_dstrategy(unit, bio2);
      const error = dev.io.biowait(bio1, null, a.timeoutMs ?? 0);
      const ns = (performance.now() - t0) * 1e6;
      dev.pbufs.relpbuf(bp);
      if (error) res.errors++;
      if (write) {
        res.writes++;
        rec.write(ns, q.length);
      } else {
        res.reads++;
        rec.read(ns, q.length);
        if (floor && !error && res.mismatches.length < 20) for (const m of oracle!.verify(data, blk, nblk, floor)) res.mismatches.push(m.message);
      }
      k.sync.progress();
    }
    res.rec = rec.toJSON();
    res.t1 = wall();
    return res;
  },
});
