/**
 * The strategy path: BC_strategy (many cpus at once), BC_strategy_bypass with the hit-rate
 * cutoff, and BC_handle_write. See cache.ts for the locking modes and the drain order.
 */
import { BUF_CMD_READ } from '../device/buf.js';
import type { Devices } from '../device/disk.js';
import { BootCache } from './cache.js';
import { BC_FLAG_CACHEACTIVE, BC_FLAG_IOBUSY, BC_HE_HIT, BC_HE_MISS, BC_HE_WRITE, CE_ABORTED, CE_IODONE } from './defs.js';
import { bugs } from '../race/switch.js';
import { BC_terminate_cache, BC_terminate_readahead, runSync } from './terminate.js';

/**
 * BC_strategy: the device's strategy routine while BootCache covers it. Serves a read from the
 * cache when its extent holds every block (sleeping in slices of t_slice_ms for the reader, up
 * to BC_wait_for_readahead), else bypasses; writes discard cached blocks and go to the device.
 * Called with no lock held; may sleep; returns with no lock held. Runs on many cpus at once.
 */
export function BC_strategy(bc: BootCache, dev: Devices, unit: number, bio: number): void {
  const io = dev.io;
  const bp = io.O.load(bio, 'bio_buf');
  const offset = io.offset(bio);
  const bcount = io.B.load(bp, 'b_bcount');
  const isRead = io.B.load(bp, 'b_cmd') === BUF_CMD_READ;
  const C = bc.C;
  const c = bc.c;
  if (unit !== C.load(c, 'c_dev')) {
    dev.strategyById(C.load(c, 'c_strategy'))(dev, unit, bio);
    return;
  }
  const prev = bc.funnel_enter();
  try {
    if (bugs.any && bugs.enabled('bc-drain-order')) {
      // The historical order: test CACHEACTIVE, then count (safe only under a funnel the terminator holds too).
      if (!(bc.cflags() & BC_FLAG_CACHEACTIVE)) {
        BC_strategy_bypass(bc, dev, unit, bio, isRead, offset, bcount);
        return;
      }
      bc.sync.point(bc.pt.strategyCounted, c);
      C.add(c, 'c_strategycalls', 1);
    } else {
      C.add(c, 'c_strategycalls', 1);
      bc.sync.point(bc.pt.strategyCounted, c);
      if (!(bc.cflags() & BC_FLAG_CACHEACTIVE)) {
        bc.enter_bypass();
        BC_strategy_bypass(bc, dev, unit, bio, isRead, offset, bcount, true);
        return;
      }
    }
    bc.stat('ss_strategy_calls');
    if (!isRead) {
      BC_handle_write(bc, offset, bcount);
      bc.BC_add_history(offset, bcount, BC_HE_WRITE);
      bc.stat('ss_strategy_nonread');
      bc.enter_bypass();
      BC_strategy_bypass(bc, dev, unit, bio, isRead, offset, bcount, true);
      return;
    }
    bc.stat('ss_requested_blocks', Math.floor(bcount / (C.load(c, 'c_blocksize') || 512)));
    bc.stat('ss_extent_lookups');
    const i = bc.BC_find_extent(offset, bcount, true);
    if (i < 0 || !BC_strategy_fill(bc, dev, i, bio, bp, offset, bcount, bc.bs)) {
      bc.enter_bypass();
      BC_strategy_bypass(bc, dev, unit, bio, isRead, offset, bcount, true);
      return;
    }
    bc.BC_add_history(offset, bcount, BC_HE_HIT);
    bc.strategy_done();
  } finally {
    bc.funnel_exit(prev);
  }
}

/**
 * The hit path of BC_strategy for extent `i`: wait for it, check the blocks, copy them out,
 * complete the bio, discard them. Returns false to bypass. Takes and releases the extent lock;
 * may sleep ("BC_strategy").
 */
