/**
 * Typed access to fields of shared structs. Every method takes the struct's byte address and a
 * field name; the word arithmetic happens here. Atomic methods are sequentially consistent
 * (`Atomics.*`); `get`/`set` are plain accesses for fields protected by a lock the caller holds.
 */
import { ACC_ATOMIC_READ, ACC_ATOMIC_WRITE, ACC_PEEK, ACC_READ, ACC_RMW, ACC_WRITE, accessHook } from './access.js';
import type { StructLayout } from './layout.js';

type WaitResult = 'ok' | 'not-equal' | 'timed-out';
/** Atomics.waitAsync (Node 20 has it; the TypeScript lib in use does not declare it). */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(a: Int32Array, i: number, v: number, t?: number): { async: boolean; value: Promise<WaitResult> | WaitResult };
  }
).waitAsync.bind(Atomics);

export class StructView<F extends string> {
  private readonly off: Readonly<Record<F, number>>;

  constructor(
    readonly layout: StructLayout<F>,
    readonly i32: Int32Array,
    readonly i64: BigInt64Array,
  ) {
    this.off = layout.off;
  }

  /** Bind field `f` once for hot paths (see `Field`). */
  field(f: F): Field {
    if (this.layout.fields[f].kind === 'i64') throw new TypeError(`${this.layout.name}.${f} is 64-bit; use load64/add64`);
    return new Field(this.i32, this.off[f]);
  }

  /** Bind 64-bit field `f` once for hot paths: its lo word, for `get64` / `set64` / `load64` / `bump64`. */
  field64(f: F): Field {
    if (this.layout.fields[f].kind !== 'i64') throw new TypeError(`${this.layout.name}.${f} is not 64-bit; use field()`);
    return new Field(this.i32, this.off[f]);
  }

  /** Index into the Int32Array of field `f` (for Atomics.wait / notify). */
  idx(addr: number, f: F): number {
    return (addr >>> 2) + this.off[f];
  }

  /** Byte address of field `f` (an embedded struct, a sleep channel). */
  addrOf(addr: number, f: F): number {
    return addr + this.off[f] * 4;
  }

  load(addr: number, f: F): number {
    return Atomics.load(this.i32, (addr >>> 2) + this.off[f]);
  }
  /**
   * Relaxed read (READ_ONCE) of a word others write atomically: a plain load, for a look that
   * orders nothing after it (see access.ts ACC_PEEK). Never in a wait loop: the compiler may hoist it.
   */
  peek(addr: number, f: F): number {
    return this.i32[(addr >>> 2) + this.off[f]];
  }
  store(addr: number, f: F, v: number): void {
    Atomics.store(this.i32, (addr >>> 2) + this.off[f], v);
  }
  /** Plain read: the caller holds the lock that protects `f`. */
  get(addr: number, f: F): number {
    return this.i32[(addr >>> 2) + this.off[f]];
  }
  /** Plain write: the caller holds the lock that protects `f`. */
  set(addr: number, f: F, v: number): void {
    this.i32[(addr >>> 2) + this.off[f]] = v;
  }
  /** Returns the old value. */
  add(addr: number, f: F, v: number): number {
    return Atomics.add(this.i32, (addr >>> 2) + this.off[f], v);
  }
  sub(addr: number, f: F, v: number): number {
    return Atomics.sub(this.i32, (addr >>> 2) + this.off[f], v);
  }
  or(addr: number, f: F, v: number): number {
    return Atomics.or(this.i32, (addr >>> 2) + this.off[f], v);
  }
  and(addr: number, f: F, v: number): number {
    return Atomics.and(this.i32, (addr >>> 2) + this.off[f], v);
  }
  /** Returns the value found (equal to `expected` on success). */
  cas(addr: number, f: F, expected: number, replacement: number): number {
    return Atomics.compareExchange(this.i32, (addr >>> 2) + this.off[f], expected, replacement);
  }
  exchange(addr: number, f: F, v: number): number {
    return Atomics.exchange(this.i32, (addr >>> 2) + this.off[f], v);
  }

