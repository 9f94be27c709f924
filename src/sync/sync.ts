/**
 * The kernel's synchronization primitives over Atomics, for one cpu (worker) of a machine.
 *
 *  - spinlocks: `spin_lock`, `spin_trylock`, `spin_unlock` (test-and-test-and-set, bounded backoff)
 *  - sleep locks: `lock`, `trylock`, `lock_timed`, `unlock` (three-state futex word, short spin)
 *  - sleep queues: `tsleep`, `tsleep_interlock` + `PINTERLOCKED`, `wakeup`, `wakeup_one`,
 *    `msleep` (sleep lock interlock), `ssleep` (spinlock interlock)
 *
 * No wakeup is lost: a sleeper publishes its channel in its thread record (`td_wchan`) before it
 * checks its condition; a waker clears that word by CAS and then bumps the sleeper's private
 * generation word, on which the sleeper waits. A waker that misses the published channel ran
 * entirely before the publication, so the sleeper's condition check sees what the waker did.
 *
 * The main thread (cpu -1) may take spinlocks briefly and call wakeup, but never sleeps.
 */
import type { Arena, ArenaPlan, Pool } from '../shm/arena.js';
import type { StructView } from '../shm/view.js';
import { ContractError, EWOULDBLOCK } from './errno.js';
import { type Hook, Point } from './hooks.js';
import {
  LK_MTX,
  LK_SPIN,
  LockLayout,
  type LockField,
  NAME_CHARS,
  NameLayout,
  SleepBucketLayout,
  SleepStatLayout,
  SyncGlobalsLayout,
  TDF_INTERLOCKED,
  TDF_SLEEPING,
  ThreadLayout,
  type ThreadField,
} from './layouts.js';

/** tsleep flag: the caller already did `tsleep_interlock(ident)`. */
export const PINTERLOCKED = 0x400;

export const SLPQUE_BUCKETS = 64;
export const MAX_NAMES = 256;
/** Iterations of the mutex's spin before it sleeps. */
export const MTX_SPIN_TRIES = 64;
/** Upper bound of the spinlock backoff (empty loop iterations). */
export const SPIN_BACKOFF_MAX = 256;
/** After this many backoff rounds a spinning cpu gives its host core away for a moment. */
export const SPIN_YIELD_EVERY = 64;

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface SyncConfig {
  /** Number of cpus (workers) that may attach. */
  ncpu: number;
  /** Capacity of the lock registry used by snapshots and the lock table. */
  maxLocks?: number;
}

