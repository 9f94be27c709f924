/**
 * The sleep queues of the kernel's synchronization primitives, for one cpu (worker) of a machine:
 * `Sync`, which extends `SyncLocks` (locks.ts) because `msleep` and `ssleep` take its locks as
 * interlocks.
 *
 *  - sleep queues: `tsleep`, `tsleep_interlock` + `PINTERLOCKED`, `tsleep_remove`, `tsleep_until`,
 *    `wakeup`, `wakeup_one`, `wakeup_all_cpus`, `msleep` (sleep lock interlock), `ssleep`
 *    (spinlock interlock)
 *  - the sync layer's arena plan and its initialization (`Sync.plan`, `Sync.init`)
 *  - the hook: installing one switches the object to `HookedSync` (below)
 *
 * No wakeup is lost: a sleeper publishes its channel in its thread record (`td_wchan`) before it
 * checks its condition; a waker clears that word by CAS and then bumps the sleeper's private
 * generation word, on which the sleeper waits. A waker that misses the published channel ran
 * entirely before the publication, so the sleeper's condition check sees what the waker did.
 *
 * The main thread (cpu -1) may call wakeup, but never sleeps.
 */
import { accessHook } from '../shm/access.js';
import type { Arena, ArenaPlan, Pool } from '../shm/arena.js';
import type { StructView } from '../shm/view.js';
import { ContractError, EWOULDBLOCK } from './errno.js';
import { type Hook, PT_SHARED, Point } from './hooks.js';
import {
  LK_SPIN,
  NameLayout,
  SleepBucketLayout,
  SleepStatLayout,
  SyncGlobalsLayout,
  TDF_INTERLOCKED,
  TDF_SLEEPING,
  ThreadLayout,
} from './layouts.js';
import { MAX_NAMES, SyncLocks } from './locks.js';

/** tsleep flag: the caller already did `tsleep_interlock(ident)`. */
export const PINTERLOCKED = 0x400;
/** kiolab's: the sleep waits for an I/O to complete (biowait, bio_track_wait); reports count it as device time. */
export const PIOWAIT = 0x10000;

export const SLPQUE_BUCKETS = 64;

export interface SyncConfig {
  /** Number of cpus (workers) that may attach. */
  ncpu: number;
}

export class Sync extends SyncLocks {
  readonly buckets: Pool<keyof typeof SleepBucketLayout.off>;
  readonly sleepstats: Pool<keyof typeof SleepStatLayout.off>;
  readonly S: StructView<keyof typeof SleepStatLayout.off>;
  private readonly Q: StructView<keyof typeof SleepBucketLayout.off>;
  // Bound fields for the hot paths (monomorphic accessors).
  private readonly td_wchan;
  private readonly td_wakegen;
  private readonly td_wmesg;
  private readonly td_flags;
  private readonly td_sleepstart;
  private readonly td_sleepseq;
  private readonly td_nsleeps;
  private readonly td_nwoken;
  private readonly td_ntimeouts;
  private readonly sq_count;
  private readonly ss_sleeps;
  private readonly ss_wakeups;
  private readonly ss_timeouts;
  private readonly ss_maxus;
  private readonly ss_totalus_lo;
  private readonly td_iowait;
  private readonly ss_totalus_hi;
  private readonly timeOrigin = performance.timeOrigin;
  /** Channel of the interlock this cpu holds (0 when none). */
  private ilIdent = 0;

  static plan(plan: ArenaPlan, cfg: SyncConfig): void {
    if (!Number.isInteger(cfg.ncpu) || cfg.ncpu < 1 || cfg.ncpu > 256) {
      throw new RangeError(`sync: ncpu must be an integer in [1, 256], got ${cfg.ncpu}`);
    }
    plan.pool('sync.globals', SyncGlobalsLayout, 1);
    plan.pool('sync.threads', ThreadLayout, cfg.ncpu);
    plan.pool('sync.sleepq', SleepBucketLayout, SLPQUE_BUCKETS);
    plan.pool('sync.names', NameLayout, MAX_NAMES);
    plan.pool('sync.sleepstats', SleepStatLayout, cfg.ncpu * MAX_NAMES);
  }

