/**
 * The arena: one SharedArrayBuffer holding every shared struct and the page memory.
 *
 * `ArenaPlan` lists the regions (fixed pools of structs, or raw byte regions) in a deterministic
 * order; `Arena.create(plan)` allocates and initializes the buffer and writes the header;
 * `Arena.attach(sab, plan)` (in every worker) only builds views and checks that the header —
 * magic, layout version, total size and every region's offset and size — matches the plan the
 * worker computed from the same configuration.
 */
import { CACHE_LINE, StructLayout, roundUp } from './layout.js';
import { ACC_RANGE_READ, ACC_RANGE_WRITE, accessHook } from './access.js';
import { type Field, HookedStructView, StructView } from './view.js';

export const ARENA_MAGIC = 0x4b494f4c; // 'KIOL'
/** Bump when any shared layout changes shape. */
export const LAYOUT_VERSION = 1;

const HDR_MAGIC = 0;
const HDR_VERSION = 1;
const HDR_TOTAL_LO = 2;
const HDR_TOTAL_HI = 3;
const HDR_NREGIONS = 4;
const HDR_EPOCH = 6; // float64 at byte 24: Date.now() at creation
const HDR_DIR = 16; // region directory: per region [offset lo, offset hi, bytes lo, bytes hi]
const DIR_WORDS = 4;

export class ArenaError extends Error {
  readonly code = 'EINVAL';
  constructor(message: string) {
    super(message);
    this.name = 'ArenaError';
  }
}

export interface RegionSpec {
  name: string;
  /** Present for struct pools. */
  layout?: StructLayout<string>;
  count: number;
  bytes: number;
  align: number;
  /** What a raw region holds: 'pages' (page memory: data a cache or pager keeps), 'media' (a simulated device's store); else metadata. */
  kind?: RegionKind;
}

export type RegionKind = 'pages' | 'media';

/** How an arena's bytes divide: page memory, device media, and everything else (metadata: structs, tables, the header, padding). */
export interface ArenaUsage {
  bytes: number;
  pages: number;
  media: number;
  metadata: number;
  /** metadata / pages (0 when there is no page memory). */
  metadataShare: number;
}

export class ArenaPlan {
  readonly regions: RegionSpec[] = [];
  private readonly names = new Set<string>();

  /** Reserve a pool of `count` structs of `layout` (`kind`: what it holds, when not metadata). */
  pool(name: string, layout: StructLayout<string>, count: number, kind?: RegionKind): this {
    if (!Number.isInteger(count) || count < 0) {
      throw new RangeError(`arena plan: pool ${name} has a bad count ${count}`);
    }
    return this.add({ name, layout, count, bytes: layout.bytes * count, align: layout.align, ...(kind ? { kind } : {}) });
  }

  /** Reserve a raw byte region (page memory, a device's backing store, a table), saying what it holds. */
  bytes(name: string, bytes: number, align = 4096, kind?: RegionKind): this {
    if (!Number.isInteger(bytes) || bytes < 0) {
      throw new RangeError(`arena plan: region ${name} has a bad size ${bytes}`);
    }
    return this.add({ name, count: 1, bytes, align, ...(kind ? { kind } : {}) });
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  private add(r: RegionSpec): this {
    if (this.names.has(r.name)) throw new RangeError(`arena plan: region ${r.name} declared twice`);
    this.names.add(r.name);
    this.regions.push(r);
    return this;
  }

  /** Header bytes: fixed words plus the region directory, rounded to a cache line. */
  headerBytes(): number {
    return roundUp((HDR_DIR + this.regions.length * DIR_WORDS) * 4, CACHE_LINE);
  }

  /** Offsets of every region and the total size, in plan order. */
  placement(): { offsets: number[]; total: number } {
    let at = this.headerBytes();
    const offsets: number[] = [];
    for (const r of this.regions) {
      at = roundUp(at, r.align);
      offsets.push(at);
      at += r.bytes;
    }
    return { offsets, total: roundUp(at, 8) };
  }
}

/** A placed pool of structs: address arithmetic lives here and nowhere else. */
export class Pool<F extends string> {
  constructor(
    readonly name: string,
    readonly layout: StructLayout<F>,
    readonly base: number,
    readonly count: number,
  ) {}