  /** Element `k` of an `{ i32: n }` array field. */
  loadAt(addr: number, f: F, k: number): number {
    return Atomics.load(this.i32, (addr >>> 2) + this.off[f] + k);
  }
  storeAt(addr: number, f: F, k: number, v: number): void {
    Atomics.store(this.i32, (addr >>> 2) + this.off[f] + k, v);
  }
  /** Plain read of element `k`: the caller holds the lock that protects `f`. */
  getAt(addr: number, f: F, k: number): number {
    return this.i32[(addr >>> 2) + this.off[f] + k];
  }
  /** Plain write of element `k`: the caller holds the lock that protects `f`. */
  setAt(addr: number, f: F, k: number, v: number): void {
    this.i32[(addr >>> 2) + this.off[f] + k] = v;
  }
  addAt(addr: number, f: F, k: number, v: number): number {
    return Atomics.add(this.i32, (addr >>> 2) + this.off[f] + k, v);
  }
  exchangeAt(addr: number, f: F, k: number, v: number): number {
    return Atomics.exchange(this.i32, (addr >>> 2) + this.off[f] + k, v);
  }

  /** 64-bit fields (byte counts that can pass 2^31); returned as a Number (exact below 2^53). */
  load64(addr: number, f: F): number {
    return Number(Atomics.load(this.i64, ((addr >>> 2) + this.off[f]) >>> 1));
  }
  store64(addr: number, f: F, v: number): void {
    Atomics.store(this.i64, ((addr >>> 2) + this.off[f]) >>> 1, BigInt(v));
  }
  /** Returns the old value. */
  add64(addr: number, f: F, v: number): number {
    return Number(Atomics.add(this.i64, ((addr >>> 2) + this.off[f]) >>> 1, BigInt(v)));
  }
  cas64(addr: number, f: F, expected: number, replacement: number): number {
    return Number(
      Atomics.compareExchange(this.i64, ((addr >>> 2) + this.off[f]) >>> 1, BigInt(expected), BigInt(replacement)),
    );
  }
  /** Plain read of a 64-bit field as its lo/hi words (no BigInt): the caller holds the lock that protects `f`. */
  get64(addr: number, f: F): number {
    const i = (addr >>> 2) + this.off[f];
    return (this.i32[i] >>> 0) + this.i32[i + 1] * 4294967296;
  }
  /** Plain write of a 64-bit field as its lo/hi words (|v| < 2^53): the caller holds the lock that protects `f`. */
  set64(addr: number, f: F, v: number): void {
    const i = (addr >>> 2) + this.off[f];
    this.i32[i] = v | 0; // ToInt32 keeps the low 32 bits
    this.i32[i + 1] = Math.floor(v / 4294967296);
  }
}

/**
 * One field of a struct layout, bound once (`view.field('td_wchan')`). Every Field has the same
 * shape, so hot paths that use them stay monomorphic; prefer them to `StructView` methods there.
 */