  /** Initialize the sync layer's shared state (once, on the main thread, before any worker runs). */
  static init(arena: Arena): Sync {
    const s = new Sync(arena, -1);
    s.lock_init(s.G.addrOf(s.globals, 'sg_names_lock'), 'names', LK_SPIN);
    return s;
  }

  /** Attach cpu `cpu` (or -1 for the main thread) to an initialized arena. */
  constructor(arena: Arena, cpu: number) {
    super(arena, cpu);
    this.Q = arena.view(SleepBucketLayout);
    this.buckets = arena.pool('sync.sleepq', SleepBucketLayout);
    this.sleepstats = arena.pool('sync.sleepstats', SleepStatLayout);
    this.S = arena.view(SleepStatLayout);
    const T = this.T;
    this.td_wchan = T.field('td_wchan');
    this.td_wakegen = T.field('td_wakegen');
    this.td_wmesg = T.field('td_wmesg');
    this.td_flags = T.field('td_flags');
    this.td_sleepstart = T.field('td_sleepstart');
    this.td_sleepseq = T.field('td_sleepseq');
    this.td_nsleeps = T.field('td_nsleeps');
    this.td_nwoken = T.field('td_nwoken');
    this.td_ntimeouts = T.field('td_ntimeouts');
    this.sq_count = this.Q.field('sq_count');
    const S = this.S;
    this.ss_sleeps = S.field('ss_sleeps');
    this.ss_wakeups = S.field('ss_wakeups');
    this.ss_timeouts = S.field('ss_timeouts');
    this.ss_maxus = S.field('ss_maxus');
    this.td_iowait = this.T.field('td_iowait_lo');
    this.ss_totalus_lo = S.field('ss_totalus_lo');
    this.ss_totalus_hi = S.field('ss_totalus_hi');
  }

  /**
   * The instrumentation hook (the race lab, traces). Installing one switches this object to
   * HookedSync, whose lock, unlock, interlock, wakeup and point methods call it; with none the
   * fast paths carry no check at all. Slow paths (spinning, blocking, sleeping) test `_hook`.
   */
  get hook(): Hook | null {
    return this._hook;
  }
  set hook(h: Hook | null) {
    this._hook = h;
    Object.setPrototypeOf(this, h === null ? Sync.prototype : HookedSync.prototype);
  }

  /**
   * Run `fn` with the hook and the access hook silenced: no point is reached inside it, and the object keeps its
   * class (the HookedSync methods find no hook), so a pass at every scheduling point of a race
   * run costs no prototype switch.
   */
  unhooked<T>(fn: () => T): T {
    const h = this._hook;
    const a = accessHook.h;
    this._hook = null;
    accessHook.h = null;
    try {
      return fn();
    } finally {
      this._hook = h;
      accessHook.h = a;
    }
  }

  /** Mark this cpu dead (undoes `thread_start`), dropping an interlock it still holds. */
  thread_exit(): void {
    if (this.td < 0) return;
    if (this.T.get(this.td, 'td_runstart') !== 0) this.T.set(this.td, 'td_runend', Math.max(1, this.arena.now()));
    this.tsleep_remove();
    this.T.store(this.td, 'td_alive', 0);
  }

  // ---------------------------------------------------------------- sleep queues

  private bucketOf(ident: number): number {
    return this.buckets.base + (Math.imul(ident, 0x9e3779b1) >>> 26) * SleepBucketLayout.bytes;
  }

