/**
 * The data oracle. Every block written through kiolab can carry a stamp: magic, block number,
 * version and a body pattern derived from both. The arena keeps, per block, the latest version
 * written to the device (recorded by the device in the same step as the copy) and a counter that
 * hands out fresh versions. A reader snapshots the latest versions when it issues a read and
 * checks the bytes it got: a wrong block number or a torn body is corruption, a version below the
 * snapshot is stale data.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Arena, ArenaPlan, Pool } from '../shm/arena.js';
import { defineStruct } from '../shm/layout.js';
import type { Field } from '../shm/view.js';
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

/** Write the stamp of version `v` of block `blk` into words [at, at + bs/4) of `w`. */
function stampWords(w: Int32Array, at: number, words: number, blk: number, v: number, writer: number): void {
  w[at] = STAMP_MAGIC;
  w[at + 1] = blk;
  w[at + 2] = v;
  w[at + 3] = writer;
  for (let i = 4; i < words; i++) w[at + i] = bodyWord(blk, v, i);
}

function bodyWord(blk: number, version: number, i: number): number {
  let h = Math.imul(blk ^ 0x27d4eb2d, 0x165667b1) ^ Math.imul(version + i, 0x9e3779b1);
  h ^= h >>> 15;
  return Math.imul(h, 0x85ebca77) | 0;
}

/**
 * The oracle's record of one block of a device (pool `dev.<unit>.oracle`, one per block). The
 * lab's own bookkeeping, not the modelled kernel's data, so never instrumented.
 *  ob_latest   atomic: the version the device holds (UNSTAMPED when not stamped); the device
 *              writes it under its media lock, in the same step as the copy.
 *  ob_nextver  atomic: the last version handed out for the block (stamp's atomic add).
 */
export const OracleBlockLayout = defineStruct('oracle_block', { ob_latest: 'i32', ob_nextver: 'i32' }, { internal: true });

/** Reinterpret a copy of arena bytes (`Arena.readBytes`) as its words. */
function words(bytes: Uint8Array): Int32Array {
  return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
}

export class Oracle {
  private readonly blocks: Pool<'ob_latest' | 'ob_nextver'>;
  private readonly ob_latest: Field;
  private readonly ob_nextver: Field;
  /** One block of stamp, built here and written into the arena as a range (fill). */
  private readonly scratch: Int32Array;
  private readonly scratchBytes: Uint8Array;

  static plan(plan: ArenaPlan, unit: number, d: ResolvedDevice): void {
    // Part of the simulated device (a shadow of its medium that checks what reads return), not of
    // the kernel's metadata: counted with the medium.
    plan.pool(`dev.${unit}.oracle`, OracleBlockLayout, d.blocks, 'media');
  }

  /** Every block starts as stamped version 0 of its all-zero content? No: unstamped, until formatted or written. */
  static init(arena: Arena, unit: number, d: ResolvedDevice): void {
    const pool = arena.pool(`dev.${unit}.oracle`, OracleBlockLayout);
    const V = arena.view(OracleBlockLayout);
    for (let b = 0; b < d.blocks; b++) V.store(pool.addr(b), 'ob_latest', UNSTAMPED);
  }

  constructor(
    private readonly arena: Arena,
    readonly unit: number,
    readonly d: ResolvedDevice,
  ) {
    this.blocks = arena.pool(`dev.${unit}.oracle`, OracleBlockLayout);
    const V = arena.view(OracleBlockLayout);
    this.ob_latest = V.field('ob_latest');
    this.ob_nextver = V.field('ob_nextver');
    this.scratch = new Int32Array(d.blockSize >>> 2);
    this.scratchBytes = new Uint8Array(this.scratch.buffer);
  }

  /** Latest version recorded for block `blk` (UNSTAMPED if its content was never stamped). */
  latestVersion(blk: number): number {
    return this.ob_latest.load(this.blocks.addr(blk));
  }