export class Field {
  constructor(
    readonly i32: Int32Array,
    /** Word offset of the field inside its struct. */
    readonly w: number,
  ) {}
  idx(addr: number): number {
    return (addr >>> 2) + this.w;
  }
  load(addr: number): number {
    return Atomics.load(this.i32, (addr >>> 2) + this.w);
  }
  /** Relaxed read (READ_ONCE; see `StructView.peek`): a plain load that orders nothing after it. */
  peek(addr: number): number {
    return this.i32[(addr >>> 2) + this.w];
  }
  store(addr: number, v: number): void {
    Atomics.store(this.i32, (addr >>> 2) + this.w, v);
  }
  get(addr: number): number {
    return this.i32[(addr >>> 2) + this.w];
  }
  set(addr: number, v: number): void {
    this.i32[(addr >>> 2) + this.w] = v;
  }
  add(addr: number, v: number): number {
    return Atomics.add(this.i32, (addr >>> 2) + this.w, v);
  }
  sub(addr: number, v: number): number {
    return Atomics.sub(this.i32, (addr >>> 2) + this.w, v);
  }
  or(addr: number, v: number): number {
    return Atomics.or(this.i32, (addr >>> 2) + this.w, v);
  }
  and(addr: number, v: number): number {
    return Atomics.and(this.i32, (addr >>> 2) + this.w, v);
  }
  cas(addr: number, expected: number, replacement: number): number {
    return Atomics.compareExchange(this.i32, (addr >>> 2) + this.w, expected, replacement);
  }
  exchange(addr: number, v: number): number {
    return Atomics.exchange(this.i32, (addr >>> 2) + this.w, v);
  }
  /** Futex wait while the word equals `expected` (a worker only; `Atomics.wait`'s result). */
  wait(addr: number, expected: number, timeoutMs?: number): 'ok' | 'not-equal' | 'timed-out' {
    return Atomics.wait(this.i32, (addr >>> 2) + this.w, expected, timeoutMs);
  }
  /** Wake up to `count` waiters of the word (all by default); how many were woken. */
  notify(addr: number, count?: number): number {
    return Atomics.notify(this.i32, (addr >>> 2) + this.w, count);
  }
  /**
   * Wait without blocking while the word equals `expected` (the main thread, which may not block):
   * `Atomics.waitAsync`'s result, a promise when it waits, the outcome at once when it does not.
   */
  waitAsync(addr: number, expected: number, timeoutMs?: number): { async: boolean; value: Promise<WaitResult> | WaitResult } {
    return waitAsync(this.i32, (addr >>> 2) + this.w, expected, timeoutMs);
  }
  /** Plain 64-bit counter kept as lo/hi words (this field is lo): add under the protecting lock. */
  bump64(addr: number, n: number): void {
    const i = (addr >>> 2) + this.w;
    const v = (this.i32[i] >>> 0) + n;
    if (v >= 4294967296) {
      this.i32[i] = v - 4294967296;
      this.i32[i + 1] += 1;
    } else {
      this.i32[i] = v;
    }
  }
  /** Plain read of a lo/hi 64-bit value (this field is lo): the caller holds the lock that protects it. */
  get64(addr: number): number {
    const i = (addr >>> 2) + this.w;
    return (this.i32[i] >>> 0) + this.i32[i + 1] * 4294967296;
  }
  /** Plain write of a lo/hi 64-bit value (|v| < 2^53), under the lock that protects it. */
  set64(addr: number, v: number): void {
    const i = (addr >>> 2) + this.w;
    this.i32[i] = v | 0; // ToInt32 keeps the low 32 bits
    this.i32[i + 1] = Math.floor(v / 4294967296);
  }
  /** Read a lo/hi 64-bit counter. */
  load64(addr: number): number {
    const i = (addr >>> 2) + this.w;
    return (Atomics.load(this.i32, i) >>> 0) + Atomics.load(this.i32, i + 1) * 4294967296;
  }
}

/**
 * The instrumented view (an instrumented arena's `view()` of a non-internal layout): every
 * access is reported to the worker's access hook first (access.ts). Same results as StructView.
 */
