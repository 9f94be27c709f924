/**
 * Termination: BC_terminate_readahead, BC_terminate_cache, BC_terminate_history.
 *
 * They run in two contexts: in a worker (the hit-rate cutoff, inline in the strategy path as the
 * seed does it) and on the main thread (the commands and the cache timeout), which must never
 * sleep on a shared word. So each is written
 * once, as a generator that yields what it needs to block on — a sleep with its wake condition,
 * or an extent lock — and a driver blocks the kernel's way: `runSync` in a worker (tsleep with an
 * interlock, dropping the funnel), `runAsync` on the main thread (polling with timers).
 */
import { EBUSY, ENXIO, ETIMEDOUT, EWOULDBLOCK, KernelError } from '../sync/errno.js';
import { PINTERLOCKED } from '../sync/sync.js';
import { poison } from '../sync/poison.js';
import { bugs } from '../sync/switches.js';
import { type BootCache, poison_pages } from './cache.js';
import {
  BCExtentLayout,
  BC_DRAIN_WAITER,
  BC_FLAG_CACHEACTIVE,
  BC_FLAG_IOBUSY,
  BC_FLAG_RECORDING,
  BC_FLAG_SHUTDOWN,
  BC_FLAG_TEARDOWN,
  CB_MAPFIELDBITS,
  CE_ABORTED,
} from './defs.js';

export type BlockOp =
  /**
   * Sleep on `ident` up to `ms`; resume with 0 (woken) or EWOULDBLOCK (the time ran out, whatever
   * the condition is by then: the seed's tsleep). With `until`, the sleep is interlocked with
   * that condition (not entered when it holds, ended when it comes true: a wakeup). Without it,
   * the sleep is blind: a poll of `ms` that only a wakeup of `ident` cuts short (the seed's drains,
   * which nobody wakes). `nointerlock`: tested before, slept without an interlock (a switch).
   */
  | { op: 'sleep'; ident: number; wmesg: string; ms: number; until?: () => boolean; nointerlock?: boolean }
  /** Take sleep lock `lk` (an extent lock); resume with 0. */
  | { op: 'lock'; lk: number };

export type TermGen = Generator<BlockOp, number, number>;

/** Drive a termination in a worker: real sleeps and locks; the funnel is dropped across them. May sleep. */
export function runSync(bc: BootCache, g: TermGen): number {
  try {
    return driveSync(bc, g);
  } finally {
    // A wait that threw (a machine stopping, the race lab ending an iteration) leaves the
    // generator suspended: return() runs its finally blocks (a drain's BC_DRAIN_WAITER).
    g.return(0);
  }
}

function driveSync(bc: BootCache, g: TermGen): number {
  const s = bc.sync;
  let r = g.next(0);
  while (!r.done) {
    const op = r.value;
    let v = 0;
    if (op.op === 'lock') {
      if (!s.trylock(op.lk)) {
        const held = bc.funnel_drop();
        s.lock(op.lk);
        bc.funnel_reacquire(held);
      }
    } else if (op.nointerlock || !op.until) {
      // Blind (the seed's drains), or bc-terminate-no-interlock (the condition was tested
      // before): sleep without a recheck.
      const held = bc.funnel_drop();
      v = s.tsleep(op.ident, 0, op.wmesg, op.ms);
      bc.funnel_reacquire(held);
    } else {
      s.tsleep_interlock(op.ident);
      if (op.until()) s.tsleep_remove();
      else {
        const held = bc.funnel_drop();
        v = s.tsleep(op.ident, PINTERLOCKED, op.wmesg, op.ms);
        bc.funnel_reacquire(held);
      }
    }
    r = g.next(v);
  }
  return r.value;
}

const tick = (ms: number) => new Promise<void>((res) => setTimeout(res, ms));
/** The longest the main thread waits for an extent lock in a termination (ms). */
const LOCK_WAIT_MS = 30_000;

/**
 * Drive a termination on the main thread: poll conditions and try-locks with short timers. In
 * funnel mode the command holds the funnel (BootCacheControl) and drops it across every wait,
 * retaking it before it goes on, as a sleeping thread does.
 */
export async function runAsync(bc: BootCache, g: TermGen, pollMs = 2): Promise<number> {
  try {
    return await driveAsync(bc, g, pollMs);
  } finally {
    g.return(0); // as runSync
  }
}