  /** Byte address of element `i`. */
  addr(i: number): number {
    if (i < 0 || i >= this.count || !Number.isInteger(i)) {
      throw new RangeError(`pool ${this.name}: index ${i} out of range [0, ${this.count})`);
    }
    return this.base + i * this.layout.bytes;
  }

  /** Index of the element at byte address `addr`. */
  index(addr: number): number {
    const i = (addr - this.base) / this.layout.bytes;
    if (!Number.isInteger(i) || i < 0 || i >= this.count) {
      throw new RangeError(`pool ${this.name}: address ${addr} is not an element`);
    }
    return i;
  }

  contains(addr: number): boolean {
    const d = addr - this.base;
    return d >= 0 && d < this.count * this.layout.bytes && d % this.layout.bytes === 0;
  }

  /** Index of the element that holds byte address `addr` (any of its bytes), or -1. */
  elementOf(addr: number): number {
    const d = addr - this.base;
    return d >= 0 && d < this.count * this.layout.bytes ? Math.floor(d / this.layout.bytes) : -1;
  }
}

/** The field of `L` at word `w` of an instance, through embedded structs (`b_bio[1].bio_flags`). */
function fieldAt(L: StructLayout<string>, w: number): string {
  for (const [f, info] of Object.entries(L.fields) as [string, { word: number; words: number; kind: string; struct?: StructLayout<string> }][]) {
    if (w < info.word || w >= info.word + info.words) continue;
    if (info.kind === 'struct' && info.struct) {
      const sub = info.struct;
      const k = Math.floor((w - info.word) / sub.words);
      return `${f}${info.words > sub.words ? `[${k}]` : ''}.${fieldAt(sub, w - info.word - k * sub.words)}`;
    }
    return info.kind === 'array' ? `${f}[${w - info.word}]` : f;
  }
  return `+${w * 4}`;
}

/** One word at any address (see `Arena.word`). */
const WordLayout = new StructLayout('word', { word: 'i32' });
const LabWordLayout = new StructLayout('lab_word', { word: 'i32' }, { internal: true });

export class Arena {
  readonly i32: Int32Array;
  readonly i64: BigInt64Array;
  readonly u8: Uint8Array;
  readonly size: number;
  /** Date.now() when the arena was created: the machine's time zero. */
  readonly epoch: number;
  private readonly placed = new Map<string, { spec: RegionSpec; offset: number }>();
  private readonly views = new Map<StructLayout<string>, StructView<string>>();
  private _instrumented = false;
  private _word?: Field;
  private _labWord?: Field;

  private constructor(
    readonly sab: SharedArrayBuffer,
    readonly plan: ArenaPlan,
  ) {
    this.i32 = new Int32Array(sab);
    this.i64 = new BigInt64Array(sab, 0, Math.floor(sab.byteLength / 8));
    this.u8 = new Uint8Array(sab);
    this.size = sab.byteLength;
    const { offsets } = plan.placement();
    plan.regions.forEach((r, k) => this.placed.set(r.name, { spec: r, offset: offsets[k] }));
    this.epoch = new Float64Array(sab, HDR_EPOCH * 4, 1)[0];
  }

  /** The arena's bytes by what they hold (page memory, device media, metadata). */
  usage(): ArenaUsage {
    let pages = 0;
    let media = 0;
    for (const { spec } of this.placed.values()) {
      if (spec.kind === 'pages') pages += spec.bytes;
      else if (spec.kind === 'media') media += spec.bytes;
    }
    const metadata = this.size - pages - media;
    return { bytes: this.size, pages, media, metadata, metadataShare: pages > 0 ? metadata / pages : 0 };
  }

