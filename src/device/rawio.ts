/**
 * Raw device I/O through a pbuf: the simplest strategy caller. Synchronous (`strategy` +
 * `biowait`) or asynchronous (a named bio_done callback runs on the completing cpu).
 */
import { ContractError } from '../sync/errno.js';
import { BUF_CMD_READ, BUF_CMD_WRITE, b_bio1 } from './buf.js';
import type { Devices } from './disk.js';

export interface RawResult {
  error: number;
  resid: number;
}

/**
 * Prepare pbuf `bp` for a transfer of `nblk` blocks at block `blk` of `unit`; returns the
 * device-layer bio. The caller owns the pbuf (getpbuf) and nobody else looks at it until the
 * strategy call publishes it (the device queue's spinlock, or the caller's own thread for a cache
 * hit), so its buf words are written plainly.
 */
export function setupRaw(dev: Devices, bp: number, unit: number, write: boolean, blk: number, nblk: number, data: number): number {
  const io = dev.io;
  const d = dev.conf[unit];
  const f = io.bf;
  const bytes = nblk * d.blockSize;
  f.b_cmd.set(bp, write ? BUF_CMD_WRITE : BUF_CMD_READ);
  f.b_data.set(bp, data);
  f.b_bcount.set(bp, bytes);
  f.b_bufsize.set(bp, bytes);
  f.b_resid.set(bp, bytes);
  f.b_error.set(bp, 0);
  f.b_flags.set(bp, 0);
  f.b_dev.set(bp, unit);
  const bio2 = io.push_bio(b_bio1(bp));
  io.set_offset_own(bio2, blk * d.blockSize);
  return bio2;
}

/** Read or write `nblk` blocks synchronously; sleeps in biowait. */
export function rawSync(dev: Devices, unit: number, write: boolean, blk: number, nblk: number, data: number, wmesg?: string): RawResult {
  const bp = dev.pbufs.getpbuf();
  if (bp === null) throw new ContractError('rawSync: no pbuf');
  try {
    const bio2 = setupRaw(dev, bp, unit, write, blk, nblk, data);
    const bio1 = dev.io.setup_sync(bp);
    dev.dev_dstrategy(unit, bio2);
    const error = dev.io.biowait(bio1, wmesg ?? null);
    return { error, resid: dev.io.B.load(bp, 'b_resid') };
  } finally {
    dev.pbufs.relpbuf(bp);
  }
}

/**
 * Start an asynchronous transfer; `done` (a registered bio_done name) runs on the completing cpu
 * with b_bio1 and must release the pbuf (`dev.pbufs.relpbuf`). `cookie` lands in bio_caller1.
 */
export function rawAsync(dev: Devices, unit: number, write: boolean, blk: number, nblk: number, data: number, done: string, cookie = 0): void {
  const bp = dev.pbufs.getpbuf();
  if (bp === null) throw new ContractError('rawAsync: no pbuf');
  const bio2 = setupRaw(dev, bp, unit, write, blk, nblk, data);
  const bio1 = b_bio1(bp);
  dev.io.O.store(bio1, 'bio_caller1', cookie);
  dev.io.set_done(bio1, done);
  dev.dev_dstrategy(unit, bio2);
}
