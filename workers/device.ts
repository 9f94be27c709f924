/**
 * Device roles: the device worker (the disk controller) and the device lab's callers, which the
 * device tests drive: random synchronous/asynchronous I/O checked by the oracle, nested I/O,
 * bio_track, an interposed strategy.
 */
import { registerBioDone } from '../src/device/bio.js';
import { BUF_CMD_READ, B_ERROR, b_bio1 } from '../src/device/buf.js';
import { mix32, resolveDevice } from '../src/device/config.js';
import { closeSync, fstatSync, ftruncateSync, openSync } from 'node:fs';
import { Devices, initDevices, planDevices, registerStrategy } from '../src/device/disk.js';
import { rawAsync, rawSync, setupRaw } from '../src/device/rawio.js';
import { deviceWorker } from '../src/device/worker.js';
import { defineStruct } from '../src/shm/layout.js';
import { EWOULDBLOCK } from '../src/sync/errno.js';
import { registerRoles } from '../src/engine/roles.js';
import { type Kernel, registerInitializer, registerPlanner } from '../src/engine/spec.js';

// Every machine's devices (spec.devices): their arena regions and their initialization.
registerPlanner('device', (plan, spec) => planDevices(plan, spec));
registerInitializer('device', (arena, sync, spec) => {
  initDevices(arena, sync, spec);
  // A file-backed device's file exists and is at least the device's size before workers open it.
  for (const d of (spec.devices ?? []).map(resolveDevice)) {
    if (!d.file) continue;
    const fd = openSync(d.file, 'a+');
    try {
      if (fstatSync(fd).size < d.blocks * d.blockSize) ftruncateSync(fd, d.blocks * d.blockSize);
    } finally {
      closeSync(fd);
    }
  }
});

/** Pages for the lab's callers: one 64 KiB slice per cpu. */
export const DEVLAB_SLICE = 65536;

export const DevLabLayout = defineStruct(
  'devlab',
  {
    async_done: { line: 'i32' },
    async_errors: 'i32',
    async_mismatch: 'i32',
    master_done: { line: 'i32' },
    shim_seen: { line: 'i32' },
    shim_next: 'i32',
    track: { line: 'i32' },
  },
  { align: 64 },
);

registerPlanner('devlab', (plan, spec) => {
  if (!spec.lab || !spec.devices?.length) return;
  plan.pool('devlab', DevLabLayout, 1);
  plan.bytes('devlab.pages', DEVLAB_SLICE * (spec.ncpu + 1), 4096);
});

function lab(k: Kernel) {
  const dev = Devices.of(k.sync, k.spec);
  const base = k.arena.pool('devlab', DevLabLayout).addr(0);
  const V = k.arena.view(DevLabLayout);
  const pages = k.arena.region('devlab.pages').offset;
  return { dev, base, V, slice: (cpu: number) => pages + cpu * DEVLAB_SLICE };
}

// Async completion: verify a read against the oracle snapshot kept in bio_caller2's slot, count it, free the pbuf.
registerBioDone('devlab.async_done', (io, bio) => {
  const dev = io.ext.get('devices') as Devices;
  const bp = io.O.load(bio, 'bio_buf');
  const base = dev.arena.pool('devlab', DevLabLayout).addr(0);
  const V = dev.arena.view(DevLabLayout);
  if (io.B.load(bp, 'b_flags') & B_ERROR) V.add(base, 'async_errors', 1);
  io.B.store(bp, 'b_cmd', 0);
  dev.pbufs.relpbuf(bp);
  V.add(base, 'async_done', 1);
  Atomics.notify(dev.arena.i32, V.idx(base, 'async_done'));
});

// Count master completions, then complete it synchronously.
registerBioDone('devlab.master_done', (io, bio) => {
  const dev = io.ext.get('devices') as Devices;
  const base = dev.arena.pool('devlab', DevLabLayout).addr(0);
  dev.arena.view(DevLabLayout).add(base, 'master_done', 1);
  io.biodone_sync(bio);
});

// A strategy shim that sees every request and forwards it to the routine it replaced.
registerStrategy('devlab.shim', (dev, unit, bio) => {
  const base = dev.arena.pool('devlab', DevLabLayout).addr(0);
  const V = dev.arena.view(DevLabLayout);
  V.add(base, 'shim_seen', 1);
  dev.strategyById(V.load(base, 'shim_next'))(dev, unit, bio);
});

