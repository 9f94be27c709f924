/**
 * The lock half of the kernel's synchronization primitives over Atomics, for one cpu (worker) of
 * a machine: `SyncLocks`, the base class of `Sync` (sleepq.ts, the sleep queues).
 *
 *  - plumbing: the sync layer's views and pools in the arena, this cpu's thread record, the name
 *    table, the lock registry, instrumentation points and progress
 *  - spinlocks: `spin_lock`, `spin_trylock`, `spin_unlock` (test-and-test-and-set, bounded backoff),
 *    and their shared mode `spin_lock_shared`, `spin_unlock_shared` (DragonFly's shared token)
 *  - sleep locks: `lock`, `trylock`, `lock_timed`, `lock_sleepfail`, `unlock` (three-state futex
 *    word, short spin)
 *
 * The main thread (cpu -1) may take spinlocks briefly, but never sleeps.
 */
import type { Arena, Pool } from '../shm/arena.js';
import type { Field, StructView } from '../shm/view.js';
import { ContractError, ENOLCK, EWOULDBLOCK } from './errno.js';
import { type Hook, PT_SHARED, Point } from './hooks.js';
import { hostThreadId } from './hostthread.js';
import {
  LK_MTX,
  LK_SPIN,
  LockLayout,
  type LockField,
  NAME_CHARS,
  NameLayout,
  SyncGlobalsLayout,
  TOK_EXCLUSIVE,
  TOK_INCR,
  ThreadLayout,
  type ThreadField,
} from './layouts.js';

export const MAX_NAMES = 256;
/** Iterations of the mutex's spin before it sleeps. */
export const MTX_SPIN_TRIES = 64;
/** Upper bound of the spinlock backoff (empty loop iterations). */
export const SPIN_BACKOFF_MAX = 256;
/** Atomics.waitAsync (Node >= 16; not in the ES2022 typings). */
const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, ms: number): { async: boolean; value: Promise<string> | string } }).waitAsync;

/** After this many backoff rounds a spinning cpu gives its host core away for a moment. */
export const SPIN_YIELD_EVERY = 64;

/** A lock's state, which lock_init resets (lk_next, its registry link, is kept). */
const LOCK_STATE_FIELDS = (Object.keys(LockLayout.off) as LockField[]).filter((f) => f !== 'lk_next');

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * The sync layer of one cpu up to its locks. Never constructed alone: `Sync` (sleepq.ts) adds the
 * sleep queues, the arena plan and the hook switch.
 */
