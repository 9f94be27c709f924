/**
 * Termination: BC_terminate_readahead, BC_terminate_cache, BC_terminate_history.
 *
 * They run in two contexts: in a worker (the hit-rate cutoff's BootCache thread, or inline in the
 * strategy path with the `bc-inline-hitrate-terminate` switch) and on the main thread (the
 * commands and the cache timeout), which must never sleep on a shared word. So each is written
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
  BC_FLAG_CACHEACTIVE,
  BC_FLAG_IOBUSY,
  BC_FLAG_RECORDING,
  BC_FLAG_SHUTDOWN,
  BC_FLAG_TEARDOWN,
  CB_MAPFIELDBITS,
  CE_ABORTED,
} from './defs.js';

export type BlockOp =
  /** Sleep on `ident` up to `ms` unless `until()` holds; resume with 0 (condition true / woken) or EWOULDBLOCK. */
  | { op: 'sleep'; ident: number; wmesg: string; ms: number; until: () => boolean; nointerlock?: boolean }
  /** Take sleep lock `lk` (an extent lock); resume with 0. */
  | { op: 'lock'; lk: number };

export type TermGen = Generator<BlockOp, number, number>;

/** Drive a termination in a worker: real sleeps and locks; the funnel is dropped across them. May sleep. */
export function runSync(bc: BootCache, g: TermGen): number {
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
    } else if (op.nointerlock) {
      // bc-terminate-no-interlock: the condition was tested before; sleep without recheck.
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
        if (v === EWOULDBLOCK && op.until()) v = 0;
      }
    }
    r = g.next(v);
  }
  return r.value;
}

const tick = (ms: number) => new Promise<void>((res) => setTimeout(res, ms));
/** The longest the main thread waits for an extent lock in a termination (ms). */
const LOCK_WAIT_MS = 30_000;

/** Drive a termination on the main thread: poll conditions and try-locks with short timers. */
export async function runAsync(bc: BootCache, g: TermGen, pollMs = 2): Promise<number> {
  const s = bc.sync;
  let r = g.next(0);
  while (!r.done) {
    const op = r.value;
    let v = 0;
    if (op.op === 'lock') {
      // Bounded: a holder that never lets go (a stuck or dead worker) must not hang the command.
      const deadline = performance.now() + LOCK_WAIT_MS;
      while (!s.trylock(op.lk)) {
        if (performance.now() > deadline) throw new KernelError(ETIMEDOUT, `BootCache: ${s.lockName(op.lk)} still held after ${LOCK_WAIT_MS / 1000} s (its holder is stuck or gone)`);
        await tick(pollMs);
      }
    } else {
      const deadline = performance.now() + op.ms;
      while (op.nointerlock ? performance.now() < deadline : !op.until()) {
        if (performance.now() >= deadline) {
          v = EWOULDBLOCK;
          break;
        }
        await tick(Math.min(pollMs, Math.max(0, deadline - performance.now())));
      }
    }
    r = g.next(v);
  }
  return r.value;
}

/**
 * BC_terminate_readahead: if the reader runs, ask it to stop (BC_FLAG_SHUTDOWN) and wait for it
 * to clear IOBUSY, up to t_terminate_ms ("BC_terminate_readahead"); EBUSY if it does not.
 */
export function* BC_terminate_readahead(bc: BootCache): TermGen {
  if (!(bc.cflags() & BC_FLAG_IOBUSY)) return 0;
  bc.setFlag(BC_FLAG_SHUTDOWN);
  bc.sync.wakeup(bc.C.addrOf(bc.c, 'c_reader_go'));
  const done = () => !(bc.cflags() & BC_FLAG_IOBUSY);
  bc.sync.point(bc.pt.terminateSleep, bc.c);
  const noInterlock = bugs.any && bugs.enabled('bc-terminate-no-interlock');
  const err = yield { op: 'sleep', ident: bc.C.addrOf(bc.c, 'c_flags'), wmesg: 'BC_terminate_readahead', ms: bc.tun('t_terminate_ms'), until: done, nointerlock: noInterlock };
  if (err === EWOULDBLOCK && (noInterlock || !done())) {
    bc.message('timed out waiting for I/O to stop');
    return EBUSY;
  }
  return 0;
}

