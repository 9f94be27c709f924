/**
 * The readahead thread (BC_reader_thread) and the daemon that hosts it: a worker that waits for
 * BC_init_cache to start it (kernel_thread_start is a bump of c_reader_go) and runs it.
 */
import type { Devices } from '../device/disk.js';
import { setupRaw } from '../device/rawio.js';
import { PINTERLOCKED } from '../sync/sync.js';
import { bugs } from '../sync/switches.js';
import { BootCache } from './cache.js';
import { BC_FLAG_IOBUSY, BC_FLAG_SHUTDOWN, CE_ABORTED, CE_BATCH_MASK, CE_IODONE, STAT_BATCHMAX } from './defs.js';

export interface ReaderResult {
  runs: number;
  reads: number;
  bailedOut: number;
}

/**
 * BC_reader_thread: batch by batch, extent by extent (each under its extent lock, held across
 * the I/O as the reference does), read the still-present block ranges in chunks of at most
 * t_max_read bytes through the device's own strategy; a failed or short read discards its
 * blocks; mark CE_IODONE and wake the extent's sleepers. On shutdown (BC_FLAG_SHUTDOWN or the
 * machine stopping) abort every extent not reached yet and wake its sleepers. Finally clear
 * IOBUSY and wake the terminator. Runs under the funnel in funnel mode; may sleep.
 */
export function BC_reader_thread(bc: BootCache, dev: Devices, stop: () => boolean): { reads: number; bailedOut: boolean } {
  const C = bc.C;
  const c = bc.c;
  const s = bc.sync;
  const io = dev.io;
  const funnel = bc.funnel_enter();
  const bp = dev.pbufs.getpbuf();
  if (bp === null) throw new Error('BC_reader_thread: no pbuf for the private buf');
  let reads = 0;
  let bailed = -1;
  let batch = 0;
  try {
    bc.sync_extents();
    const unit = C.load(c, 'c_dev');
    const strategy = dev.strategyById(C.load(c, 'c_strategy'));
    const bs = bc.bs;
    const maxRead = Math.max(bs, Math.floor(C.load(c, 't_max_read') / bs) * bs);
    const nbatch = C.load(c, 'c_batch_count');
    outer: for (batch = 0; batch <= nbatch; batch++) {
      for (let i = 0; i < bc.n; i++) {
        bc.LOCK_EXTENT(i);
        if (bc.cflags() & BC_FLAG_SHUTDOWN || stop()) {
          bailed = i;
          break outer;
        }
        const fl = bc.ceFlags(i);
        if ((fl & CE_BATCH_MASK) !== batch || fl & CE_ABORTED) {
          bc.UNLOCK_EXTENT(i);
          continue;
        }
        const ceblk = bc.eoff[i] / bs;
        let lastBlk = -1;
        let lastCount = 0;
        for (;;) {
          const from = lastCount !== 0 ? lastBlk + lastCount / bs - ceblk : 0;
          const [next, length] = bc.BC_next_valid_block_range(i, from);
          if (next === -1) break;
          const count = Math.min(length, maxRead);
          lastBlk = next + ceblk;
          lastCount = count;
          const bio2 = setupRaw(dev, bp, unit, false, lastBlk, count / bs, bc.edata[i] + next * bs);
          const bio1 = io.setup_sync(bp);
          bc.stat('ss_initiated_reads');
          reads++;
          strategy(dev, unit, bio2);
          const held = bc.funnel_drop();
          const error = io.biowait(bio1, 'biord');
          bc.funnel_reacquire(held);
          if (error || io.B.load(bp, 'b_resid') !== 0) {
            const n = bc.BC_discard_blocks(i, lastBlk * bs, count);
            bc.stat('ss_read_errors');
            bc.stat('ss_error_discards', n);
          }
          s.progress();
        }
        const nblk = Math.floor(bc.elen[i] / bs);
        bc.stat('ss_read_blocks', nblk);
        // ss_batch_size[batch], as the seed indexes it; the seed's write for a batch at or past
        // STAT_BATCHMAX lands outside the array (on ss_batch_time): kiolab does not make it.
        if (batch < STAT_BATCHMAX) bc.S.addAt(bc.st, 'ss_batch_size', batch, nblk);
        s.point(bc.pt.readerDone, bc.eaddr[i]);
        bc.setExtentFlag(i, CE_IODONE);
        bc.UNLOCK_EXTENT(i);
        s.wakeup(bc.eaddr[i]);
      }
      bc.S.storeAt(bc.st, 'ss_batch_time', Math.min(batch + 1, STAT_BATCHMAX), bc.arena.now());
    }
    if (bailed >= 0) {
      // Give up: abort every extent of a later batch, and those of this batch not reached yet.
      bc.UNLOCK_EXTENT(bailed);
      for (let t = 0; t < bc.n; t++) {
        bc.LOCK_EXTENT(t);
        const b = bc.ceFlags(t) & CE_BATCH_MASK;
        if (batch < b || (t >= bailed && batch === b)) bc.setExtentFlag(t, CE_ABORTED);
        bc.UNLOCK_EXTENT(t);
        if (!(bugs.any && bugs.enabled('bc-abort-no-wakeup'))) s.wakeup(bc.eaddr[t]);
      }
    }
  } finally {
    bc.S.storeAt(bc.st, 'ss_batch_time', STAT_BATCHMAX, bc.arena.now());
    bc.clearFlag(BC_FLAG_IOBUSY);
    s.wakeup(C.addrOf(c, 'c_flags'));
    dev.pbufs.relpbuf(bp);
    bc.funnel_exit(funnel);
  }
  return { reads, bailedOut: bailed >= 0 };
}

/**
 * The reader daemon, BootCache's thread: sleeps on c_reader_go ("BC_reader_idle", 50 ms slices)
 * until BC_init_cache starts a readahead (kernel_thread_start), runs it, and goes back to waiting
 * until the machine stops. A start that arrives as the machine stops still runs (a readahead
 * bails out at once), so IOBUSY is always cleared. May sleep.
 */
export function readerDaemon(bc: BootCache, dev: Devices, stop: () => boolean): ReaderResult {
  const s = bc.sync;
  const goAddr = bc.C.addrOf(bc.c, 'c_reader_go');
  const res: ReaderResult = { runs: 0, reads: 0, bailedOut: 0 };
  let seen = 0;
  for (;;) {
    const go = bc.C.load(bc.c, 'c_reader_go');
    if (go !== seen) {
      seen = go;
      if (bc.cflags() & BC_FLAG_IOBUSY) {
        const r = BC_reader_thread(bc, dev, stop);
        res.runs++;
        res.reads += r.reads;
        if (r.bailedOut) res.bailedOut++;
      }
      continue;
    }
    if (stop()) return res;
    s.tsleep_interlock(goAddr);
    if (bc.C.load(bc.c, 'c_reader_go') !== seen || stop()) {
      s.tsleep_remove();
      continue;
    }
    s.tsleep(goAddr, PINTERLOCKED, 'BC_reader_idle', 50);
  }
}

export { BootCache };