export class HookedStructView<F extends string> extends StructView<F> {
  override field(f: F): Field {
    if (this.layout.fields[f].kind === 'i64') throw new TypeError(`${this.layout.name}.${f} is 64-bit; use load64/add64`);
    const w = this.layout.off[f];
    return this.layout.quietWords[w] ? new Field(this.i32, w) : new HookedField(this.i32, w);
  }
  override field64(f: F): Field {
    if (this.layout.fields[f].kind !== 'i64') throw new TypeError(`${this.layout.name}.${f} is not 64-bit; use field()`);
    const w = this.layout.off[f];
    return this.layout.quietWords[w] ? new Field(this.i32, w) : new HookedField(this.i32, w);
  }
  private at(kind: number, addr: number, f: F, k = 0, bytes = 4): void {
    const h = accessHook.h;
    const w = this.layout.off[f] + k;
    if (h !== null && this.layout.quietWords[w] === 0) h.access(kind, addr + w * 4, bytes);
  }
  override load(addr: number, f: F): number {
    this.at(ACC_ATOMIC_READ, addr, f);
    return super.load(addr, f);
  }
  override peek(addr: number, f: F): number {
    this.at(ACC_PEEK, addr, f);
    return super.peek(addr, f);
  }
  override store(addr: number, f: F, v: number): void {
    this.at(ACC_ATOMIC_WRITE, addr, f);
    super.store(addr, f, v);
  }
  override get(addr: number, f: F): number {
    this.at(ACC_READ, addr, f);
    return super.get(addr, f);
  }
  override set(addr: number, f: F, v: number): void {
    this.at(ACC_WRITE, addr, f);
    super.set(addr, f, v);
  }
  override add(addr: number, f: F, v: number): number {
    this.at(ACC_RMW, addr, f);
    return super.add(addr, f, v);
  }
  override sub(addr: number, f: F, v: number): number {
    this.at(ACC_RMW, addr, f);
    return super.sub(addr, f, v);
  }
  override or(addr: number, f: F, v: number): number {
    this.at(ACC_RMW, addr, f);
    return super.or(addr, f, v);
  }
  override and(addr: number, f: F, v: number): number {
    this.at(ACC_RMW, addr, f);
    return super.and(addr, f, v);
  }
  override cas(addr: number, f: F, expected: number, replacement: number): number {
    this.at(ACC_RMW, addr, f);
    return super.cas(addr, f, expected, replacement);
  }
  override exchange(addr: number, f: F, v: number): number {
    this.at(ACC_RMW, addr, f);
    return super.exchange(addr, f, v);
  }
  override loadAt(addr: number, f: F, k: number): number {
    this.at(ACC_ATOMIC_READ, addr, f, k);
    return super.loadAt(addr, f, k);
  }
  override storeAt(addr: number, f: F, k: number, v: number): void {
    this.at(ACC_ATOMIC_WRITE, addr, f, k);
    super.storeAt(addr, f, k, v);
  }
  override getAt(addr: number, f: F, k: number): number {
    this.at(ACC_READ, addr, f, k);
    return super.getAt(addr, f, k);
  }
  override setAt(addr: number, f: F, k: number, v: number): void {
    this.at(ACC_WRITE, addr, f, k);
    super.setAt(addr, f, k, v);
  }
  override addAt(addr: number, f: F, k: number, v: number): number {
    this.at(ACC_RMW, addr, f, k);
    return super.addAt(addr, f, k, v);
  }
  override exchangeAt(addr: number, f: F, k: number, v: number): number {
    this.at(ACC_RMW, addr, f, k);
    return super.exchangeAt(addr, f, k, v);
  }
  override load64(addr: number, f: F): number {
    this.at(ACC_ATOMIC_READ, addr, f, 0, 8);
    return super.load64(addr, f);
  }
  override store64(addr: number, f: F, v: number): void {
    this.at(ACC_ATOMIC_WRITE, addr, f, 0, 8);
    super.store64(addr, f, v);
  }
  override add64(addr: number, f: F, v: number): number {
    this.at(ACC_RMW, addr, f, 0, 8);
    return super.add64(addr, f, v);
  }
  override cas64(addr: number, f: F, expected: number, replacement: number): number {
    this.at(ACC_RMW, addr, f, 0, 8);
    return super.cas64(addr, f, expected, replacement);
  }
  override get64(addr: number, f: F): number {
    this.at(ACC_READ, addr, f, 0, 8);
    return super.get64(addr, f);
  }
  override set64(addr: number, f: F, v: number): void {
    this.at(ACC_WRITE, addr, f, 0, 8);
    super.set64(addr, f, v);
  }
}