async function driveAsync(bc: BootCache, g: TermGen, pollMs: number): Promise<number> {
  const s = bc.sync;
  let r = g.next(0);
  while (!r.done) {
    const op = r.value;
    let v = 0;
    if (op.op === 'lock') {
      if (!s.trylock(op.lk)) {
        const held = bc.funnel_drop();
        // Bounded: a holder that never lets go (a stuck or dead worker) must not hang the command.
        const deadline = performance.now() + LOCK_WAIT_MS;
        while (!s.trylock(op.lk)) {
          if (performance.now() > deadline) throw new KernelError(ETIMEDOUT, `BootCache: ${s.lockName(op.lk)} still held after ${LOCK_WAIT_MS / 1000} s (its holder is stuck or gone)`);
          await tick(pollMs);
        }
        await bc.funnel_reacquire_async(held);
      }
    } else {
      const until = op.nointerlock ? undefined : op.until;
      if (!until?.()) {
        const held = bc.funnel_drop();
        const deadline = performance.now() + op.ms;
        // A blind sleep (no condition) waits its whole slice: nobody wakes the seed's drains.
        while (!until?.()) {
          if (performance.now() >= deadline) {
            v = EWOULDBLOCK;
            break;
          }
          await tick(Math.min(pollMs, Math.max(0, deadline - performance.now())));
        }
        await bc.funnel_reacquire_async(held);
      }
    }
    r = g.next(v);
  }
  return r.value;
}

/**
 * BC_terminate_readahead: if the reader runs, ask it to stop (BC_FLAG_SHUTDOWN) and wait for it
 * to clear IOBUSY, up to t_terminate_ms ("BC_terminate_readahead"). EBUSY when that sleep timed
 * out, even if IOBUSY has cleared since (the seed only prints "but I/O has stopped!").
 */
export function* BC_terminate_readahead(bc: BootCache): TermGen {
  if (!(bc.cflags() & BC_FLAG_IOBUSY)) return 0;
  bc.setFlag(BC_FLAG_SHUTDOWN);
  // kiolab's: the reader daemon idles on c_reader_go between runs.
  bc.sync.wakeup(bc.C.addrOf(bc.c, 'c_reader_go'));
  const done = () => !(bc.cflags() & BC_FLAG_IOBUSY);
  bc.sync.point(bc.pt.terminateSleep, bc.c);
  const noInterlock = bugs.any && bugs.enabled('bc-terminate-no-interlock');
  const err = yield { op: 'sleep', ident: bc.C.addrOf(bc.c, 'c_flags'), wmesg: 'BC_terminate_readahead', ms: bc.tun('t_terminate_ms'), until: done, nointerlock: noInterlock };
  if (err === EWOULDBLOCK) {
    bc.message(done() ? 'timed out waiting for I/O to stop, but I/O has stopped!' : 'timed out waiting for I/O to stop');
    return EBUSY;
  }
  return 0;
}

/**
 * A drain: sleep in slices of t_drain_slice_ms while callers are counted in `f` and give up
 * (true) after the seed's count of slices (`retry++ > t_drain_retries`, tested after each slice
 * with no recheck of the count). In funnel mode the slices are blind polls, as the seed's (nobody
 * does wakeup(BC_cache)); in fine mode the last caller out wakes the drain (kiolab's wakeup),
 * which counts itself in `f` as a BC_DRAIN_WAITER meanwhile.
 */
function* drain(bc: BootCache, wmesg: string, f: 'c_strategycalls' | 'c_bypasscalls'): Generator<BlockOp, boolean, number> {
  const slice = bc.tun('t_drain_slice_ms');
  const retries = bc.tun('t_drain_retries');
  const calls = () => bc.calls(f);
  // Fine mode: say a drain waits (BC_DRAIN_WAITER) before the first look at the count, so the
  // caller that leaves after that look sees it and wakes us; one that left before it was seen gone.
  const fine = !bc.funnelMode;
  const until = fine ? () => calls() === 0 : undefined;
  if (fine) bc.C.add(bc.c, f, BC_DRAIN_WAITER);
  try {
    for (let retry = 0; calls() > 0; ) {
      yield { op: 'sleep', ident: bc.c, wmesg, ms: slice, until };
      if (retry++ > retries) return true;
    }
    return false;
  } finally {
    if (fine) bc.C.sub(bc.c, f, BC_DRAIN_WAITER);
  }
}