  /**
   * Publish that this cpu is about to sleep on `ident`: any `wakeup(ident)` from now on ends the
   * next `tsleep(ident, PINTERLOCKED, ...)` at once. Replaces an earlier unused interlock.
   */
  tsleep_interlock(ident: number): void {
    this.requireThread('tsleep_interlock');
    if (ident === 0) throw new ContractError('tsleep_interlock: ident 0 is not a channel');
    if (this.ilIdent !== 0) this.tsleep_remove();
    this.ilIdent = ident;
    this.sq_count.add(this.bucketOf(ident), 1);
    this.td_flags.set(this.td, TDF_INTERLOCKED); // owner-only field: plain write
    // The place in the sleep queue (wakeup_one's FIFO order) is taken here, as TAILQ_INSERT_TAIL
    // in the kernel's tsleep_interlock: a machine-wide counter, so the order does not depend on
    // the clocks of different threads (and explore replays the same choice).
    this.td_sleepseq.store(this.td, this.G.add(this.globals, 'sg_sleepseq', 1));
    this.td_wchan.store(this.td, ident);
  }

  /** Drop an interlock this cpu will not sleep on. */
  tsleep_remove(): void {
    if (this.ilIdent === 0) return;
    this.td_wchan.store(this.td, 0);
    this.td_flags.set(this.td, 0);
    this.sq_count.sub(this.bucketOf(this.ilIdent), 1);
    this.ilIdent = 0;
  }

  /**
   * Sleep on channel `ident` until `wakeup(ident)` or `timeoutMs` (0: no timeout) passes.
   * With `PINTERLOCKED`, a wakeup since `tsleep_interlock(ident)` ends the sleep at once.
   * Returns 0 when woken, EWOULDBLOCK on timeout. Holds no lock across the sleep.
   */
  tsleep(ident: number, flags: number, wmesg: string | number, timeoutMs: number): number {
    this.requireThread('tsleep');
    if (!(timeoutMs >= 0)) throw new RangeError(`tsleep: timeout must be >= 0 ms, got ${timeoutMs}`);
    if (flags & PINTERLOCKED) {
      if (this.ilIdent !== ident) {
        throw new ContractError(
          `tsleep: PINTERLOCKED on channel ${ident} but cpu ${this.cpu} is interlocked on ${this.ilIdent || 'nothing'}`,
        );
      }
    } else {
      this.tsleep_interlock(ident);
    }
    const td = this.td;
    const wm = typeof wmesg === 'number' ? wmesg : this.intern(wmesg);
    const t0 = performance.now();
    const sinceEpoch = this.timeOrigin + t0 - this.arena.epoch;
    // Owner-only fields, plain writes; snapshots read them as samples.
    this.td_wmesg.set(td, wm);
    this.td_sleepstart.set(td, sinceEpoch | 0);
    this.td_flags.set(td, TDF_SLEEPING | TDF_INTERLOCKED);
    if (this._hook !== null) this._hook.at(Point.SLEEP_BLOCK, ident, wm);
    const wchan = this.td_wchan;
    const gen = this.td_wakegen.idx(td);
    const deadline = timeoutMs > 0 ? t0 + timeoutMs : Infinity;
    let result = 0;
    for (;;) {
      const g = Atomics.load(this.i32, gen);
      if (wchan.load(td) !== ident) break; // a waker cleared our channel
      const rem = deadline === Infinity ? Infinity : deadline - performance.now();
      if (rem <= 0) {
        if (wchan.cas(td, ident, 0) === ident) {
          result = EWOULDBLOCK;
          break;
        }
        continue; // a waker won the race: we were woken
      }
      Atomics.wait(this.i32, gen, g, rem);
    }
    this.td_flags.set(td, 0);
    this.sq_count.sub(this.bucketOf(ident), 1);
    this.ilIdent = 0;
    const us = Math.round((performance.now() - t0) * 1000);
    if (flags & PIOWAIT) this.td_iowait.bump64(td, us);
    this.td_nsleeps.set(td, this.td_nsleeps.get(td) + 1);
    if (result === 0) this.td_nwoken.set(td, this.td_nwoken.get(td) + 1);
    else this.td_ntimeouts.set(td, this.td_ntimeouts.get(td) + 1);
    // This cpu's statistics for this wmesg: plain writes, no other cpu writes them.
    const st = this.sleepstats.base + (this.cpu * MAX_NAMES + wm) * SleepStatLayout.bytes;
    this.ss_sleeps.set(st, this.ss_sleeps.get(st) + 1);
    if (result === 0) this.ss_wakeups.set(st, this.ss_wakeups.get(st) + 1);
    else this.ss_timeouts.set(st, this.ss_timeouts.get(st) + 1);
    const lo = (this.ss_totalus_lo.get(st) >>> 0) + us;
    if (lo >= 4294967296) this.ss_totalus_hi.set(st, this.ss_totalus_hi.get(st) + 1);
    this.ss_totalus_lo.set(st, lo | 0);
    if (us > this.ss_maxus.get(st)) this.ss_maxus.set(st, us);
    if (this._hook !== null) this._hook.at(Point.SLEEP_WOKE, ident, wm);
    return result;
  }