/** The instrumented bound field (see HookedStructView). */
export class HookedField extends Field {
  private at(kind: number, addr: number, bytes = 4): void {
    const h = accessHook.h;
    if (h !== null) h.access(kind, addr + this.w * 4, bytes);
  }
  override load(addr: number): number {
    this.at(ACC_ATOMIC_READ, addr);
    return super.load(addr);
  }
  override peek(addr: number): number {
    this.at(ACC_PEEK, addr);
    return super.peek(addr);
  }
  override store(addr: number, v: number): void {
    this.at(ACC_ATOMIC_WRITE, addr);
    super.store(addr, v);
  }
  override get(addr: number): number {
    this.at(ACC_READ, addr);
    return super.get(addr);
  }
  override set(addr: number, v: number): void {
    this.at(ACC_WRITE, addr);
    super.set(addr, v);
  }
  override add(addr: number, v: number): number {
    this.at(ACC_RMW, addr);
    return super.add(addr, v);
  }
  override sub(addr: number, v: number): number {
    this.at(ACC_RMW, addr);
    return super.sub(addr, v);
  }
  override or(addr: number, v: number): number {
    this.at(ACC_RMW, addr);
    return super.or(addr, v);
  }
  override and(addr: number, v: number): number {
    this.at(ACC_RMW, addr);
    return super.and(addr, v);
  }
  override cas(addr: number, expected: number, replacement: number): number {
    this.at(ACC_RMW, addr);
    return super.cas(addr, expected, replacement);
  }
  override exchange(addr: number, v: number): number {
    this.at(ACC_RMW, addr);
    return super.exchange(addr, v);
  }
  override wait(addr: number, expected: number, timeoutMs?: number): 'ok' | 'not-equal' | 'timed-out' {
    this.at(ACC_ATOMIC_READ, addr);
    return super.wait(addr, expected, timeoutMs);
  }
  override notify(addr: number, count?: number): number {
    this.at(ACC_RMW, addr);
    return super.notify(addr, count);
  }
  override waitAsync(addr: number, expected: number, timeoutMs?: number): { async: boolean; value: Promise<WaitResult> | WaitResult } {
    this.at(ACC_ATOMIC_READ, addr);
    return super.waitAsync(addr, expected, timeoutMs);
  }
  override bump64(addr: number, n: number): void {
    this.at(ACC_WRITE, addr, 8);
    super.bump64(addr, n);
  }
  override load64(addr: number): number {
    this.at(ACC_ATOMIC_READ, addr, 8);
    return super.load64(addr);
  }
  override get64(addr: number): number {
    this.at(ACC_READ, addr, 8);
    return super.get64(addr);
  }
  override set64(addr: number, v: number): void {
    this.at(ACC_WRITE, addr, 8);
    super.set64(addr, v);
  }
}

/**
 * A word outside the arena: a private SharedArrayBuffer between two threads (a stop flag, a
 * pause word). It is never instrumented: it is not the modelled kernel's memory.
 */
export class HostWord {
  readonly i32: Int32Array;
  constructor(readonly sab: SharedArrayBuffer = new SharedArrayBuffer(4)) {
    this.i32 = new Int32Array(sab, 0, 1);
  }
  load(): number {
    return Atomics.load(this.i32, 0);
  }
  store(v: number): void {
    Atomics.store(this.i32, 0, v);
  }
  add(v: number): number {
    return Atomics.add(this.i32, 0, v);
  }
  /** Futex wait while the word equals `expected` (a worker only). */
  wait(expected: number, timeoutMs?: number): 'ok' | 'not-equal' | 'timed-out' {
    return Atomics.wait(this.i32, 0, expected, timeoutMs);
  }
  notify(count?: number): number {
    return Atomics.notify(this.i32, 0, count);
  }
}

const napWord = new Int32Array(new SharedArrayBuffer(4));

/** Block this thread for `ms` milliseconds (0: yield the core). A worker only. */
export function hostSleep(ms: number): void {
  Atomics.wait(napWord, 0, 0, ms);
}

/**
 * Block this thread until `performance.now()` reaches `deadline` (ms), waking every 50 ms to ask
 * `stop` (true: return at once). A worker only.
 */
export function sleepUntil(deadline: number, stop?: () => boolean): void {
  for (let wait = deadline - performance.now(); wait > 0 && !stop?.(); wait = deadline - performance.now()) hostSleep(Math.min(wait, 50));
}
