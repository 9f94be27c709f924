/**
 * Typed access to fields of shared structs. Every method takes the struct's byte address and a
 * field name; the word arithmetic happens here. Atomic methods are sequentially consistent
 * (`Atomics.*`); `get`/`set` are plain accesses for fields protected by a lock the caller holds.
 */
import type { StructLayout } from './layout.js';

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
  /** Read a lo/hi 64-bit counter. */
  load64(addr: number): number {
    const i = (addr >>> 2) + this.w;
    return (Atomics.load(this.i32, i) >>> 0) + Atomics.load(this.i32, i + 1) * 4294967296;
  }
}