/**
 * BC_terminate_cache: refuse while readahead runs (EBUSY) or when not active (ENXIO); clear
 * CACHEACTIVE, abort every extent and wake its sleepers, count the blocks never used, wait for
 * the strategy callers to drain (EBUSY after t_drain_retries slices, cache marked active again),
 * then free the page buffer and the extents.
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
  const calls = () => bc.C.load(bc.c, 'c_strategycalls');
  for (let retry = 0; calls() > 0; ) {
    yield { op: 'sleep', ident: bc.c, wmesg: 'BC_terminate_cache', ms: bc.tun('t_drain_slice_ms'), until: () => calls() === 0 };
    if (calls() > 0 && retry++ >= bc.tun('t_drain_retries')) {
      bc.message(`could not terminate cache, timed out with ${calls()} caller(s) in BC_strategy`);
      bc.setFlag(BC_FLAG_CACHEACTIVE);
      bc.clearFlag(BC_FLAG_TEARDOWN);
      return EBUSY;
    }
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
 * BC_terminate_cache_async: the hit-rate cutoff's way to shut the cache down (BootCache 87, the
 * fix of RACES.md `bc-inline-hitrate-terminate`): post a request for the BootCache thread (the
 * reader daemon) and wake it; the strategy caller goes on at once. A request already posted
 * stands. It names the cache it was posted for (c_gen), so a request that outlives its cache is
 * dropped. Never sleeps.
 */
export function BC_terminate_cache_async(bc: BootCache): void {
  const gen = bc.c_gen.load(bc.c);
  if (bc.c_terminate_req.cas(bc.c, 0, gen) !== 0) return;
  bc.sync.wakeup(bc.C.addrOf(bc.c, 'c_reader_go'));
}

/** A termination request is waiting for the BootCache thread. */
export function BC_terminate_requested(bc: BootCache): boolean {
  return bc.c_terminate_req.load(bc.c) !== 0;
}

/**
 * The BootCache thread's side of BC_terminate_cache_async: terminate readahead, then the cache
 * (history keeps recording), under the funnel in funnel mode; then clear the request. Returns
 * whether the cache was terminated. Called with no lock held, in a worker; may sleep.
 */
export function BC_terminate_cache_thread(bc: BootCache): boolean {
  const req = bc.c_terminate_req.load(bc.c);
  if (req === 0) return false;
  let done = false;
  const funnel = bc.funnel_enter();
  try {
    if (req === bc.c_gen.load(bc.c) && bc.cflags() & BC_FLAG_CACHEACTIVE) {
      if (runSync(bc, BC_terminate_readahead(bc))) bc.message('could not stop readahead on bad cache hitrate');
      else if (runSync(bc, BC_terminate_cache(bc))) bc.message('could not terminate cache on bad hitrate');
      else done = true;
    }
  } finally {
    bc.c_terminate_req.cas(bc.c, req, 0);
    bc.funnel_exit(funnel);
  }
  return done;
}

/**
 * BC_terminate_history: give the device its strategy routine back, wait for the bypass callers
 * to drain (EBUSY after t_drain_retries slices), stop recording; record the stop time.
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
  const calls = () => C.load(c, 'c_bypasscalls');
  for (let retry = 0; calls() > 0; ) {
    yield { op: 'sleep', ident: c, wmesg: 'BC_terminate_history', ms: bc.tun('t_drain_slice_ms'), until: () => calls() === 0 };
    if (calls() > 0 && retry++ >= bc.tun('t_drain_retries')) {
      bc.message(`could not terminate history, timed out with ${calls()} caller(s) in BC_strategy_bypass`);
      return EBUSY;
    }
  }
  // Recording stops once the last bypass is out, so a caller that slept through the teardown is still recorded.
  bc.sync.spin_lock(bc.hlock);
  bc.clearFlag(BC_FLAG_RECORDING);
  bc.sync.spin_unlock(bc.hlock);
  bc.S.store(bc.st, 'ss_cache_stop', bc.arena.now());
  return 0;
}