  /** Allocate and initialize a new arena for `plan`. Memory starts zeroed. */
  static create(plan: ArenaPlan): Arena {
    const { offsets, total } = plan.placement();
    if (total > 2 ** 32) throw new RangeError(`arena: ${total} bytes is more than this build supports`);
    const sab = new SharedArrayBuffer(total);
    const h = new Int32Array(sab);
    h[HDR_MAGIC] = ARENA_MAGIC;
    h[HDR_VERSION] = LAYOUT_VERSION;
    h[HDR_TOTAL_LO] = total >>> 0;
    h[HDR_TOTAL_HI] = Math.floor(total / 2 ** 32);
    h[HDR_NREGIONS] = plan.regions.length;
    new Float64Array(sab, HDR_EPOCH * 4, 1)[0] = Date.now();
    plan.regions.forEach((r, k) => {
      const d = HDR_DIR + k * DIR_WORDS;
      h[d] = offsets[k] >>> 0;
      h[d + 1] = Math.floor(offsets[k] / 2 ** 32);
      h[d + 2] = r.bytes >>> 0;
      h[d + 3] = Math.floor(r.bytes / 2 ** 32);
    });
    return new Arena(sab, plan);
  }

  /** Attach to an arena made by another thread; checks the header against `plan`. */
  static attach(sab: unknown, plan: ArenaPlan): Arena {
    if (!(sab instanceof SharedArrayBuffer)) {
      throw new ArenaError(`arena: expected a SharedArrayBuffer, got ${describe(sab)}`);
    }
    if (sab.byteLength < HDR_DIR * 4) {
      throw new ArenaError(`arena: buffer of ${sab.byteLength} bytes is too short to hold a header`);
    }
    const h = new Int32Array(sab);
    if (h[HDR_MAGIC] !== ARENA_MAGIC) {
      throw new ArenaError(
        `arena: bad magic 0x${(h[HDR_MAGIC] >>> 0).toString(16)}, not a kiolab arena (expected 0x${ARENA_MAGIC.toString(16)})`,
      );
    }
    if (h[HDR_VERSION] !== LAYOUT_VERSION) {
      throw new ArenaError(`arena: layout version ${h[HDR_VERSION]}, this build expects ${LAYOUT_VERSION}`);
    }
    const { offsets, total } = plan.placement();
    const recorded = (h[HDR_TOTAL_LO] >>> 0) + h[HDR_TOTAL_HI] * 2 ** 32;
    if (recorded !== total) {
      throw new ArenaError(`arena: header says ${recorded} bytes but the configuration needs ${total}`);
    }
    if (sab.byteLength < total) {
      throw new ArenaError(`arena: short buffer: ${sab.byteLength} bytes, the configuration needs ${total}`);
    }
    if (h[HDR_NREGIONS] !== plan.regions.length) {
      throw new ArenaError(
        `arena: header lists ${h[HDR_NREGIONS]} regions but the configuration has ${plan.regions.length}`,
      );
    }
    plan.regions.forEach((r, k) => {
      const d = HDR_DIR + k * DIR_WORDS;
      const off = (h[d] >>> 0) + h[d + 1] * 2 ** 32;
      const bytes = (h[d + 2] >>> 0) + h[d + 3] * 2 ** 32;
      if (off !== offsets[k] || bytes !== r.bytes) {
        throw new ArenaError(
          `arena: region ${r.name} is at ${off} (${bytes} bytes) but the configuration places it at ${offsets[k]} (${r.bytes} bytes)`,
        );
      }
    });
    return new Arena(sab, plan);
  }

  /** The pool named `name`, typed by `layout` (which must be the layout it was planned with). */
  pool<F extends string>(name: string, layout: StructLayout<F>): Pool<F> {
    const p = this.placed.get(name);
    if (!p) throw new ArenaError(`arena: no region named ${name}`);
    if (p.spec.layout !== (layout as StructLayout<string>)) {
      throw new ArenaError(`arena: region ${name} holds ${p.spec.layout?.name ?? 'bytes'}, not ${layout.name}`);
    }
    return new Pool(name, layout, p.offset, p.spec.count);
  }

  /** Byte offset and size of a raw region. */
  region(name: string): { offset: number; bytes: number } {
    const p = this.placed.get(name);
    if (!p) throw new ArenaError(`arena: no region named ${name}`);
    return { offset: p.offset, bytes: p.spec.bytes };
  }

  hasRegion(name: string): boolean {
    return this.placed.has(name);
  }

  /**
   * A cached accessor for structs of `layout` in this arena. In an instrumented arena, a
   * non-internal layout gets the instrumented view (access.ts).
   */
  view<F extends string>(layout: StructLayout<F>): StructView<F> {
    let v = this.views.get(layout);
    if (!v) {
      const L = layout as StructLayout<string>;
      v = this.instrumented && !L.internal ? new HookedStructView(L, this.i32, this.i64) : new StructView(L, this.i32, this.i64);
      this.views.set(layout, v);
    }
    return v as unknown as StructView<F>;
  }

