/**
 * The strategy path: BC_strategy (many cpus at once), BC_strategy_bypass with the hit-rate
 * cutoff, and BC_handle_write. See cache.ts for the locking modes and the drain order.
 *
 * The hit path (BC_strategy → BC_find_extent → BC_strategy_fill → BC_add_history) allocates
 * nothing and uses an atomic operation (a call of ~15 ns in this V8) only where another cpu must
 * see it in order: counting in c_strategycalls then testing CACHEACTIVE (the drain), the extent
 * lock and c_hlock. The request's buf and bio words were
 * written by this thread; the per-cpu counters (BCPcpuStatsLayout) by this cpu alone; ce_flags
 * is read under the extent lock. Every counter and history entry of the reference is kept.
 */
import { BUF_CMD_READ } from '../device/buf.js';
import type { Devices } from '../device/disk.js';
import { BootCache } from './cache.js';
import { BC_FLAG_CACHEACTIVE, BC_FLAG_IOBUSY, BC_HE_HIT, BC_HE_MISS, BC_HE_WRITE, CE_ABORTED, CE_IODONE } from './defs.js';
import { bugs } from '../sync/switches.js';
import { BC_terminate_cache, BC_terminate_readahead, runSync } from './terminate.js';

/** Not looked up yet (an extent index is >= 0, a miss -1). */
const NOT_LOOKED_UP = -2;

/**
 * BC_strategy: the device's strategy routine while BootCache covers it. Serves a read from the
 * cache when its extent holds every block (sleeping in slices of t_slice_ms for the reader, up
 * to BC_wait_for_readahead), else bypasses; writes discard cached blocks and go to the device.
 * Called with no lock held; may sleep; returns with no lock held. Runs on many cpus at once.
 */