  /**
   * Sleep on `ident` ("wmesg", `timeoutMs` a slice, 0: none) until `done()` holds, testing it
   * again after the interlock so that a wakeup issued in between is not lost. Returns at once
   * when it holds. `done` reads shared words only (no lock). May sleep.
   */
  tsleep_until(ident: number, wmesg: string | number, done: () => boolean, timeoutMs = 0): void {
    while (!done()) {
      this.tsleep_interlock(ident);
      if (done()) {
        this.tsleep_remove();
        return;
      }
      this.tsleep(ident, PINTERLOCKED, wmesg, timeoutMs);
    }
  }

  /**
   * Release sleep lock `lk`, sleep on `ident`, re-take `lk`. No wakeup issued after the caller
   * checked its condition under `lk` is lost. Entry and exit: `lk` held. May sleep.
   */
  msleep(ident: number, lk: number, wmesg: string | number, timeoutMs: number): number {
    this.tsleep_interlock(ident);
    this.unlock(lk);
    const r = this.tsleep(ident, PINTERLOCKED, wmesg, timeoutMs);
    this.lock(lk);
    return r;
  }

  /** As `msleep`, with a spinlock as the interlock (DragonFly's `ssleep`). */
  ssleep(ident: number, lk: number, wmesg: string | number, timeoutMs: number): number {
    this.tsleep_interlock(ident);
    this.spin_unlock(lk);
    const r = this.tsleep(ident, PINTERLOCKED, wmesg, timeoutMs);
    this.spin_lock(lk);
    return r;
  }

  /** Wake every cpu sleeping (or interlocked) on `ident`; returns how many. Never sleeps. */
  wakeup(ident: number): number {
    if (this.sq_count.load(this.bucketOf(ident)) === 0) return 0;
    let n = 0;
    const wchan = this.td_wchan;
    for (let c = 0; c < this.ncpu; c++) {
      const td = this.threads.base + c * ThreadLayout.bytes;
      if (wchan.load(td) === ident && wchan.cas(td, ident, 0) === ident) {
        this.kick(td);
        n++;
      }
    }
    return n;
  }

  /** Wake the cpu that has waited longest on `ident`; returns 1 if one was woken, else 0. */
  wakeup_one(ident: number): number {
    const wchan = this.td_wchan;
    for (;;) {
      if (this.sq_count.load(this.bucketOf(ident)) === 0) return 0;
      let best = -1;
      let bestSeq = 0;
      for (let c = 0; c < this.ncpu; c++) {
        const td = this.threads.base + c * ThreadLayout.bytes;
        if (wchan.load(td) === ident) {
          const seq = this.td_sleepseq.load(td);
          if (best < 0 || seq - bestSeq < 0) {
            best = td;
            bestSeq = seq;
          }
        }
      }
      if (best < 0) return 0;
      if (wchan.cas(best, ident, 0) === ident) {
        this.kick(best);
        return 1;
      }
    }
  }

  /** Wake every cpu that sleeps or is interlocked, whatever its channel (machine shutdown). */
  wakeup_all_cpus(): number {
    let n = 0;
    for (let c = 0; c < this.ncpu; c++) {
      const td = this.threads.base + c * ThreadLayout.bytes;
      const ch = this.td_wchan.load(td);
      if (ch !== 0 && this.td_wchan.cas(td, ch, 0) === ch) {
        this.kick(td);
        n++;
      }
    }
    return n;
  }