export class SyncLocks {
  readonly L: StructView<LockField>;
  readonly T: StructView<ThreadField>;
  readonly N: StructView<keyof typeof NameLayout.off>;
  readonly threads: Pool<ThreadField>;
  readonly names: Pool<keyof typeof NameLayout.off>;
  readonly globals: number;
  readonly ncpu: number;
  /** The installed hook (see `Sync.hook`); read directly on slow paths. */
  protected _hook: Hook | null = null;
  protected readonly i32: Int32Array;
  protected readonly G: StructView<keyof typeof SyncGlobalsLayout.off>;
  protected readonly td: number;
  private readonly nameIds = new Map<string, number>();
  private readonly nameCache: string[] = [];
  /** The spinlocks this cpu holds shared (the kernel's td_toks): spin_unlock_shared's owner check. */
  private readonly sharedHeld: number[] = [];
  // Bound fields for the hot paths (monomorphic accessors).
  private readonly lk_word;
  private readonly lk_owner;
  private readonly lk_acq;
  private readonly lk_contended;
  private readonly lk_spins;
  private readonly lk_sleeps;
  private readonly lk_waitus;
  private readonly lk_maxwaitus;
  private readonly td_blockaddr;
  private readonly td_blockkind;
  private readonly td_blocksince;
  private readonly td_yield;
  private readonly td_lockwait;
  private readonly td_devbusy;

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
    this.threads = arena.pool('sync.threads', ThreadLayout);
    this.names = arena.pool('sync.names', NameLayout);
    this.globals = arena.pool('sync.globals', SyncGlobalsLayout).addr(0);
    this.ncpu = this.threads.count;
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
    this.td_blockaddr = T.field('td_blockaddr');
    this.td_blockkind = T.field('td_blockkind');
    this.td_blocksince = T.field('td_blocksince');
    this.td_yield = T.field('td_yield');
    this.td_lockwait = T.field('td_lockwait_lo');
    this.td_devbusy = T.field('td_devbusy_lo');
  }

  /** This cpu's thread record address. */
  get curthread(): number {
    return this.td;
  }

  /** This cpu's role starts its work now (after the machine's start barrier): the start of its time breakdown. */
  thread_running(): void {
    this.requireThread('thread_running');
    this.T.set(this.td, 'td_runstart', Math.max(1, this.arena.now()));
  }

  /** Count `us` of this cpu's time as a device's service (a device worker's transfer and latency model). */
  device_busy(us: number): void {
    if (this.td >= 0) this.td_devbusy.bump64(this.td, Math.round(us));
  }

  /** Mark this cpu alive and record its role (for snapshots) and its host thread id (for the race lab's watchdog). */
  thread_start(role: string): void {
    this.requireThread('thread_start');
    this.T.store(this.td, 'td_role', this.intern(role));
    this.T.store(this.td, 'td_tid', hostThreadId());
    this.T.store(this.td, 'td_alive', 1);
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
   * `className`, and register it for snapshots. Call before the lock is used; a re-init (of an
   * idle lock) resets it and keeps its one registration.
   *
   * The registry is a list threaded through the locks themselves (lk_next, pushed with a CAS on
   * sg_locks), so it costs no arena space of its own and has no capacity to outgrow.
   */
  lock_init(addr: number, className: string, kind: typeof LK_SPIN | typeof LK_MTX): void {
    const L = this.L;
    for (const f of LOCK_STATE_FIELDS) L.store(addr, f, 0);
    L.store(addr, 'lk_kind', kind);
    L.store(addr, 'lk_class', this.intern(className));
    if (L.load(addr, 'lk_next') !== 0) return;
    const G = this.G;
    for (;;) {
      const head = G.load(this.globals, 'sg_locks');
      L.store(addr, 'lk_next', head === 0 ? -1 : head);
      if (G.cas(this.globals, 'sg_locks', head, addr) === head) break;
    }
    G.add(this.globals, 'sg_nlocks', 1);
  }

  /** Addresses of every registered lock, in the order they were first initialized. */
  registeredLocks(): number[] {
    const G = this.G;
    const n = G.load(this.globals, 'sg_nlocks');
    const out: number[] = [];
    // A lock is linked before it is counted: walk at most the count, from the newest.
    let lk = G.load(this.globals, 'sg_locks');
    while (lk > 0 && out.length < n) {
      if (lk % 4 !== 0 || lk >= this.arena.size) throw new ContractError(`lock registry: a link points outside the arena (${lk}) after ${out.length} of ${n} locks: a lock was overwritten`);
      out.push(lk);
      lk = this.L.load(lk, 'lk_next');
    }
    return out.reverse();
  }

  // ---------------------------------------------------------------- spinlocks

  /** Acquire spinlock `lk`. Never sleeps; spins with bounded backoff. */
  spin_lock(lk: number): void {
    if (this.lk_word.cas(lk, 0, TOK_EXCLUSIVE) !== 0) this.spin_lock_contested(lk, false);
    this.lk_owner.set(lk, this.cpu + 1);
    this.lk_acq.bump64(lk, 1);
  }

  /**
   * Acquire spinlock `lk` shared (lwkt_gettoken_shared): any number of cpus hold it shared at
   * once, none while a cpu holds it exclusive, and an exclusive locker waits for every shared
   * holder. Release with `spin_unlock_shared`. Never sleeps; spins with bounded backoff.
   */
  spin_lock_shared(lk: number): void {
    const w = this.lk_word.load(lk);
    if ((w & TOK_EXCLUSIVE) !== 0 || this.lk_word.cas(lk, w, w + TOK_INCR) !== w) this.spin_lock_contested(lk, true);
    this.sharedHeld.push(lk);
    this.count64(this.lk_acq, lk, 1, true);
  }

  /** Spin until `lk` can be taken in the mode asked for, then take it. */
  private spin_lock_contested(lk: number, shared: boolean): void {
    const t0 = performance.now();
    const td = this.td;
    if (td >= 0) {
      this.td_blockkind.store(td, LK_SPIN);
      this.td_blocksince.store(td, this.arena.now());
      this.td_blockaddr.store(td, lk);
    }
    const word = this.lk_word;
    // Exclusive waits for a free word; shared only for no exclusive holder.
    const busy = shared ? TOK_EXCLUSIVE : -1;
    const mode = shared ? PT_SHARED : 0;
    let spins = 0;
    let backoff = 1;
    for (;;) {
      let w: number;
      while (((w = word.load(lk)) & busy) !== 0) {
        spins++;
        if (this._hook !== null) this._hook.at(Point.SPIN_WAIT, lk, mode);
        for (let k = 0; k < backoff; k++) {
          // cpu_pause()
        }
        if (backoff < SPIN_BACKOFF_MAX) backoff <<= 1;
        if (td >= 0 && spins % SPIN_YIELD_EVERY === 0) {
          // The holder may be preempted on this 2-core host: give the core away briefly.
          Atomics.wait(this.i32, this.td_yield.idx(td), 0, 0.02);
        }
      }
      // The set after the test: a shared access of the lock word, so a scheduling point of its
      // own (another spinner may have seen the word free too).
      if (this._hook !== null) this._hook.at(Point.ATOMIC_RMW, lk, 4);
      if (word.cas(lk, w, shared ? w + TOK_INCR : TOK_EXCLUSIVE) === w) break;
    }
    if (td >= 0) this.td_blockaddr.store(td, 0);
    this.lock_account(lk, t0, spins, 0, shared);
  }

  /** Try once to take spinlock `lk`; true when taken. */
  spin_trylock(lk: number): boolean {
    if (this.lk_word.cas(lk, 0, TOK_EXCLUSIVE) !== 0) return false;
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

  /** Release spinlock `lk`, which this cpu must hold shared (`spin_lock_shared`). */
  spin_unlock_shared(lk: number): void {
    const held = this.sharedHeld;
    const i = held.lastIndexOf(lk);
    if (i < 0) this.notOwner('spin_unlock_shared', lk);
    if (i === held.length - 1) held.pop();
    else held.splice(i, 1);
    this.lk_word.sub(lk, TOK_INCR);
  }

  /** How many cpus hold spinlock `lk` shared (a sample). */
  lock_shared_count(lk: number): number {
    const w = this.lk_word.load(lk);
    return this.L.load(lk, 'lk_kind') === LK_SPIN && (w & TOK_EXCLUSIVE) === 0 ? w / TOK_INCR : 0;
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

  /**
   * Acquire sleep lock `lk` without blocking this thread: the main thread's way to take a lock
   * that workers hold for long stretches (BootCache's funnel for its commands). It is a waiter of
   * the same protocol (the word marked 2, woken by unlock's notify through Atomics.waitAsync), so
   * it is not starved by workers that pass the lock among themselves. 0 when taken, EWOULDBLOCK
   * after `timeoutMs`.
   */
  async lock_async(lk: number, timeoutMs: number): Promise<number> {
    if (this.trylock(lk)) return 0;
    const t0 = performance.now();
    const deadline = t0 + timeoutMs;
    const word = this.lk_word;
    let sleeps = 0;
    while (word.exchange(lk, 2) !== 0) {
      const rem = deadline - performance.now();
      if (rem <= 0) return EWOULDBLOCK;
      const w = waitAsync(this.i32, word.idx(lk), 2, rem);
      if (w.async) await w.value;
      sleeps++;
    }
    this.lk_owner.set(lk, this.cpu + 1);
    this.lk_acq.bump64(lk, 1);
    this.lock_account(lk, t0, 0, sleeps);
    return 0;
  }

  /**
   * Acquire sleep lock `lk` with LK_SLEEPFAIL (lockmgr): 0 when taken without sleeping; once it
   * had to sleep, ENOLCK when the lock was released, which it does not take (the caller looks
   * again at what the lock guarded), or EWOULDBLOCK after `timeoutMs` (0: no limit). May sleep.
   */
  lock_sleepfail(lk: number, timeoutMs: number): number {
    if (this.lk_word.cas(lk, 0, 1) !== 0) {
      const r = this.lock_contested(lk, timeoutMs > 0 ? performance.now() + timeoutMs : Infinity, true);
      if (r !== 0) return r;
    }
    this.lk_owner.set(lk, this.cpu + 1);
    this.lk_acq.bump64(lk, 1);
    return 0;
  }

  /**
   * Drepper's mutex: spin a little, then mark the word 2 (waiters) and futex-wait on it. With
   * `sleepfail`, the first wait ends the attempt (ENOLCK) instead of taking the lock.
   */
  private lock_contested(lk: number, deadline: number, sleepfail = false): number {
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
      // A hook that models the futex let this cpu go only once a notify named it (or the word
      // had changed): the host wait would be the second wait of one futex_wait.
      if (this._hook === null || !this._hook.modelsFutex) Atomics.wait(this.i32, word.idx(lk), 2, rem);
      sleeps++;
      if (sleepfail) {
        // Not taking the lock, this cpu may have taken the notify another waiter needs: pass it on.
        this.td_blockaddr.store(td, 0);
        this.futex_wake(lk);
        return ENOLCK;
      }
      c = word.exchange(lk, 2);
    }
    this.td_blockaddr.store(td, 0);
    this.lock_account(lk, t0, spins, sleeps);
    return 0;
  }

  /** Contention counters; the caller holds `lk` (`shared`: shared, beside other holders). */
  private lock_account(lk: number, t0: number, spins: number, sleeps: number, shared = false): void {
    const us = Math.round((performance.now() - t0) * 1000);
    if (this.td >= 0) this.td_lockwait.bump64(this.td, us);
    this.count64(this.lk_contended, lk, 1, shared);
    this.count64(this.lk_spins, lk, spins, shared);
    this.count64(this.lk_sleeps, lk, sleeps, shared);
    this.count64(this.lk_waitus, lk, us, shared);
    const max = this.lk_maxwaitus;
    if (!shared) {
      if (us > max.get(lk)) max.set(lk, us);
      return;
    }
    for (let m = max.load(lk); us > m; ) {
      const seen = max.cas(lk, m, us);
      if (seen === m) break;
      m = seen;
    }
  }

  /**
   * Add `n` to the lo/hi 64-bit counter `f` of lock `lk`, held by this cpu: plainly when held
   * exclusive, atomically when held shared (other shared holders count at the same time).
   */
  private count64(f: Field, lk: number, n: number, shared: boolean): void {
    if (!shared) return f.bump64(lk, n);
    const lo = f.add(lk, n) >>> 0;
    if (lo + n >= 4294967296) Atomics.add(this.i32, f.idx(lk) + 1, 1);
  }

  /** Release sleep lock `lk`, which this cpu must hold; wakes one waiter if any is recorded. */
  unlock(lk: number): void {
    if (this.lk_owner.get(lk) !== this.cpu + 1) this.notOwner('unlock', lk);
    this.lk_owner.set(lk, 0);
    if (this.lk_word.exchange(lk, 0) === 2) this.futex_wake(lk);
  }

  /** FUTEX_WAKE of one thread waiting on sleep lock `lk`'s word. */
  protected futex_wake(lk: number): void {
    Atomics.notify(this.i32, this.lk_word.idx(lk), 1);
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
    const n = this.lock_shared_count(lk);
    const who = o !== 0 ? `held by cpu ${o - 1}` : n > 0 ? `held shared by ${n} cpu(s)` : 'not held by anyone';
    const how = fn === 'spin_unlock_shared' ? ' held shared' : '';
    throw new ContractError(`${fn}: ${this.lockName(lk)} is ${who}, not${how} by cpu ${this.cpu} (the caller)`);
  }

  /** A named instrumentation point of a subsystem (the race lab's hook sees it). */
  point(name: number, addr: number): void {}

  /** Count progress (the deadlock watchdog watches this per cpu). */
  progress(): void {
    if (this.td >= 0) this.T.add(this.td, 'td_progress', 1);
  }

  protected requireThread(fn: string): void {
    if (this.td < 0) throw new ContractError(`${fn}: the main thread may not sleep or block (cpu -1)`);
  }
}

/** Read a lo/hi 64-bit counter of a lock. */
export function read64(i32: Int32Array, addr: number, off: number): number {
  const i = (addr >>> 2) + off;
  return (Atomics.load(i32, i) >>> 0) + Atomics.load(i32, i + 1) * 4294967296;
}
