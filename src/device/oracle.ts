/**
 * The data oracle. Every block written through kiolab can carry a stamp: magic, block number,
 * version and a body pattern derived from both. The arena keeps, per block, the latest version
 * written to the device (recorded by the device in the same step as the copy) and a counter that
 * hands out fresh versions. A reader snapshots the latest versions when it issues a read and
 * checks the bytes it got: a wrong block number or a torn body is corruption, a version below the
 * snapshot is stale data.
 */
import type { Arena, ArenaPlan } from '../shm/arena.js';
import type { ResolvedDevice } from './config.js';

export const STAMP_MAGIC = 0x4b53544d; // 'KSTM'
/** latest[] value of a block whose content is not stamped: it cannot be checked. */
export const UNSTAMPED = -1;

export interface OracleMismatch {
  block: number;
  kind: 'stale' | 'corrupt' | 'unstamped';
  expected: number;
  got: number;
  message: string;
}

function bodyWord(blk: number, version: number, i: number): number {
  let h = Math.imul(blk ^ 0x27d4eb2d, 0x165667b1) ^ Math.imul(version + i, 0x9e3779b1);
  h ^= h >>> 15;
  return Math.imul(h, 0x85ebca77) | 0;
}

export class Oracle {
  private readonly latest: number;
  private readonly nextver: number;
  private readonly i32: Int32Array;

  static plan(plan: ArenaPlan, unit: number, d: ResolvedDevice): void {
    plan.bytes(`dev.${unit}.oracle`, 8 * d.blocks, 64);
  }

  /** Every block starts as stamped version 0 of its all-zero content? No: unstamped, until formatted or written. */
  static init(arena: Arena, unit: number, d: ResolvedDevice): void {
    const r = arena.region(`dev.${unit}.oracle`);
    new Int32Array(arena.sab, r.offset, d.blocks).fill(UNSTAMPED);
  }

  constructor(
    arena: Arena,
    readonly unit: number,
    readonly d: ResolvedDevice,
  ) {
    const r = arena.region(`dev.${unit}.oracle`);
    this.latest = r.offset >>> 2;
    this.nextver = this.latest + d.blocks;
    this.i32 = arena.i32;
  }

  /** Latest version recorded for block `blk` (UNSTAMPED if its content was never stamped). */
  latestVersion(blk: number): number {
    return Atomics.load(this.i32, this.latest + blk);
  }

  /** Snapshot of the latest versions of `count` blocks from `blk` (take it when issuing a read). */
  snapshot(blk: number, count: number): number[] {
    const out = new Array<number>(count);
    for (let i = 0; i < count; i++) out[i] = Atomics.load(this.i32, this.latest + blk + i);
    return out;
  }

  /** Stamp `count` blocks of data at byte address `data` as the next versions of blocks `blk`… (the writer calls this). */
  stamp(data: number, blk: number, count: number, writer = 0): number[] {
    const bs = this.d.blockSize;
    const versions: number[] = [];
    for (let i = 0; i < count; i++) {
      const v = Atomics.add(this.i32, this.nextver + blk + i, 1) + 1;
      this.fill(data + i * bs, blk + i, v, writer);
      versions.push(v);
    }
    return versions;
  }

  /** Write the stamp of version `v` of block `blk` at byte address `at`. */
  fill(at: number, blk: number, v: number, writer = 0): void {
    const w = at >>> 2;
    const i32 = this.i32;
    i32[w] = STAMP_MAGIC;
    i32[w + 1] = blk;
    i32[w + 2] = v;
    i32[w + 3] = writer;
    const words = this.d.blockSize >>> 2;
    for (let i = 4; i < words; i++) i32[w + i] = bodyWord(blk, v, i);
  }

  /**
   * Record what a write just put on the media (the device calls this under its media lock, right
   * after the copy): the version of every stamped block, UNSTAMPED for the others.
   */
  recordWrite(media: number, blk: number, count: number): void {
    const bs = this.d.blockSize;
    for (let i = 0; i < count; i++) {
      const w = (media + i * bs) >>> 2;
      const v = this.i32[w] === STAMP_MAGIC && this.i32[w + 1] === blk + i ? this.i32[w + 2] : UNSTAMPED;
      Atomics.store(this.i32, this.latest + blk + i, v);
    }
  }

  /** Stamp the whole medium as version 1 (main thread, before workers run; memory-backed only). */
  format(media: number): void {
    for (let b = 0; b < this.d.blocks; b++) {
      Atomics.store(this.i32, this.nextver + b, 1);
      this.fill(media + b * this.d.blockSize, b, 1);
      Atomics.store(this.i32, this.latest + b, 1);
    }
  }

  /**
   * Check `count` blocks at byte address `data`, read from block `blk`, against `floor` (the
   * snapshot taken at issue). Returns the mismatches (empty when the data is right).
   */
  verify(data: number, blk: number, count: number, floor: number[]): OracleMismatch[] {
    const bs = this.d.blockSize;
    const out: OracleMismatch[] = [];
    for (let i = 0; i < count; i++) {
      const b = blk + i;
      if (floor[i] === UNSTAMPED) continue;
      const w = (data + i * bs) >>> 2;
      const i32 = this.i32;
      if (i32[w] !== STAMP_MAGIC || i32[w + 1] !== b) {
        out.push({ block: b, kind: 'corrupt', expected: floor[i], got: -1, message: `block ${b} of ${this.d.name}: not stamped for this block (magic ${i32[w] >>> 0}, block ${i32[w + 1]})` });
        continue;
      }
      const v = i32[w + 2];
      let torn = false;
      for (let k = 4; k < bs >>> 2; k++) {
        if (i32[w + k] !== bodyWord(b, v, k)) {
          torn = true;
          break;
        }
      }
      if (torn) out.push({ block: b, kind: 'corrupt', expected: floor[i], got: v, message: `block ${b} of ${this.d.name}: body does not match its stamp (version ${v}): torn or overwritten` });
      else if (v < floor[i]) out.push({ block: b, kind: 'stale', expected: floor[i], got: v, message: `block ${b} of ${this.d.name}: stale data, version ${v} but version ${floor[i]} was on the device when the read was issued` });
    }
    return out;
  }
}