  /** Snapshot of the latest versions of `count` blocks from `blk` (take it when issuing a read). */
  snapshot(blk: number, count: number): number[] {
    const out = new Array<number>(count);
    for (let i = 0; i < count; i++) out[i] = this.ob_latest.load(this.blocks.addr(blk + i));
    return out;
  }

  /** Stamp `count` blocks of data at byte address `data` as the next versions of blocks `blk`… (the writer calls this). */
  stamp(data: number, blk: number, count: number, writer = 0): number[] {
    const bs = this.d.blockSize;
    const versions: number[] = [];
    for (let i = 0; i < count; i++) {
      const v = this.ob_nextver.add(this.blocks.addr(blk + i), 1) + 1;
      this.fill(data + i * bs, blk + i, v, writer);
      versions.push(v);
    }
    return versions;
  }

  /** Write the stamp of version `v` of block `blk` at byte address `at` (one plain write of the block's bytes). */
  fill(at: number, blk: number, v: number, writer = 0): void {
    stampWords(this.scratch, 0, this.scratch.length, blk, v, writer);
    this.arena.writeBytes(at, this.scratchBytes);
  }

  /**
   * Record what a write just put on the media (the device calls this under its media lock, right
   * after the copy): the version of every stamped block, UNSTAMPED for the others.
   */
  recordWrite(media: number, blk: number, count: number): void {
    const bs = this.d.blockSize;
    for (let i = 0; i < count; i++) {
      const h = words(this.arena.readBytes(media + i * bs, 12)); // magic, block, version
      const v = h[0] === STAMP_MAGIC && h[1] === blk + i ? h[2] : UNSTAMPED;
      this.ob_latest.store(this.blocks.addr(blk + i), v);
    }
  }

  /** Stamp the whole medium as version 1, in memory or in the device's real file. Main thread, before workers run. */
  formatMedium(): void {
    if (this.d.file) this.formatFile(this.d.file);
    else this.format(this.arena.region(`dev.${this.unit}.store`).offset);
  }

  /**
   * Stamp the whole medium as version 1 in a real file, created or emptied (a file-backed device;
   * main thread, before workers run). The stamps live in the data, so the oracle checks a file's
   * reads as it checks memory's.
   */
  formatFile(path: string): void {
    const bs = this.d.blockSize;
    const per = Math.max(1, Math.floor((1 << 20) / bs));
    const buf = Buffer.alloc(per * bs);
    const w = new Int32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
    const fd = openSync(path, 'w');
    try {
      for (let b0 = 0; b0 < this.d.blocks; b0 += per) {
        const n = Math.min(per, this.d.blocks - b0);
        for (let i = 0; i < n; i++) stampWords(w, (i * bs) >>> 2, bs >>> 2, b0 + i, 1, 0);
        writeSync(fd, buf, 0, n * bs, b0 * bs);
      }
    } finally {
      closeSync(fd);
    }
    for (let b = 0; b < this.d.blocks; b++) {
      const ob = this.blocks.addr(b);
      this.ob_nextver.store(ob, 1);
      this.ob_latest.store(ob, 1);
    }
  }

  /** Stamp the whole medium as version 1 (main thread, before workers run; memory-backed only). */
  format(media: number): void {
    for (let b = 0; b < this.d.blocks; b++) {
      const ob = this.blocks.addr(b);
      this.ob_nextver.store(ob, 1);
      this.fill(media + b * this.d.blockSize, b, 1);
      this.ob_latest.store(ob, 1);
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
      const w = words(this.arena.readBytes(data + i * bs, bs));
      if (w[0] !== STAMP_MAGIC || w[1] !== b) {
        out.push({ block: b, kind: 'corrupt', expected: floor[i], got: -1, message: `block ${b} of ${this.d.name}: not stamped for this block (magic ${w[0] >>> 0}, block ${w[1]})` });
        continue;
      }
      const v = w[2];
      let torn = false;
      for (let k = 4; k < bs >>> 2; k++) {
        if (w[k] !== bodyWord(b, v, k)) {
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
