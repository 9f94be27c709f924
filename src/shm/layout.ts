/**
 * Struct layouts for shared memory.
 *
 * A layout names the Int32 and 64-bit slots of one shared struct, so that no call site does raw
 * index arithmetic. Offsets are in 32-bit words from the start of the struct; a struct's address
 * is a byte offset into the arena (the kernel's pointer), always a multiple of 8.
 *
 * Field kinds:
 *  - `'i32'`            one Int32 word (Atomics-capable)
 *  - `'i64'`            one BigInt64 slot, 8-byte aligned (Atomics-capable, for byte counts)
 *  - `{ i32: n }`       an array of n Int32 words
 *  - `{ line: kind }`   the field starts on a new 64-byte cache line (words written by other CPUs)
 *  - `{ struct: L }`    an embedded struct (a lock inside a buffer header, say)
 */

export const CACHE_LINE = 64;

export type FieldSpec =
  | 'i32'
  | 'i64'
  | { i32: number; line?: boolean }
  | { line: 'i32' | 'i64' }
  | { struct: StructLayout<string>; line?: boolean };

export interface FieldInfo {
  /** Offset in 32-bit words from the start of the struct. */
  readonly word: number;
  /** Number of 32-bit words the field occupies. */
  readonly words: number;
  readonly kind: 'i32' | 'i64' | 'array' | 'struct';
  readonly struct?: StructLayout<string>;
}

export class StructLayout<F extends string> {
  /** Word offset of each field (for i64 fields: the low word; the slot is at word/2 in BigInt64 units). */
  readonly off: Readonly<Record<F, number>>;
  readonly fields: Readonly<Record<F, FieldInfo>>;
  /** Size in 32-bit words (a multiple of 2, or of 16 when `align` is 64). */
  readonly words: number;
  readonly bytes: number;
  /** Alignment in bytes of every instance: 8, or 64 when any field asked for its own line. */
  readonly align: number;
  /**
   * Lab-internal words (the sync layer's lock and sleep words, the race lab's control words):
   * their accesses are the synchronization itself and are never instrumented (see access.ts).
   */
  readonly internal: boolean;
  /**
   * 1 for each word of a `quiet` field: a measurement nothing decides on, either of the host (a
   * service time, whose value depends on wall time: a schedule and its replay then see the same
   * events whatever the host's speed) or a statistic summed racily by design (per-cpu counters).
   * Its accesses are not scheduling points and not seen by the data-race detector.
   */
  readonly quietWords: Uint8Array;

  constructor(
    readonly name: string,
    spec: Record<F, FieldSpec>,
    opts: { align?: 8 | 64; internal?: boolean; quiet?: readonly NoInfer<F>[] } = {},
  ) {
    this.internal = !!opts.internal;
    const off = {} as Record<F, number>;
    const fields = {} as Record<F, FieldInfo>;
    let w = 0;
    let align = opts.align ?? 8;
    for (const key of Object.keys(spec) as F[]) {
      const s: FieldSpec = spec[key];
      let kind: FieldInfo['kind'];
      let words: number;
      let line = false;
      let sub: StructLayout<string> | undefined;
      if (s === 'i32') {
        kind = 'i32';
        words = 1;
      } else if (s === 'i64') {
        kind = 'i64';
        words = 2;
      } else if (typeof s === 'object' && 'struct' in s) {
        kind = 'struct';
        sub = s.struct;
        words = sub.words;
        line = !!s.line || sub.align === CACHE_LINE;
      } else if (typeof s === 'object' && 'i32' in s) {
        if (!Number.isInteger(s.i32) || s.i32 <= 0) {
          throw new RangeError(`layout ${name}: field ${key} has a bad array length ${s.i32}`);
        }
        kind = 'array';
        words = s.i32;
        line = !!s.line;
      } else {
        kind = s.line;
        words = s.line === 'i64' ? 2 : 1;
        line = true;
      }
      if (line) {
        align = CACHE_LINE;
        w = roundUp(w, CACHE_LINE / 4);
      } else if (kind === 'i64' || kind === 'struct') {
        w = roundUp(w, 2);
      }
      off[key] = w;
      fields[key] = { word: w, words, kind, struct: sub };
      w += words;
    }
    this.align = align;
    this.words = roundUp(Math.max(w, 2), align / 4);
    this.bytes = this.words * 4;
    this.off = off;
    this.fields = fields;
    this.quietWords = new Uint8Array(this.words);
    for (const q of opts.quiet ?? []) {
      const f = fields[q];
      if (!f) throw new RangeError(`layout ${name}: quiet field ${q} is not a field`);
      this.quietWords.fill(1, f.word, f.word + f.words);
    }
  }

  /** Byte address of field `f` of the struct at byte address `addr`. */
  addrOf(addr: number, f: F): number {
    return addr + this.off[f] * 4;
  }
}

export function defineStruct<F extends string>(
  name: string,
  spec: Record<F, FieldSpec>,
  opts?: { align?: 8 | 64; internal?: boolean; quiet?: readonly NoInfer<F>[] },
): StructLayout<F> {
  return new StructLayout(name, spec, opts);
}

export function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}