  /** Tell thread `td` it is off its channel: a new wake generation, and a notify of its futex. */
  protected kick(td: number): void {
    const g = this.td_wakegen.idx(td);
    Atomics.add(this.i32, g, 1);
    this.futex_wake_thread(td);
  }

  /** FUTEX_WAKE of thread `td` on its wake generation word. */
  protected futex_wake_thread(td: number): void {
    Atomics.notify(this.i32, this.td_wakegen.idx(td), 1);
  }
}

/**
 * Sync with a hook installed (never constructed: `Sync.hook = h` switches an object's prototype
 * here). Each method calls the hook at its points, in the order the plain methods' effects happen,
 * around the plain method. The hook may be removed during a call, hence the checks.
 */
class HookedSync extends Sync {
  protected override futex_wake(lk: number): void {
    this._hook?.notifyLock?.(lk);
    super.futex_wake(lk);
  }
  protected override futex_wake_thread(td: number): void {
    this._hook?.notifyThread?.((td - this.threads.base) / ThreadLayout.bytes);
    super.futex_wake_thread(td);
  }
  override spin_lock(lk: number): void {
    this._hook?.at(Point.SPIN_LOCK, lk, 0);
    super.spin_lock(lk);
    this._hook?.at(Point.SPIN_LOCKED, lk, 0);
  }
  override spin_trylock(lk: number): boolean {
    this._hook?.at(Point.SPIN_LOCK, lk, 0);
    if (!super.spin_trylock(lk)) return false;
    this._hook?.at(Point.SPIN_LOCKED, lk, 0);
    return true;
  }
  override spin_unlock(lk: number): void {
    this._hook?.at(Point.SPIN_UNLOCK, lk, 0);
    super.spin_unlock(lk);
  }
  override spin_lock_shared(lk: number): void {
    this._hook?.at(Point.SPIN_LOCK, lk, PT_SHARED);
    super.spin_lock_shared(lk);
    this._hook?.at(Point.SPIN_LOCKED, lk, PT_SHARED);
  }
  override spin_unlock_shared(lk: number): void {
    this._hook?.at(Point.SPIN_UNLOCK, lk, PT_SHARED);
    super.spin_unlock_shared(lk);
  }
  override lock(lk: number): void {
    this._hook?.at(Point.MTX_LOCK, lk, 0);
    super.lock(lk);
    this._hook?.at(Point.MTX_LOCKED, lk, 0);
  }
  override trylock(lk: number): boolean {
    this._hook?.at(Point.MTX_LOCK, lk, 0);
    if (!super.trylock(lk)) return false;
    this._hook?.at(Point.MTX_LOCKED, lk, 0);
    return true;
  }
  override lock_timed(lk: number, timeoutMs: number): number {
    this._hook?.at(Point.MTX_LOCK, lk, 0);
    const r = super.lock_timed(lk, timeoutMs);
    if (r === 0) this._hook?.at(Point.MTX_LOCKED, lk, 0);
    return r;
  }
  override lock_sleepfail(lk: number, timeoutMs: number): number {
    this._hook?.at(Point.MTX_LOCK, lk, 0);
    const r = super.lock_sleepfail(lk, timeoutMs);
    if (r === 0) this._hook?.at(Point.MTX_LOCKED, lk, 0);
    return r;
  }
  override unlock(lk: number): void {
    this._hook?.at(Point.MTX_UNLOCK, lk, 0);
    super.unlock(lk);
  }
  override tsleep_interlock(ident: number): void {
    this._hook?.at(Point.INTERLOCK, ident, 0);
    super.tsleep_interlock(ident);
  }
  override wakeup(ident: number): number {
    this._hook?.at(Point.WAKEUP, ident, 0);
    return super.wakeup(ident);
  }
  override wakeup_one(ident: number): number {
    this._hook?.at(Point.WAKEUP, ident, 0);
    return super.wakeup_one(ident);
  }
  override point(name: number, addr: number): void {
    this._hook?.at(Point.USER, addr, name);
  }
}