  /**
   * The 32-bit word at any byte address, as a bound field (`arena.word().load(addr)`): for
   * channels and flags that are a single word. Instrumented like any view.
   */
  word(): Field {
    return (this._word ??= this.view(WordLayout).field('word'));
  }

  /** The same for the lab's own machinery (the race lab's control words): never instrumented. */
  labWord(): Field {
    return (this._labWord ??= this.view(LabWordLayout).field('word'));
  }

  /** True when this worker's views report their accesses (see `instrument`). */
  get instrumented(): boolean {
    return this._instrumented;
  }

  /**
   * Make every later view of a non-internal layout, and the byte-range helpers, report their
   * accesses to the access hook (the race lab, in each of its workers, right after attaching).
   * Views made before stay plain, so it refuses when one exists.
   */
  instrument(): void {
    if (this._instrumented) return;
    const made = [...this.views.keys()].filter((l) => !l.internal).map((l) => l.name);
    if (made.length > 0) throw new ArenaError(`arena.instrument: views of ${made.join(', ')} exist already; instrument right after attaching`);
    this._instrumented = true;
  }

  /** Copy `bytes` bytes from `src` to `dst` (arena byte addresses; page data). */
  copyBytes(dst: number, src: number, bytes: number): void {
    if (this._instrumented) this.rangeAccess(ACC_RANGE_READ, src, bytes, ACC_RANGE_WRITE, dst);
    this.u8.copyWithin(dst, src, src + bytes);
  }

  /** Fill `bytes` bytes at `addr` with `value`. */
  fillBytes(addr: number, value: number, bytes: number): void {
    if (this._instrumented) this.rangeAccess(ACC_RANGE_WRITE, addr, bytes);
    this.u8.fill(value, addr, addr + bytes);
  }

  /** Copy `bytes` bytes at `addr` into a new (unshared) array. */
  readBytes(addr: number, bytes: number): Uint8Array {
    if (this._instrumented) this.rangeAccess(ACC_RANGE_READ, addr, bytes);
    return this.u8.slice(addr, addr + bytes);
  }

  /** Copy `data` into the arena at `addr`. */
  writeBytes(addr: number, data: Uint8Array): void {
    if (this._instrumented) this.rangeAccess(ACC_RANGE_WRITE, addr, data.length);
    this.u8.set(data, addr);
  }

  /** The lab's own byte regions (the race lab's failure record): never instrumented. */
  labWriteBytes(addr: number, data: Uint8Array): void {
    this.u8.set(data, addr);
  }

  labReadBytes(addr: number, bytes: number): Uint8Array {
    return this.u8.slice(addr, addr + bytes);
  }

  private rangeAccess(kind: number, addr: number, bytes: number, kind2 = 0, addr2 = 0): void {
    const h = accessHook.h;
    if (h === null) return;
    h.access(kind, addr, bytes);
    if (kind2 !== 0) h.access(kind2, addr2, bytes);
  }

  /**
   * Name the byte address `addr` for people: the region, the struct's index and the field
   * (`bufcache.bufs[17].b_flags`), or the region and offset (`bufcache.pages+4096`).
   */
  describeAddr(addr: number): string {
    for (const [name, p] of this.placed) {
      if (addr < p.offset || addr >= p.offset + p.spec.bytes) continue;
      const L = p.spec.layout;
      if (!L) return `${name}+${addr - p.offset}`;
      const rel = addr - p.offset;
      const i = Math.floor(rel / L.bytes);
      return `${name}${p.spec.count > 1 ? `[${i}]` : ''}.${fieldAt(L, (rel - i * L.bytes) >>> 2)}`;
    }
    return `@${addr}`;
  }

  /** Milliseconds since the arena was created (a clock every worker shares). */
  now(): number {
    return Date.now() - this.epoch;
  }
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (x instanceof ArrayBuffer) return `an ArrayBuffer (not shared) of ${x.byteLength} bytes`;
  return typeof x === 'object' ? (x as object).constructor?.name ?? 'an object' : typeof x;
}