export class Sync {
  readonly L: StructView<LockField>;
  readonly T: StructView<ThreadField>;
  readonly N: StructView<keyof typeof NameLayout.off>;
  readonly threads: Pool<ThreadField>;
  readonly names: Pool<keyof typeof NameLayout.off>;
  readonly buckets: Pool<keyof typeof SleepBucketLayout.off>;
  readonly sleepstats: Pool<keyof typeof SleepStatLayout.off>;
  readonly S: StructView<keyof typeof SleepStatLayout.off>;
  readonly globals: number;
  readonly ncpu: number;
  /** The installed hook (see `hook`); read directly on slow paths. */
  protected _hook: Hook | null = null;
  private readonly i32: Int32Array;
  private readonly G: StructView<keyof typeof SyncGlobalsLayout.off>;
  private readonly Q: StructView<keyof typeof SleepBucketLayout.off>;
  private readonly td: number;
  private readonly lockreg: { offset: number; capacity: number };
  private readonly nameIds = new Map<string, number>();
  private readonly nameCache: string[] = [];
  // Bound fields for the hot paths (monomorphic accessors).
  private readonly lk_word;
  private readonly lk_owner;
  private readonly lk_acq;
  private readonly lk_contended;
  private readonly lk_spins;
  private readonly lk_sleeps;
  private readonly lk_waitus;
  private readonly lk_maxwaitus;
  private readonly td_wchan;
  private readonly td_wakegen;
  private readonly td_blockaddr;
  private readonly td_blockkind;
  private readonly td_blocksince;
  private readonly td_wmesg;
  private readonly td_flags;
  private readonly td_sleepstart;
  private readonly td_sleepseq;
  private readonly td_yield;
  private readonly td_nsleeps;
  private readonly td_nwoken;
  private readonly td_ntimeouts;
  private readonly sq_count;
  private readonly ss_sleeps;
  private readonly ss_wakeups;
  private readonly ss_timeouts;
  private readonly ss_maxus;
  private readonly ss_totalus_lo;
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
    plan.bytes('sync.lockreg', 4 * (1 + (cfg.maxLocks ?? 65536)), 64);
  }

  /** Initialize the sync layer's shared state (once, on the main thread, before any worker runs). */
  static init(arena: Arena): Sync {
    const s = new Sync(arena, -1);
    s.lock_init(s.G.addrOf(s.globals, 'sg_names_lock'), 'names', LK_SPIN);
    return s;
  }

  /** Attach cpu `cpu` (or -1 for the main thread) to an initialized arena. */
  constructor(
    readonly arena: Arena,
    readonly cpu: number,
  ) {
    this.i32 = arena.i32;
    this.L = arena.view(LockLayout);
    this.T = arena.view(ThreadLayout);
    this.N = arena.view(NameLayout);
    this.G = arena.view(SyncGlobalsLayout);
    this.Q = arena.view(SleepBucketLayout);
    this.threads = arena.pool('sync.threads', ThreadLayout);
    this.names = arena.pool('sync.names', NameLayout);
    this.buckets = arena.pool('sync.sleepq', SleepBucketLayout);
    this.sleepstats = arena.pool('sync.sleepstats', SleepStatLayout);
    this.S = arena.view(SleepStatLayout);
    this.globals = arena.pool('sync.globals', SyncGlobalsLayout).addr(0);
    this.ncpu = this.threads.count;
    const r = arena.region('sync.lockreg');
    this.lockreg = { offset: r.offset, capacity: r.bytes / 4 - 1 };
    if (cpu !== -1 && (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.ncpu)) {
      throw new RangeError(`sync: cpu ${cpu} is outside [0, ${this.ncpu})`);
    }
    this.td = cpu >= 0 ? this.threads.addr(cpu) : -1;
    const L = this.L;
    this.lk_word = L.field('lk_word');
    this.lk_owner = L.field('lk_owner');
    this.lk_acq = L.field('lk_acq_lo');
    this.lk_contended = L.field('lk_contended_lo');
    this.lk_spins = L.field('lk_spins_lo');
    this.lk_sleeps = L.field('lk_sleeps_lo');
    this.lk_waitus = L.field('lk_waitus_lo');
    this.lk_maxwaitus = L.field('lk_maxwaitus');
    const T = this.T;
    this.td_wchan = T.field('td_wchan');
    this.td_wakegen = T.field('td_wakegen');
    this.td_blockaddr = T.field('td_blockaddr');
    this.td_blockkind = T.field('td_blockkind');
    this.td_blocksince = T.field('td_blocksince');
    this.td_wmesg = T.field('td_wmesg');
    this.td_flags = T.field('td_flags');
    this.td_sleepstart = T.field('td_sleepstart');
    this.td_sleepseq = T.field('td_sleepseq');
    this.td_yield = T.field('td_yield');
    this.td_nsleeps = T.field('td_nsleeps');
    this.td_nwoken = T.field('td_nwoken');
    this.td_ntimeouts = T.field('td_ntimeouts');
    this.sq_count = this.Q.field('sq_count');
    const S = this.S;
    this.ss_sleeps = S.field('ss_sleeps');
    this.ss_wakeups = S.field('ss_wakeups');
    this.ss_timeouts = S.field('ss_timeouts');
    this.ss_maxus = S.field('ss_maxus');
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
   * Run `fn` with the hook silenced: no point is reached inside it, and the object keeps its
   * class (the HookedSync methods find no hook), so a pass at every scheduling point of a race
   * run costs no prototype switch.
   */
  unhooked<T>(fn: () => T): T {
    const h = this._hook;
    this._hook = null;
    try {
      return fn();
    } finally {
      this._hook = h;
    }
  }

  /** This cpu's thread record address. */
  get curthread(): number {
    return this.td;
  }

  /** Mark this cpu alive and record its role (for snapshots). */
  thread_start(role: string): void {
    this.requireThread('thread_start');
    this.T.store(this.td, 'td_role', this.intern(role));
    this.T.store(this.td, 'td_alive', 1);
  }

  thread_exit(): void {
    if (this.td < 0) return;
    this.tsleep_remove();
    this.T.store(this.td, 'td_alive', 0);
  }

  // ---------------------------------------------------------------- names

  /** The id of `name` in the machine's name table, adding it if new. Names longer than 28 bytes are cut. */
  intern(name: string): number {
    const known = this.nameIds.get(name);
    if (known !== undefined) return known;
    const bytes = enc.encode(name).subarray(0, NAME_CHARS * 4);
    const lk = this.G.addrOf(this.globals, 'sg_names_lock');
    this.spin_lock(lk);
    try {
      const n = this.G.load(this.globals, 'sg_nnames');
      for (let id = 1; id <= n; id++) {
        if (this.nameOf(id) === dec.decode(bytes)) {
          this.nameIds.set(name, id);
          return id;
        }
      }
      const id = n + 1; // id 0 means "no name"
      if (id >= MAX_NAMES) throw new RangeError(`sync: name table full (${MAX_NAMES}) adding ${name}`);
      const a = this.names.addr(id);
      const padded = new Uint8Array(NAME_CHARS * 4);
      padded.set(bytes);
      const words = new Int32Array(padded.buffer);
      for (let k = 0; k < NAME_CHARS; k++) this.N.storeAt(a, 'nm_chars', k, words[k]);
      this.N.store(a, 'nm_len', bytes.length);
      this.N.store(a, 'nm_ready', 1);
      this.G.store(this.globals, 'sg_nnames', id);
      this.nameIds.set(name, id);
      return id;
    } finally {
      this.spin_unlock(lk);
    }
  }

  /** The name with id `id` ('' for 0 or an unknown id). */
  nameOf(id: number): string {
    if (id <= 0 || id >= MAX_NAMES) return '';
    const cached = this.nameCache[id];
    if (cached !== undefined) return cached;
    const a = this.names.addr(id);
    if (this.N.load(a, 'nm_ready') !== 1) return '';
    const words = new Int32Array(NAME_CHARS);
    for (let k = 0; k < NAME_CHARS; k++) words[k] = this.N.loadAt(a, 'nm_chars', k);
    const s = dec.decode(new Uint8Array(words.buffer).subarray(0, this.N.load(a, 'nm_len')));
    this.nameCache[id] = s;
    return s;
  }

  nameCount(): number {
    return this.G.load(this.globals, 'sg_nnames');
  }

  // ---------------------------------------------------------------- lock registry

  /**
   * Initialize the lock at `addr` (an embedded LockLayout) as a spinlock or sleep lock of class
   * `className`, and register it for snapshots. Call once, before the lock is used.
   */
  lock_init(addr: number, className: string, kind: typeof LK_SPIN | typeof LK_MTX): void {
    const L = this.L;
    for (const f of Object.keys(LockLayout.off) as LockField[]) L.store(addr, f, 0);
    L.store(addr, 'lk_kind', kind);
    L.store(addr, 'lk_class', this.intern(className));
    const i = Atomics.add(this.i32, this.lockreg.offset >>> 2, 1);
    if (i < this.lockreg.capacity) Atomics.store(this.i32, (this.lockreg.offset >>> 2) + 1 + i, addr);
  }

  /** Addresses of every registered lock. */
  registeredLocks(): number[] {
    const n = Math.min(Atomics.load(this.i32, this.lockreg.offset >>> 2), this.lockreg.capacity);
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(Atomics.load(this.i32, (this.lockreg.offset >>> 2) + 1 + i));
    return out;
  }

  // ---------------------------------------------------------------- spinlocks

  /** Acquire spinlock `lk`. Never sleeps; spins with bounded backoff. */
  spin_lock(lk: number): void {
    if (this.lk_word.cas(lk, 0, 1) !== 0) this.spin_lock_contested(lk);
    this.lk_owner.set(lk, this.cpu + 1);
    this.lk_acq.bump64(lk, 1);
  }

  private spin_lock_contested(lk: number): void {
    const t0 = performance.now();
    const td = this.td;
    if (td >= 0) {
      this.td_blockkind.store(td, LK_SPIN);
      this.td_blocksince.store(td, this.arena.now());
      this.td_blockaddr.store(td, lk);
    }
    const word = this.lk_word;
    let spins = 0;
    let backoff = 1;
    for (;;) {
      while (word.load(lk) !== 0) {
        spins++;
        if (this._hook !== null) this._hook.at(Point.SPIN_WAIT, lk, 0);
        for (let k = 0; k < backoff; k++) {
          // cpu_pause()
        }
        if (backoff < SPIN_BACKOFF_MAX) backoff <<= 1;
        if (td >= 0 && spins % SPIN_YIELD_EVERY === 0) {
          // The holder may be preempted on this 2-core host: give the core away briefly.
          Atomics.wait(this.i32, this.td_yield.idx(td), 0, 0.02);
        }
      }
      if (word.cas(lk, 0, 1) === 0) break;
    }
    if (td >= 0) this.td_blockaddr.store(td, 0);
    this.lock_account(lk, t0, spins, 0);
  }

  /** Try once to take spinlock `lk`; true when taken. */
  spin_trylock(lk: number): boolean {
    if (this.lk_word.cas(lk, 0, 1) !== 0) return false;
    this.lk_owner.set(lk, this.cpu + 1);
    this.lk_acq.bump64(lk, 1);
    return true;
  }

  /** Release spinlock `lk`, which this cpu must hold. */
  spin_unlock(lk: number): void {
    if (this.lk_owner.get(lk) !== this.cpu + 1) this.notOwner('spin_unlock', lk);
    this.lk_owner.set(lk, 0);
    this.lk_word.store(lk, 0);
  }

  // ---------------------------------------------------------------- sleep locks

  /** Acquire sleep lock `lk`; may sleep. */
  lock(lk: number): void {
    if (this.lk_word.cas(lk, 0, 1) !== 0) this.lock_contested(lk, Infinity);
    this.lk_owner.set(lk, this.cpu + 1);
    this.lk_acq.bump64(lk, 1);
  }

  /** Take sleep lock `lk` if free; true when taken. Never sleeps. */
  trylock(lk: number): boolean {
    if (this.lk_word.cas(lk, 0, 1) !== 0) return false;
    this.lk_owner.set(lk, this.cpu + 1);
    this.lk_acq.bump64(lk, 1);
    return true;
  }

  /** Acquire sleep lock `lk`, sleeping at most `timeoutMs`; 0 when taken, EWOULDBLOCK on timeout. */
  lock_timed(lk: number, timeoutMs: number): number {
    if (this.lk_word.cas(lk, 0, 1) !== 0) {
      if (this.lock_contested(lk, performance.now() + timeoutMs) !== 0) return EWOULDBLOCK;
    }
    this.lk_owner.set(lk, this.cpu + 1);
    this.lk_acq.bump64(lk, 1);
    return 0;
  }

  /** Drepper's mutex: spin a little, then mark the word 2 (waiters) and futex-wait on it. */
  private lock_contested(lk: number, deadline: number): number {
    this.requireThread('lock');
    const t0 = performance.now();
    const word = this.lk_word;
    let spins = 0;
    for (; spins < MTX_SPIN_TRIES; spins++) {
      if (word.load(lk) === 0 && word.cas(lk, 0, 1) === 0) {
        this.lock_account(lk, t0, spins, 0);
        return 0;
      }
    }
    const td = this.td;
    this.td_blocksince.store(td, this.arena.now());
    this.td_blockkind.store(td, LK_MTX);
    this.td_blockaddr.store(td, lk);
    let sleeps = 0;
    let c = word.exchange(lk, 2);
    while (c !== 0) {
      const rem = deadline - performance.now();
      if (rem <= 0) {
        this.td_blockaddr.store(td, 0);
        return EWOULDBLOCK;
      }
      if (this._hook !== null) this._hook.at(Point.MTX_BLOCK, lk, 0);
      Atomics.wait(this.i32, word.idx(lk), 2, rem);
      sleeps++;
      c = word.exchange(lk, 2);
    }
    this.td_blockaddr.store(td, 0);
    this.lock_account(lk, t0, spins, sleeps);
    return 0;
  }

  /** Contention counters; the caller holds `lk`. */
  private lock_account(lk: number, t0: number, spins: number, sleeps: number): void {
    this.lk_contended.bump64(lk, 1);
    this.lk_spins.bump64(lk, spins);
    this.lk_sleeps.bump64(lk, sleeps);
    const us = Math.round((performance.now() - t0) * 1000);
    this.lk_waitus.bump64(lk, us);
    if (us > this.lk_maxwaitus.get(lk)) this.lk_maxwaitus.set(lk, us);
  }

  /** Release sleep lock `lk`, which this cpu must hold; wakes one waiter if any is recorded. */
  unlock(lk: number): void {
    if (this.lk_owner.get(lk) !== this.cpu + 1) this.notOwner('unlock', lk);
    this.lk_owner.set(lk, 0);
    if (this.lk_word.exchange(lk, 0) === 2) Atomics.notify(this.i32, this.lk_word.idx(lk), 1);
  }

  /** True when this cpu holds lock `lk` (either kind). */
  lock_held(lk: number): boolean {
    return this.lk_owner.get(lk) === this.cpu + 1 && this.lk_word.load(lk) !== 0;
  }

  /** True when some thread holds lock `lk` (a sample: it may change at once). */
  lock_busy(lk: number): boolean {
    return this.lk_word.load(lk) !== 0;
  }

  /** The cpu holding `lk`, or -1 (free, or held by the main thread, which has no cpu). */
  lock_owner(lk: number): number {
    return this.lk_word.load(lk) === 0 ? -1 : this.lk_owner.load(lk) - 1;
  }

  /** Name of a lock for messages: `class@addr`. */
  lockName(lk: number): string {
    return `${this.nameOf(this.L.load(lk, 'lk_class')) || 'lock'}@${lk}`;
  }

  private notOwner(fn: string, lk: number): never {
    const o = this.lk_owner.get(lk);
    const who = o === 0 ? 'not held by anyone' : `held by cpu ${o - 1}`;
    throw new ContractError(`${fn}: ${this.lockName(lk)} is ${who}, not by cpu ${this.cpu} (the caller)`);
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
    // FIFO order for wakeup_one: microseconds since the epoch, compared modulo 2^32.
    this.td_sleepseq.set(td, (sinceEpoch * 1000) | 0);
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

  private kick(td: number): void {
    const g = this.td_wakegen.idx(td);
    Atomics.add(this.i32, g, 1);
    Atomics.notify(this.i32, g, 1);
  }

  /** A named instrumentation point of a subsystem (the race lab's hook sees it). */
  point(name: number, addr: number): void {}

  /** Count progress (the deadlock watchdog watches this per cpu). */
  progress(): void {
    if (this.td >= 0) this.T.add(this.td, 'td_progress', 1);
  }

  private requireThread(fn: string): void {
    if (this.td < 0) throw new ContractError(`${fn}: the main thread may not sleep or block (cpu -1)`);
  }
}

/**
 * Sync with a hook installed (never constructed: `Sync.hook = h` switches an object's prototype
 * here). Each method calls the hook at its points, in the order the plain methods' effects happen,
 * around the plain method. The hook may be removed during a call, hence the checks.
 */
class HookedSync extends Sync {
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

/** Read a lo/hi 64-bit counter of a lock. */
export function read64(i32: Int32Array, addr: number, off: number): number {
  const i = (addr >>> 2) + off;
  return (Atomics.load(i32, i) >>> 0) + Atomics.load(i32, i + 1) * 4294967296;
}