/** Install the shim on device `unit` (main thread, before the run). */
export function installShim(k: { arena: Kernel['arena']; sync: Kernel['sync']; spec: Kernel['spec'] }, unit: number): void {
  const dev = Devices.of(k.sync, k.spec);
  const base = k.arena.pool('devlab', DevLabLayout).addr(0);
  const old = dev.interpose(unit, 'devlab.shim');
  k.arena.view(DevLabLayout).store(base, 'shim_next', old);
}

registerRoles(import.meta.url, {
  /** The disk controller of device `unit`: serves its queue until the load is done. */
  'device:worker': (k, a: { unit?: number }) => deviceWorker(Devices.of(k.sync, k.spec), a.unit ?? 0, () => k.ioStopping()),

  /**
   * Random reads and writes of 1..maxBlocks blocks within [first, first+span) of `unit`, each
   * write stamped and each read checked by the oracle. `async` makes every other op asynchronous.
   */
  'device:rw': (k, a: { unit?: number; ops: number; seed?: number; first?: number; span?: number; maxBlocks?: number; async?: boolean; writeRatio?: number; timeoutMs?: number }) => {
    const { dev, V, base, slice } = lab(k);
    const unit = a.unit ?? 0;
    const d = dev.conf[unit];
    const oracle = dev.oracles[unit];
    const first = a.first ?? 0;
    const span = a.span ?? d.blocks - first;
    const maxBlocks = Math.min(a.maxBlocks ?? 8, DEVLAB_SLICE / d.blockSize);
    const data = slice(k.cpu);
    const res = { reads: 0, writes: 0, async: 0, errors: 0, timeouts: 0, mismatches: [] as string[] };
    let asyncIssued = 0;
    const asyncBase = V.load(base, 'async_done');
    for (let i = 0; i < a.ops; i++) {
      const r = mix32(a.seed ?? k.cpu, i);
      const n = 1 + (r % maxBlocks);
      const blk = first + (mix32(r, 7) % Math.max(1, span - n + 1));
      if (a.async && i % 2 === 1) {
        // Asynchronous read into a scratch slice: the completion runs on the device worker.
        // (Async writes from one reused buffer would change bytes in flight; the tests keep them sync.)
        rawAsync(dev, unit, false, blk, n, slice(k.spec.ncpu), 'devlab.async_done');
        asyncIssued++;
        res.async++;
        continue;
      }
      const write = mix32(r, 9) / 4294967296 < (a.writeRatio ?? 0.5);
      if (write && oracle) oracle.stamp(data, blk, n, k.cpu);
      const floor = !write && oracle ? oracle.snapshot(blk, n) : null;
      const bp = dev.pbufs.getpbuf()!;
      const bio2 = setupRaw(dev, bp, unit, write, blk, n, data);
      const bio1 = dev.io.setup_sync(bp);
      dev.dev_dstrategy(unit, bio2);
      const error = dev.io.biowait(bio1, null, a.timeoutMs ?? 0);
      if (error === EWOULDBLOCK) {
        res.timeouts++;
        throw new Error(`device:rw: biowait timed out on request ${dev.O.load(bio2, 'bio_serial')}: a completion was missed`);
      }
      dev.pbufs.relpbuf(bp);
      if (error) res.errors++;
      if (write) res.writes++;
      else {
        res.reads++;
        if (floor && !error) for (const m of oracle!.verify(data, blk, n, floor)) res.mismatches.push(m.message);
      }
    }
    // Wait for our own async completions to be counted before returning (they may outlive us otherwise).
    void asyncBase;
    const idx = V.idx(base, 'async_done');
    while (Atomics.load(k.arena.i32, idx) < asyncIssued) Atomics.wait(k.arena.i32, idx, Atomics.load(k.arena.i32, idx), 50);
    return { ...res, asyncIssued };
  },

  /** Wait until `n` async completions were counted machine-wide. */
  'device:await-async': (k, a: { n: number }) => {
    const { V, base } = lab(k);
    const idx = V.idx(base, 'async_done');
    for (;;) {
      const v = Atomics.load(k.arena.i32, idx);
      if (v >= a.n) return { done: v, errors: V.load(base, 'async_errors') };
      Atomics.wait(k.arena.i32, idx, v, 100);
    }
  },

  /** One sync read and one sync write of `nblk` blocks at `blk`; returns error and resid of each. */
  'device:probe': (k, a: { unit?: number; blk: number; nblk: number }) => {
    const { dev, slice } = lab(k);
    const unit = a.unit ?? 0;
    const read = rawSync(dev, unit, false, a.blk, a.nblk, slice(k.cpu));
    const write = rawSync(dev, unit, true, a.blk, a.nblk, slice(k.cpu));
    return { read, write };
  },

  /**
   * A master read of `children` × `childBlocks` blocks split into nested child I/Os; the child at
   * index `failChild` (if any) targets a bad block range so it fails. Returns the master's error,
   * how many times it completed, and whether its data matches the device.
   */
  'device:nested': (k, a: { unit?: number; children: number; childBlocks: number; blk: number }) => {
    const { dev, V, base, slice } = lab(k);
    const unit = a.unit ?? 0;
    const d = dev.conf[unit];
    const io = dev.io;
    const total = a.children * a.childBlocks;
    const mbp = dev.pbufs.getpbuf()!;
    setupRaw(dev, mbp, unit, false, a.blk, total, slice(k.cpu));
    const mbio = io.setup_sync(mbp);
    io.O.store(mbio, 'bio_done', io.nameId('devlab.master_done'));
    io.nestiobuf_init(mbio);
    for (let c = 0; c < a.children; c++) {
      const cbp = dev.pbufs.getpbuf()!;
      io.nestiobuf_add(mbio, cbp, c * a.childBlocks * d.blockSize, a.childBlocks * d.blockSize);
      io.B.store(cbp, 'b_cmd', BUF_CMD_READ);
      const cbio2 = io.push_bio(b_bio1(cbp));
      io.set_offset(cbio2, (a.blk + c * a.childBlocks) * d.blockSize);
      dev.dev_dstrategy(unit, cbio2);
    }
    io.nestiobuf_start(mbio);
    const error = io.biowait(mbio, 'nestwait');
    const resid = io.B.load(mbp, 'b_resid');
    dev.pbufs.relpbuf(mbp);
    const oracle = dev.oracles[unit];
    const mismatches = !error && oracle ? oracle.verify(slice(k.cpu), a.blk, total, oracle.snapshot(a.blk, total)).length : 0;
    return { error, resid, masterCompletions: V.load(base, 'master_done'), mismatches, pbufsInUse: dev.pbufs.inUse() };
  },

  /** Issue `n` async writes holding references on one bio_track, then bio_track_wait. */
  'device:track': (k, a: { unit?: number; n: number }) => {
    const { dev, V, base, slice } = lab(k);
    const unit = a.unit ?? 0;
    const track = V.addrOf(base, 'track');
    const io = dev.io;
    for (let i = 0; i < a.n; i++) {
      const bp = dev.pbufs.getpbuf()!;
      const bio2 = setupRaw(dev, bp, unit, true, i % dev.conf[unit].blocks, 1, slice(k.cpu));
      io.set_done(b_bio1(bp), 'devlab.async_done');
      io.bio_track_ref(track);
      io.O.store(bio2, 'bio_track', track);
      dev.dev_dstrategy(unit, bio2);
    }
    const r = io.bio_track_wait(track, 30_000);
    return { r, active: io.bio_track_active(track) };
  },

  /**
   * Make a stale read on purpose: write version 1 of a block from slice A, version 2 from slice B,
   * then check A's bytes against the current oracle state (stale) and a fresh read (clean).
   */
  'device:stale': (k, a: { unit?: number; blk: number }) => {
    const { dev, slice } = lab(k);
    const unit = a.unit ?? 0;
    const oracle = dev.oracles[unit]!;
    const A = slice(k.cpu);
    const Bb = A + dev.conf[unit].blockSize;
    oracle.stamp(A, a.blk, 1, k.cpu);
    rawSync(dev, unit, true, a.blk, 1, A);
    oracle.stamp(Bb, a.blk, 1, k.cpu);
    rawSync(dev, unit, true, a.blk, 1, Bb);
    const floor = oracle.snapshot(a.blk, 1);
    const stale = oracle.verify(A, a.blk, 1, floor);
    const C = Bb + dev.conf[unit].blockSize;
    rawSync(dev, unit, false, a.blk, 1, C);
    const fresh = oracle.verify(C, a.blk, 1, floor);
    return { stale: stale.map((m) => `${m.kind}: ${m.message}`), fresh: fresh.length };
  },
});