function BC_strategy_fill(bc: BootCache, dev: Devices, i: number, bio: number, bp: number, offset: number, bcount: number, bs: number): boolean {
  bc.stat('ss_extent_hits');
  bc.LOCK_EXTENT(i);
  try {
    const slice = bc.tun('t_slice_ms');
    const maxRetry = Math.floor(bc.tun('t_wait_ms') / slice);
    let blocked = 0;
    for (let retry = 0; ; retry++) {
      if (bc.ceFlags(i) & (CE_ABORTED | CE_IODONE)) break;
      if (retry > maxRetry) {
        bc.message(`timed out waiting for extent ${i} to be read`);
        return false;
      }
      if (blocked === 0) {
        blocked = performance.now();
        bc.stat('ss_strategy_blocked');
      }
      bc.msleep_extent(i, 'BC_strategy', slice, () => (bc.ceFlags(i) & (CE_ABORTED | CE_IODONE)) !== 0);
    }
    if (blocked !== 0) bc.S.add64(bc.st, 'ss_wait_time', Math.round((performance.now() - blocked) * 1000));
    if (bc.ceFlags(i) & CE_ABORTED) return false;
    const base = Math.floor((offset - bc.eoff[i]) / bs);
    const nblk = Math.floor(bcount / bs);
    if (!bc.BC_blocks_present(i, base, nblk)) return false;
    if (bc.cflags() & BC_FLAG_IOBUSY) bc.stat('ss_strategy_duringio');
    const src = bc.edata[i] + base * bs;
    const io = dev.io;
    bc.arena.u8.copyWithin(io.B.load(bp, 'b_data'), src, src + bcount);
    io.B.store(bp, 'b_resid', 0);
    io.biodone(bio);
    bc.stat('ss_hit_blocks', bc.BC_discard_blocks(i, offset, bcount));
    return true;
  } finally {
    bc.UNLOCK_EXTENT(i);
  }
}

/**
 * BC_strategy_bypass: record a miss, count the bypass, shut the cache down inline when the hit
 * rate is too low (readahead done, more than BC_chit_check_start lookups, below
 * BC_chit_low_level percent; history keeps recording), and pass the request to the device.
 * Called outside c_strategycalls; may sleep (the inline termination).
 */
export function BC_strategy_bypass(bc: BootCache, dev: Devices, unit: number, bio: number, isRead: boolean, offset: number, bcount: number, counted = false): void {
  const C = bc.C;
  const c = bc.c;
  if (!counted) C.add(c, 'c_bypasscalls', 1);
  try {
    if (isRead) bc.BC_add_history(offset, bcount, BC_HE_MISS);
    const flags = bc.cflags();
    if (flags & BC_FLAG_CACHEACTIVE) {
      bc.stat('ss_strategy_bypassed');
      if (flags & BC_FLAG_IOBUSY) bc.stat('ss_strategy_bypass_active');
    }
    if (isRead && C.load(c, 'c_extent_count') > 0 && flags & BC_FLAG_CACHEACTIVE) {
      const lookups = bc.S.load(bc.st, 'ss_extent_lookups');
      const hits = bc.S.load(bc.st, 'ss_extent_hits');
      if (!(bc.cflags() & BC_FLAG_IOBUSY) && lookups > C.load(c, 't_chit_check_start') && (hits * 100) / lookups < C.load(c, 't_chit_low_level')) {
        bc.message(`hit rate below threshold (${hits} hits on ${lookups} lookups)`);
        if (runSync(bc, BC_terminate_readahead(bc))) bc.message('could not stop readahead on bad cache hitrate');
        else if (runSync(bc, BC_terminate_cache(bc))) bc.message('could not terminate cache on bad hitrate');
      }
    }
    dev.strategyById(C.load(c, 'c_strategy'))(dev, unit, bio);
  } finally {
    if (C.sub(c, 'c_bypasscalls', 1) === 1) bc.sync.wakeup(c);
  }
}

/**
 * BC_handle_write: discard the cached blocks a write covers, in the extent found and in every
 * neighbour that still intersects; an extent whose lock is busy is marked CE_ABORTED instead.
 * The scan goes on past a neighbour that discards nothing (the fix of RACES.md
 * `bc-write-discard-early-break`; the switch restores the reference's break, and
 * `bc-write-trylock-skip` forgets the abort). Caller is counted in c_strategycalls. Never sleeps.
 */
export function BC_handle_write(bc: BootCache, offset: number, bcount: number): void {
  const i = bc.BC_find_extent(offset, bcount, false);
  if (i < 0) return;
  bc.sync.point(bc.pt.writeFound, bc.eaddr[i]);
  const earlyBreak = bugs.any && bugs.enabled('bc-write-discard-early-break');
  const trylockSkip = bugs.any && bugs.enabled('bc-write-trylock-skip');
  /** Discard in extent p; false when the (buggy) scan should stop here. */
  const one = (p: number): boolean => {
    if (bc.TRY_LOCK_EXTENT(p)) {
      const count = bc.BC_discard_blocks(p, offset, bcount);
      bc.UNLOCK_EXTENT(p);
      bc.stat('ss_write_discards', count);
      return !(earlyBreak && count === 0);
    }
    if (!trylockSkip) {
      bc.setExtentFlag(p, CE_ABORTED);
      bc.sync.wakeup(bc.eaddr[p]);
    }
    return true;
  };
  one(i);
  for (let p = i - 1; p >= 0 && BootCache.check_intersection(bc.eoff[p], bc.elen[p], offset, bcount); p--) if (!one(p)) break;
  for (let p = i + 1; p < bc.n && BootCache.check_intersection(bc.eoff[p], bc.elen[p], offset, bcount); p++) if (!one(p)) break;
}
