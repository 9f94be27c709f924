/**
 * Workloads for BootCache: the synthetic boot (a playlist and the request stream a boot makes
 * against it, with some misses and writes) and the trace format (`R|W offset length` or `T tag`
 * per line, bytes).
 */
import { mix32 } from '../device/config.js';
import { EINVAL, KernelError } from '../sync/errno.js';
import { PH_MAGIC } from './defs.js';
import type { Playlist } from './playlist.js';

export interface BCRequest {
  op: 'R' | 'W' | 'T';
  offset: number;
  length: number;
  /** Seconds after the first request of a recorded workload (replayed at that time when asked). */
  t?: number;
}

export interface SynthBootOptions {
  seed?: number;
  /** Device size in blocks and block size. */
  blocks: number;
  blockSize: number;
  /** Playlist entries. */
  extents?: number;
  /** Batches the playlist is split into (by first use). */
  batches?: number;
  /** Requests in the stream. */
  requests?: number;
  /** Fraction of reads that fall outside the playlist. */
  missRatio?: number;
  /** Fraction of requests that are writes (anywhere, often over playlist extents). */
  writeRatio?: number;
  /** Largest request, blocks. */
  maxBlocks?: number;
}

/**
 * A boot: `extents` ranges of 2..32 blocks spread over the first half of the device (in
 * batches by first use), then a stream that reads every extent in pieces in playlist-batch order
 * (slightly shuffled, a tag where each batch starts), with misses in the second half of the
 * device and writes sprinkled in.
 */
export function synthBoot(o: SynthBootOptions): { playlist: Playlist; requests: BCRequest[] } {
  const seed = o.seed ?? 1;
  const bs = o.blockSize;
  const n = o.extents ?? 256;
  const batches = Math.max(1, o.batches ?? 3);
  const half = Math.floor(o.blocks / 2);
  const maxBlocks = o.maxBlocks ?? 16;
  const stride = Math.max(4, Math.floor(half / n));
  const entries: Playlist['entries'] = [];
  for (let i = 0; i < n; i++) {
    const start = i * stride + (mix32(seed, i) % Math.max(1, stride - 2));
    const len = Math.min(2 + (mix32(seed, i + 7919) % 31), stride - (start - i * stride));
    if (len < 1 || start + len > half) break;
    entries.push({ pce_offset: start * bs, pce_length: len * bs, pce_batch: Math.floor((i * batches) / n) });
  }
  // Reads in first-use order: batch 0 extents first; inside, pieces of up to maxBlocks.
  const order = entries.map((e, i) => ({ e, key: e.pce_batch * n + (mix32(seed ^ 0x55, i) % Math.max(1, Math.floor(n / batches))) }));
  order.sort((a, b) => a.key - b.key);
  const reads: BCRequest[] = [];
  let batch = 0;
  for (const { e } of order) {
    // A tag where a new batch starts, as the boot's userland marks its phases (the boot loop's batches).
    if (e.pce_batch !== batch) reads.push({ op: 'T', offset: (batch = e.pce_batch), length: 0 });
    for (let off = 0; off < e.pce_length; ) {
      const len = Math.min(e.pce_length - off, (1 + (mix32(seed, e.pce_offset + off) % maxBlocks)) * bs);
      reads.push({ op: 'R', offset: e.pce_offset + off, length: len });
      off += len;
    }
  }
  const total = o.requests ?? Math.ceil(reads.length / Math.max(0.05, 1 - (o.missRatio ?? 0.1) - (o.writeRatio ?? 0.05)));
  const out: BCRequest[] = [];
  let r = 0;
  for (let i = 0; out.length < total; i++) {
    const x = mix32(seed ^ 0xabc, i) / 4294967296;
    const nblk = 1 + (mix32(seed ^ 0xdef, i) % maxBlocks);
    if (x < (o.writeRatio ?? 0.05)) {
      const blk = mix32(seed ^ 0x123, i) % (half - nblk);
      out.push({ op: 'W', offset: blk * bs, length: nblk * bs });
    } else if (x < (o.writeRatio ?? 0.05) + (o.missRatio ?? 0.1) || r >= reads.length) {
      const blk = half + (mix32(seed ^ 0x456, i) % (o.blocks - half - nblk));
      out.push({ op: 'R', offset: blk * bs, length: nblk * bs });
    } else {
      out.push(reads[r++]);
    }
  }
  return { playlist: { ph_magic: PH_MAGIC, ph_blocksize: bs, entries }, requests: out };
}

/** Parse a trace: `R offset length`, `W offset length`, `T tag` per line (`#` comments). EINVAL names the line. */
export function parseTrace(text: string): BCRequest[] {
  const out: BCRequest[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const s = raw.replace(/#.*/, '').trim();
    if (!s) return;
    const f = s.split(/\s+/);
    const op = f[0].toUpperCase();
    const nums = f.slice(1).map((x) => (/^(0x[0-9a-f]+|\d+)$/i.test(x) ? Number(x) : NaN));
    if (op === 'T' && nums.length === 1 && Number.isSafeInteger(nums[0])) out.push({ op: 'T', offset: nums[0], length: 0 });
    else if ((op === 'R' || op === 'W') && nums.length === 2 && nums.every(Number.isSafeInteger) && nums[1] > 0) out.push({ op, offset: nums[0], length: nums[1] });
    else throw new KernelError(EINVAL, `trace line ${i + 1}: expected "R|W offset length" or "T tag", got ${JSON.stringify(s)}`);
  });
  return out;
}

/** Deal a stream to `n` callers round-robin in chunks of `chunk` requests (keeps locality per caller). */
export function dealRequests(reqs: BCRequest[], n: number, chunk = 8): BCRequest[][] {
  const out: BCRequest[][] = Array.from({ length: n }, () => []);
  for (let i = 0; i < reqs.length; i++) out[Math.floor(i / chunk) % n].push(reqs[i]);
  return out;
}