/**
 * BC_terminate_cache: refuse while readahead runs (EBUSY) or when not active (ENXIO); clear
 * CACHEACTIVE, abort every extent and wake its sleepers, count the blocks never used, wait for
 * the strategy callers to drain (EBUSY after the seed's slices, cache marked active again), then
 * free the page buffer and the extents.
 */
export function* BC_terminate_cache(bc: BootCache): TermGen {
  if (bc.cflags() & BC_FLAG_IOBUSY) return EBUSY;
  const old = bc.clearFlag(BC_FLAG_CACHEACTIVE);
  if (!(old & BC_FLAG_CACHEACTIVE)) return ENXIO;
  bc.setFlag(BC_FLAG_TEARDOWN);
  bc.sync_extents();
  for (let i = 0; i < bc.n; i++) {
    yield { op: 'lock', lk: bc.ceLock(i) };
    bc.setExtentFlag(i, CE_ABORTED);
    bc.UNLOCK_EXTENT(i);
    if (!(bugs.any && bugs.enabled('bc-abort-no-wakeup'))) bc.sync.wakeup(bc.eaddr[i]);
    bc.stat('ss_spurious_blocks', bc.presentCount(i));
  }
  if (yield* drain(bc, 'BC_terminate_cache', 'c_strategycalls')) {
    bc.message(`could not terminate cache, timed out with ${bc.calls('c_strategycalls')} caller(s) in BC_strategy`);
    bc.setFlag(BC_FLAG_CACHEACTIVE);
    bc.clearFlag(BC_FLAG_TEARDOWN);
    return EBUSY;
  }
  BC_free_pagebuffer(bc);
  bc.clearFlag(BC_FLAG_TEARDOWN);
  return 0;
}

/**
 * BC_free_pagebuffer + freeing the extents (_FREE_ZERO(c_extents)): poison the buffer, clear
 * the blockmaps, poison every extent but its lock (which lives as long as the machine), empty
 * the table. A strategy caller that touches an extent after this is a use after free
 * (BootCache.assertExtentLive). The caller has drained c_strategycalls.
 */
export function BC_free_pagebuffer(bc: BootCache): void {
  const C = bc.C;
  const c = bc.c;
  const buf = C.load(c, 'c_buffer');
  const size = C.load(c, 'c_mapsize');
  if (buf && size) poison_pages(bc.arena, buf, size);
  bc.sync_extents();
  const body = BCExtentLayout.off.ce_flags * 4;
  for (let i = 0; i < bc.n; i++) {
    const words = Math.ceil(Math.ceil(bc.elen[i] / bc.bs) / CB_MAPFIELDBITS);
    bc.arena.fillBytes(bc.emap[i], 0, 4 * words);
    poison(bc.arena, bc.eaddr[i] + body, BCExtentLayout.bytes - body);
  }
  C.store(c, 'c_buffer', 0);
  C.store(c, 'c_mapsize', 0);
  C.store(c, 'c_extent_count', 0);
  C.add(c, 'c_gen', 1);
}

/**
 * BC_terminate_history: give the device its strategy routine back, wait for the bypass callers
 * to drain (EBUSY after the seed's slices), stop recording; record the stop time.
 */
export function* BC_terminate_history(bc: BootCache): TermGen {
  const C = bc.C;
  const c = bc.c;
  const dev = bc.dev;
  const self = C.load(c, 'c_self');
  if (dev && C.load(c, 'c_strategy')) {
    const unit = C.load(c, 'c_dev');
    dev.D.cas(dev.disk(unit), 'd_strategy', self, C.load(c, 'c_strategy'));
  }
  if (yield* drain(bc, 'BC_terminate_history', 'c_bypasscalls')) {
    bc.message(`could not terminate history, timed out with ${bc.calls('c_bypasscalls')} caller(s) in BC_strategy_bypass`);
    return EBUSY;
  }
  // Recording stops once the last bypass is out, so a caller that slept through the teardown is still recorded.
  bc.sync.spin_lock(bc.hlock);
  bc.clearFlag(BC_FLAG_RECORDING);
  bc.sync.spin_unlock(bc.hlock);
  bc.S.store(bc.st, 'ss_cache_stop', bc.arena.now());
  return 0;
}