export function BC_strategy(bc: BootCache, dev: Devices, unit: number, bio: number): void {
  const c = bc.c;
  // The issuer (this thread) set up the buf and bio; BC_init_cache wrote c_dev and c_strategy
  // before it published the routine that brought us here.
  const bp = bc.bio_buf.get(bio);
  const offset = dev.io.offset_own(bio);
  const bcount = bc.b_bcount.get(bp);
  const isRead = bc.b_cmd.get(bp) === BUF_CMD_READ;
  if (unit !== bc.c_dev.get(c)) {
    dev.strategyById(bc.c_strategy.get(c))(dev, unit, bio);
    return;
  }
  // The hit path is kept small (cold paths in functions of their own) so that V8 inlines what
  // it calls: a function past its inlining budget pays a call per helper.
  const prev = bc.funnel_enter();
  try {
    let i = NOT_LOOKED_UP;
    if (bugs.any && bugs.enabled('bc-drain-order')) {
      i = BC_strategy_count_late(bc, dev, unit, bio, isRead, offset, bcount);
      if (i === BYPASSED) return;
    } else {
      bc.c_strategycalls.add(c, 1);
      bc.sync.point(bc.pt.strategyCounted, c);
      if (!(bc.c_flags.load(c) & BC_FLAG_CACHEACTIVE)) {
        bc.enter_bypass();
        BC_strategy_bypass(bc, dev, unit, bio, isRead, offset, bcount, true);
        return;
      }
    }
    bc.count_strategy_call();
    if (!isRead) {
      BC_strategy_write(bc, dev, unit, bio, offset, bcount);
      return;
    }
    bc.pcount(bc.p_requested_blocks, Math.floor(bcount / (bc.c_blocksize.get(c) || 512)));
    bc.pcount(bc.p_extent_lookups, 1);
    if (i === NOT_LOOKED_UP) i = bc.BC_find_extent(offset, bcount, true);
    if (i < 0 || !BC_strategy_fill(bc, dev, i, bio, bp, offset, bcount)) {
      if (bugs.any && bugs.enabled('bc-inline-hitrate-terminate')) BC_hitrate_inline(bc);
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

/** BC_strategy_count_late's answer when it bypassed the cache (an extent index is >= 0, a miss -1). */
const BYPASSED = -3;

/**
 * RACES.md `bc-drain-order`, the historical order: test CACHEACTIVE and look the extent up, then
 * count. Safe only under a funnel the terminator holds too; here a teardown that runs in between
 * drains without this caller and frees the extent under it. Returns the extent looked up (a read),
 * NOT_LOOKED_UP (a write), or BYPASSED when the cache was not active (the request was passed on).
 */
function BC_strategy_count_late(bc: BootCache, dev: Devices, unit: number, bio: number, isRead: boolean, offset: number, bcount: number): number {
  if (!(bc.cflags() & BC_FLAG_CACHEACTIVE)) {
    BC_strategy_bypass(bc, dev, unit, bio, isRead, offset, bcount);
    return BYPASSED;
  }
  const i = isRead ? bc.BC_find_extent(offset, bcount, true) : NOT_LOOKED_UP;
  bc.sync.point(bc.pt.strategyCounted, bc.c);
  bc.c_strategycalls.add(bc.c, 1);
  return i;
}

/** BC_strategy's write: discard the cached blocks, record it, and pass it on (counted in c_strategycalls). */
function BC_strategy_write(bc: BootCache, dev: Devices, unit: number, bio: number, offset: number, bcount: number): void {
  BC_handle_write(bc, offset, bcount);
  bc.BC_add_history(offset, bcount, BC_HE_WRITE);
  bc.stat('ss_strategy_nonread');
  bc.enter_bypass();
  BC_strategy_bypass(bc, dev, unit, bio, false, offset, bcount, true);
}

/**
 * The hit path of BC_strategy for extent `i`: wait for it, check the blocks, copy them out,
 * complete the bio, discard them. Returns false to bypass. Takes and releases the extent lock;
 * may sleep ("BC_strategy"). The caller is counted in c_strategycalls.
 */
function BC_strategy_fill(bc: BootCache, dev: Devices, i: number, bio: number, bp: number, offset: number, bcount: number): boolean {
  bc.pcount(bc.p_extent_hits, 1);
  bc.assertExtentLive(i);
  bc.LOCK_EXTENT(i);
  try {
    let fl = bc.ceFlagsLocked(i);
    if (!(fl & (CE_ABORTED | CE_IODONE))) {
      if (!BC_strategy_wait(bc, i)) return false;
      fl = bc.ceFlags(i);
    }
    if (fl & CE_ABORTED) return false;
    const bs = bc.bs;
    const base = Math.floor((offset - bc.eoff[i]) / bs);
    if (!bc.BC_blocks_present(i, base, Math.floor(bcount / bs))) return false;
    if (bc.c_flags.peek(bc.c) & BC_FLAG_IOBUSY) bc.s_strategy_duringio.add(bc.st, 1); // a statistic: relaxed
    bc.arena.copyBytes(bc.b_data.get(bp), bc.edata[i] + base * bs, bcount);
    bc.b_resid.set(bp, 0); // published by biodone's atomic completion
    dev.io.biodone(bio);
    bc.pcount(bc.p_hit_blocks, bc.BC_discard_blocks(i, offset, bcount));
    return true;
  } finally {
    bc.UNLOCK_EXTENT(i);
  }
}

/**
 * Sleep until the reader has been through extent `i` (CE_IODONE) or it was aborted, in slices of
 * t_slice_ms up to BC_wait_for_readahead; false when that timed out. Counts ss_strategy_blocked
 * and ss_wait_time. Entry and exit: the extent lock held. May sleep ("BC_strategy").
 */
function BC_strategy_wait(bc: BootCache, i: number): boolean {
  const slice = bc.tun('t_slice_ms');
  const maxRetry = Math.floor(bc.tun('t_wait_ms') / slice);
  const blocked = performance.now();
  bc.stat('ss_strategy_blocked');
  for (let retry = 0; !(bc.ceFlags(i) & (CE_ABORTED | CE_IODONE)); retry++) {
    if (retry > maxRetry) {
      bc.message(`timed out waiting for extent ${i} to be read`);
      return false;
    }
    bc.msleep_extent(i, 'BC_strategy', slice, CE_ABORTED | CE_IODONE);
  }
  bc.S.add64(bc.st, 'ss_wait_time', Math.round((performance.now() - blocked) * 1000));
  return true;
}

/**
 * The hit-rate cutoff's test: readahead done, more than BC_chit_check_start lookups, hit rate
 * below BC_chit_low_level percent. Never sleeps.
 */
function BC_hitrate_low(bc: BootCache): boolean {
  const C = bc.C;
  const c = bc.c;
  if (bc.cflags() & BC_FLAG_IOBUSY || C.load(c, 'c_extent_count') === 0 || !(bc.cflags() & BC_FLAG_CACHEACTIVE)) return false;
  const lookups = bc.pcpu_sum('ss_extent_lookups');
  const hits = bc.pcpu_sum('ss_extent_hits');
  if (!(lookups > C.load(c, 't_chit_check_start') && (hits * 100) / lookups < C.load(c, 't_chit_low_level'))) return false;
  bc.message(`hit rate below threshold (${hits} hits on ${lookups} lookups)`);
  return true;
}

/**
 * The cutoff's shutdown, inline as the seed does it: terminate readahead, then the cache (history
 * keeps recording). In the seed's place (BC_strategy_bypass) the caller has left c_strategycalls
 * first, so BC_terminate_cache's drain does not wait for it. May sleep (the termination drops the
 * funnel across its sleeps).
 */
function BC_hitrate_terminate(bc: BootCache): void {
  if (runSync(bc, BC_terminate_readahead(bc))) bc.message('could not stop readahead on bad cache hitrate');
  else if (runSync(bc, BC_terminate_cache(bc))) bc.message('could not terminate cache on bad hitrate');
}

/**
 * RACES.md `bc-inline-hitrate-terminate`: the historical order, where the cutoff terminates
 * inline while this caller is still counted in c_strategycalls — so BC_terminate_cache's drain
 * waits for the very caller that runs it, until it gives up (EBUSY) and marks the cache active
 * again; every later miss stalls the same way. The seed drops the count first (its "bypass:"
 * comment says why). May sleep (the termination).
 */
function BC_hitrate_inline(bc: BootCache): void {
  if (BC_hitrate_low(bc)) BC_hitrate_terminate(bc);
}

/**
 * BC_strategy_bypass: record a miss, count the bypass, shut the cache down inline when the hit
 * rate is too low (readahead done, enough lookups), and pass the request to the device. Called
 * outside c_strategycalls (`counted`: already in c_bypasscalls). May sleep (the termination, the
 * device's strategy).
 */
export function BC_strategy_bypass(bc: BootCache, dev: Devices, unit: number, bio: number, isRead: boolean, offset: number, bcount: number, counted = false): void {
  if (!counted) bc.c_bypasscalls.add(bc.c, 1);
  try {
    if (isRead) bc.BC_add_history(offset, bcount, BC_HE_MISS);
    const flags = bc.cflags();
    if (flags & BC_FLAG_CACHEACTIVE) {
      bc.stat('ss_strategy_bypassed');
      if (flags & BC_FLAG_IOBUSY) bc.stat('ss_strategy_bypass_active');
    }
    if (isRead && !(bugs.any && bugs.enabled('bc-inline-hitrate-terminate')) && BC_hitrate_low(bc)) BC_hitrate_terminate(bc);
    dev.strategyById(bc.c_strategy.get(bc.c))(dev, unit, bio);
  } finally {
    bc.bypass_done();
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
  BC_write_discard(bc, i, offset, bcount);
  for (let p = i - 1; p >= 0 && BootCache.check_intersection(bc.eoff[p], bc.elen[p], offset, bcount); p--) if (!BC_write_discard(bc, p, offset, bcount)) break;
  for (let p = i + 1; p < bc.n && BootCache.check_intersection(bc.eoff[p], bc.elen[p], offset, bcount); p++) if (!BC_write_discard(bc, p, offset, bcount)) break;
}

/** BC_handle_write's step for extent `p`: discard under a try-lock, else abort it; false when the (buggy) scan stops here. Never sleeps. */
function BC_write_discard(bc: BootCache, p: number, offset: number, bcount: number): boolean {
  bc.assertExtentLive(p);
  if (bc.TRY_LOCK_EXTENT(p)) {
    const count = bc.BC_discard_blocks(p, offset, bcount);
    bc.UNLOCK_EXTENT(p);
    bc.stat('ss_write_discards', count);
    return !(count === 0 && bugs.any && bugs.enabled('bc-write-discard-early-break'));
  }
  if (!(bugs.any && bugs.enabled('bc-write-trylock-skip'))) {
    // The seed wakes nobody here: a caller asleep on the extent sees CE_ABORTED at its next slice.
    bc.setExtentFlag(p, CE_ABORTED);
    bc.fine_wakeup(bc.eaddr[p]);
  }
  return true;
}
