/**
 * The device worker: the disk controller. It takes requests off its device's queue and serves
 * them: faults decided, data copied (shared memory) or read/written (a real file, with p-queue
 * bounding the requests in flight to the queue depth), latency waited out by sleeping, never by
 * spinning, and the I/O completed with biodone.
 */
import { open } from 'node:fs/promises';
import PQueue from 'p-queue';
import { Field } from '../shm/view.js';
import { PINTERLOCKED } from '../sync/sync.js';
import { BUF_CMD_READ } from './buf.js';
import { serviceTimeMs } from './config.js';
import type { Devices } from './disk.js';

export interface DeviceWorkerResult {
  unit: number;
  served: number;
}

/** A private word outside the arena that nobody notifies: waiting on it is a plain sleep. */
const nap = new Field(new Int32Array(new SharedArrayBuffer(4)), 0);

/** Sleep `ms` without spinning (a device waiting out its latency model). */
function sleepMs(ms: number): void {
  if (ms > 0) nap.wait(0, 0, ms);
}

/**
 * Serve device `unit` until `stop()` is true and its queue is empty. Memory-backed devices are
 * served synchronously; file-backed ones asynchronously (returns a promise).
 */
export function deviceWorker(dev: Devices, unit: number, stop: () => boolean): DeviceWorkerResult | Promise<DeviceWorkerResult> {
  if (dev.conf[unit].file) return fileWorker(dev, unit, stop);
  const s = dev.sync;
  const d = dev.conf[unit];
  const dp = dev.disk(unit);
  const ch = dev.D.addrOf(dp, 'd_wchan');
  let last = 0;
  let served = 0;
  for (;;) {
    const bio = dev.dequeue(unit);
    if (bio === 0) {
      if (stop()) break;
      s.tsleep_interlock(ch);
      if (dev.D.load(dp, 'd_qlen') > 0 || stop()) {
        s.tsleep_remove();
        continue;
      }
      s.tsleep(ch, PINTERLOCKED, 'devidle', 50);
      continue;
    }
    const t0 = performance.now();
    const fate = dev.fate(unit, bio);
    const blk = dev.io.offset(bio) / d.blockSize;
    const bytes = dev.io.B.load(dev.O.load(bio, 'bio_buf'), 'b_bcount');
    const model = serviceTimeMs(d, last, blk, bytes);
    last = blk + bytes / d.blockSize;
    if (fate.bytes > 0) dev.transferMemory(unit, bio, fate.bytes);
    sleepMs(model - (performance.now() - t0));
    const serviceMs = performance.now() - t0;
    s.device_busy(serviceMs * 1000);
    dev.complete(unit, bio, fate, serviceMs);
    s.progress();
    served++;
  }
  return { unit, served };
}

async function fileWorker(dev: Devices, unit: number, stop: () => boolean): Promise<DeviceWorkerResult> {
  const s = dev.sync;
  const d = dev.conf[unit];
  const dp = dev.disk(unit);
  const ch = dev.D.addrOf(dp, 'd_wchan');
  const fh = await open(d.file!, 'r+');
  const q = new PQueue({ concurrency: d.queueDepth });
  const oracle = dev.oracles[unit];
  let last = 0;
  let served = 0;
  const serve = async (bio: number): Promise<void> => {
    const t0 = performance.now();
    const bp = dev.O.load(bio, 'bio_buf');
    const B = dev.io.B;
    const off = dev.io.offset(bio);
    const blk = off / d.blockSize;
    const fate = dev.fate(unit, bio);
    const model = serviceTimeMs(d, last, blk, B.load(bp, 'b_bcount'));
    last = blk;
    if (fate.bytes > 0) {
      const data = B.load(bp, 'b_data');
      // The transfer goes through a private buffer and reaches the arena as one range copy when
      // the file I/O completes (a write: when it starts), on this worker's thread.
      if (B.load(bp, 'b_cmd') === BUF_CMD_READ) {
        const buf = Buffer.alloc(fate.bytes); // past the end of a sparse file reads as zeros
        await fh.read(buf, 0, fate.bytes, off);
        dev.arena.writeBytes(data, buf);
      } else {
        await fh.write(dev.arena.readBytes(data, fate.bytes), 0, fate.bytes, off);
        // --device-sync: the write is on stable storage before it completes.
        if (d.syncWrites) await fh.datasync();
        oracle?.recordWrite(data, blk, fate.bytes / d.blockSize);
      }
    }
    const rem = model - (performance.now() - t0);
    if (rem > 0) await new Promise((r) => setTimeout(r, rem));
    dev.complete(unit, bio, fate, performance.now() - t0);
    served++;
  };
  let failure: unknown = null;
  try {
    for (;;) {
      let took = 0;
      while (q.size + q.pending < d.queueDepth) {
        const bio = dev.dequeue(unit);
        if (bio === 0) break;
        took++;
        q.add(() => serve(bio)).catch((e: unknown) => {
          failure ??= e;
        });
      }
      if (failure) throw failure;
      if (took === 0) {
        if (stop() && q.size + q.pending === 0 && dev.D.load(dp, 'd_qlen') === 0) break;
        // Sleep briefly while I/O is in flight so its completions can run on this event loop.
        s.tsleep_interlock(ch);
        if (dev.D.load(dp, 'd_qlen') > 0) s.tsleep_remove();
        else s.tsleep(ch, PINTERLOCKED, 'devidle', q.pending > 0 ? 0.5 : 20);
      }
      await new Promise((r) => setImmediate(r));
      s.progress();
    }
    await q.onIdle();
  } finally {
    await fh.close();
  }
  return { unit, served };
}
