/**
 * The simulated disk: per device a request queue in shared memory (under a spinlock, optionally
 * in elevator order), a strategy entry that can be interposed, device workers that serve the
 * queue, fault injection, a latency model, the data oracle and statistics.
 *
 * Requests are bios whose offset is the device byte offset (usually b_bio2 after push_bio).
 * The device copies between the backing store and b_data, sets b_resid / b_error / B_ERROR and
 * completes the I/O with biodone.
 */
import type { Arena, ArenaPlan, Pool } from '../shm/arena.js';
import { defineStruct } from '../shm/layout.js';
import type { Field, StructView } from '../shm/view.js';
import { ContractError, EINVAL, EIO } from '../sync/errno.js';
import { LK_SPIN, LockLayout } from '../sync/layouts.js';
import type { Sync } from '../sync/sync.js';
import { BioLayer } from './bio.js';
import { BUF_CMD_READ, BUF_CMD_WRITE, B_ERROR, BioLayout, type BioField } from './buf.js';
import { type DeviceSpecPart, type ResolvedDevice, rand01, resolveDevice } from './config.js';
import { Oracle } from './oracle.js';
import { PbufPool } from './pbuf.js';

export const HIST_BUCKETS = 32;

/**
 * struct disk (one per device).
 *  d_qlock      spinlock protecting d_head/d_tail/d_qlen/d_lastblk and the bios' bio_actnext;
 *               d_qlen is also peeked at unlocked (the device worker's idle test), so it is written
 *               atomically.
 *  d_strategy   atomic: name id of the strategy routine (interposable, as d_strategy is).
 *  d_serial     atomic: request serial numbers.
 *  stats        atomic counters updated by device workers; histograms of service time (log2 µs)
 *               and queue depth at enqueue.
 */
export const DiskLayout = defineStruct(
  'disk',
  {
    d_qlock: { struct: LockLayout },
    d_media: { struct: LockLayout },
    d_head: { line: 'i32' },
    d_tail: 'i32',
    d_qlen: 'i32',
    d_lastblk: 'i32',
    d_wchan: 'i32',
    d_strategy: { line: 'i32' },
    d_serial: 'i32',
    d_inflight: 'i32',
    d_dead: 'i32',
    d_reads: { line: 'i32' },
    d_writes: 'i32',
    d_bytes_read: 'i64',
    d_bytes_written: 'i64',
    d_eio_bad: 'i32',
    d_eio_transient: 'i32',
    d_short: 'i32',
    d_einval: 'i32',
    d_service_us: 'i64',
    d_svc_hist: { i32: HIST_BUCKETS, line: true },
    d_qdepth_hist: { i32: HIST_BUCKETS, line: true },
  },
  // The service time is the host's wall time: not a scheduling point (layout.ts, quiet).
  { align: 64, quiet: ['d_service_us', 'd_svc_hist'] },
);
export type DiskField = keyof typeof DiskLayout.off;

export type StrategyFn = (dev: Devices, unit: number, bio: number) => void;
const strategies = new Map<string, StrategyFn>();

/** Register a strategy routine under `name` (in every worker, at module load). */
export function registerStrategy(name: string, fn: StrategyFn): void {
  strategies.set(name, fn);
}

export function planDevices(plan: ArenaPlan, spec: DeviceSpecPart): void {
  const devs = (spec.devices ?? []).map(resolveDevice);
  if (devs.length === 0) return;
  plan.pool('dev.disks', DiskLayout, devs.length);
  devs.forEach((d, i) => {
    if (!d.file) plan.bytes(`dev.${i}.store`, d.blocks * d.blockSize, 4096, 'media');
    if (d.oracle) Oracle.plan(plan, i, d);
  });
  PbufPool.plan(plan, spec.npbuf ?? 64);
}

export function initDevices(arena: Arena, sync: Sync, spec: DeviceSpecPart): void {
  const devs = (spec.devices ?? []).map(resolveDevice);
  if (devs.length === 0) return;
  const D = arena.view(DiskLayout);
  const pool = arena.pool('dev.disks', DiskLayout);
  const strat = sync.intern('disk_strategy');
  devs.forEach((d, i) => {
    const dp = pool.addr(i);
    sync.lock_init(D.addrOf(dp, 'd_qlock'), 'disk_queue', LK_SPIN);
    sync.lock_init(D.addrOf(dp, 'd_media'), 'disk_media', LK_SPIN);
    D.store(dp, 'd_strategy', strat);
    D.store(dp, 'd_lastblk', 0);
    if (d.oracle) Oracle.init(arena, i, d);
  });
  PbufPool.init(arena, sync, spec.npbuf ?? 64);
}

const attached = new WeakMap<Sync, Devices>();

/** The devices of a machine, as one worker sees them. */
export class Devices {
  readonly io: BioLayer;
  readonly D: StructView<DiskField>;
  readonly O: StructView<BioField>;
  readonly disks: Pool<DiskField>;
  readonly conf: ResolvedDevice[];
  readonly oracles: (Oracle | null)[];
  readonly pbufs: PbufPool;
  private readonly bio_actnext: Field;
  private readonly d_strategy: Field;
  /** Strategy routines by name id (ids are small: the machine's name table). */
  private readonly stratCache: (StrategyFn | undefined)[] = [];

  static of(sync: Sync, spec: DeviceSpecPart): Devices {
    let d = attached.get(sync);
    if (!d) {
      d = new Devices(sync, spec);
      attached.set(sync, d);
    }
    return d;
  }

  private constructor(
    readonly sync: Sync,
    spec: DeviceSpecPart,
  ) {
    const arena = sync.arena;
    this.conf = (spec.devices ?? []).map(resolveDevice);
    if (this.conf.length === 0) throw new ContractError('devices: the machine spec has no devices');
    this.io = BioLayer.of(sync);
    this.D = arena.view(DiskLayout);
    this.O = arena.view(BioLayout);
    this.disks = arena.pool('dev.disks', DiskLayout);
    this.oracles = this.conf.map((d, i) => (d.oracle ? new Oracle(arena, i, d) : null));
    this.pbufs = new PbufPool(sync);
    this.io.ext.set('pbufs', this.pbufs);
    this.io.ext.set('devices', this);
    this.bio_actnext = this.O.field('bio_actnext');
    this.d_strategy = this.D.field('d_strategy');
  }

  get arena(): Arena {
    return this.sync.arena;
  }

  disk(unit: number): number {
    return this.disks.addr(unit);
  }

  /** Index of the device named `name`. */
  unit(name: string): number {
    const i = this.conf.findIndex((d) => d.name === name);
    if (i < 0) throw new RangeError(`devices: no device named ${JSON.stringify(name)} (have ${this.conf.map((d) => d.name).join(', ')})`);
    return i;
  }

  /** Byte offset of a memory-backed device's store in the arena. */
  store(unit: number): number {
    return this.arena.region(`dev.${unit}.store`).offset;
  }

  // ------------------------------------------------------------- strategy

  /** Issue `bio` to device `unit` through its current strategy routine (dev_dstrategy). */
  dev_dstrategy(unit: number, bio: number): void {
    this.strategyById(this.d_strategy.load(this.disk(unit)))(this, unit, bio);
  }

  /** Call a strategy routine by name id (an interposer forwarding to the routine it replaced). */
  strategyById(id: number): StrategyFn {
    let f = this.stratCache[id];
    if (!f) {
      const name = this.sync.nameOf(id);
      f = strategies.get(name);
      if (!f) throw new ContractError(`dev_dstrategy: no strategy routine named "${name}" in this worker`);
      this.stratCache[id] = f;
    }
    return f;
  }

  /**
   * Replace device `unit`'s strategy routine with `name`; returns the id of the routine it
   * replaced (the interposer keeps it and forwards to it). Atomic for every worker at once.
   */
  interpose(unit: number, name: string, expectedOld?: number): number {
    const id = this.sync.intern(name);
    const dp = this.disk(unit);
    if (expectedOld === undefined) return this.D.exchange(dp, 'd_strategy', id);
    const seen = this.D.cas(dp, 'd_strategy', expectedOld, id);
    if (seen !== expectedOld) throw new ContractError(`interpose: device ${unit} strategy changed underneath (${this.sync.nameOf(seen)})`);
    return seen;
  }

  /**
   * The device's own strategy (disk_strategy): validate, number the request, queue it (elevator
   * order if configured) and wake a device worker. Never sleeps.
   */
  disk_strategy(unit: number, bio: number): void {
    const d = this.conf[unit];
    const dp = this.disk(unit);
    const O = this.O;
    const io = this.io;
    const bp = O.load(bio, 'bio_buf');
    const off = io.offset(bio);
    const count = io.B.load(bp, 'b_bcount');
    const cmd = io.B.load(bp, 'b_cmd');
    O.store(bio, 'bio_serial', this.D.add(dp, 'd_serial', 1) + 1);
    if (this.D.load(dp, 'd_dead')) throw new ContractError(`disk_strategy: device ${d.name} is gone (request on a dead device)`);
    if (off < 0 || off % d.blockSize !== 0 || count % d.blockSize !== 0 || off + count > d.blocks * d.blockSize || (cmd !== BUF_CMD_READ && cmd !== BUF_CMD_WRITE)) {
      // Reject at once, as a driver does with a request past the end or misaligned.
      this.D.add(dp, 'd_einval', 1);
      io.B.store(bp, 'b_error', EINVAL);
      io.B.or(bp, 'b_flags', B_ERROR);
      io.B.store(bp, 'b_resid', count);
      io.biodone(bio);
      return;
    }
    const blk = off / d.blockSize;
    const s = this.sync;
    const lk = this.D.addrOf(dp, 'd_qlock');
    s.spin_lock(lk);
    const qlen = this.D.get(dp, 'd_qlen');
    this.D.addAt(dp, 'd_qdepth_hist', Math.min(qlen, HIST_BUCKETS - 1), 1);
    this.bio_actnext.set(bio, 0);
    if (!d.elevator || qlen === 0) {
      const tail = this.D.get(dp, 'd_tail');
      if (tail === 0) this.D.set(dp, 'd_head', bio);
      else this.bio_actnext.set(tail, bio);
      this.D.set(dp, 'd_tail', bio);
    } else {
      this.disksort(dp, bio, blk, d.blockSize);
    }
    // Atomic although under d_qlock: the device worker and dequeue peek at d_qlen unlocked.
    this.D.store(dp, 'd_qlen', qlen + 1);
    s.spin_unlock(lk);
    s.wakeup_one(this.D.addrOf(dp, 'd_wchan'));
  }

  /**
   * Insert into the queue kept in C-LOOK order: ascending block numbers from the head position,
   * then (the next sweep) ascending from the lowest. Caller holds d_qlock.
   */
  private disksort(dp: number, bio: number, blk: number, blockSize: number): void {
    const pos = this.D.get(dp, 'd_lastblk');
    const key = (b: number): number => {
      const k = this.io.offset(b) / blockSize;
      return k >= pos ? k : k + 2 ** 40; // next sweep sorts after this one
    };
    const mine = blk >= pos ? blk : blk + 2 ** 40;
    let prev = 0;
    let cur = this.D.get(dp, 'd_head');
    while (cur !== 0 && key(cur) <= mine) {
      prev = cur;
      cur = this.bio_actnext.get(cur);
    }
    this.bio_actnext.set(bio, cur);
    if (prev === 0) this.D.set(dp, 'd_head', bio);
    else this.bio_actnext.set(prev, bio);
    if (cur === 0) this.D.set(dp, 'd_tail', bio);
  }

  /** Take the next request off device `unit`'s queue, or 0. Never sleeps. */
  dequeue(unit: number): number {
    const dp = this.disk(unit);
    const s = this.sync;
    const lk = this.D.addrOf(dp, 'd_qlock');
    if (this.D.load(dp, 'd_qlen') === 0) return 0;
    s.spin_lock(lk);
    const bio = this.D.get(dp, 'd_head');
    if (bio !== 0) {
      const next = this.bio_actnext.get(bio);
      this.D.set(dp, 'd_head', next);
      if (next === 0) this.D.set(dp, 'd_tail', 0);
      this.D.store(dp, 'd_qlen', this.D.get(dp, 'd_qlen') - 1); // atomic: peeked at unlocked
      this.D.set(dp, 'd_lastblk', Math.floor(this.io.offset(bio) / this.conf[unit].blockSize));
      this.D.add(dp, 'd_inflight', 1);
    }
    s.spin_unlock(lk);
    return bio;
  }

  // ------------------------------------------------------------- service

  /**
   * Decide the fate of request `bio` (faults are a function of the seed and its serial) and
   * return what to transfer: bytes to move and the error, if any.
   */
  fate(unit: number, bio: number): { bytes: number; error: number; kind: 'ok' | 'bad' | 'transient' | 'short' } {
    const d = this.conf[unit];
    const bp = this.O.load(bio, 'bio_buf');
    const count = this.io.B.load(bp, 'b_bcount');
    const first = this.io.offset(bio) / d.blockSize;
    const last = first + count / d.blockSize - 1;
    const serial = this.O.load(bio, 'bio_serial');
    const f = d.faults;
    for (const [a, b] of f.bad) if (first <= b && last >= a) return { bytes: 0, error: EIO, kind: 'bad' };
    if (f.transientRate > 0 && rand01(f.seed, serial * 2) < f.transientRate) return { bytes: 0, error: EIO, kind: 'transient' };
    if (f.shortRate > 0 && count > d.blockSize && rand01(f.seed, serial * 2 + 1) < f.shortRate) {
      const nblk = count / d.blockSize;
      const moved = 1 + (Math.floor(rand01(f.seed ^ 0x5bd1e995, serial) * (nblk - 1)) % (nblk - 1));
      return { bytes: moved * d.blockSize, error: 0, kind: 'short' };
    }
    return { bytes: count, error: 0, kind: 'ok' };
  }

  /**
   * Copy for a memory-backed device, under the media lock so that the copy and the oracle's
   * record of it are one step.
   */
  transferMemory(unit: number, bio: number, bytes: number): void {
    const d = this.conf[unit];
    const dp = this.disk(unit);
    const bp = this.O.load(bio, 'bio_buf');
    const B = this.io.B;
    const data = B.load(bp, 'b_data');
    const off = this.io.offset(bio);
    const base = this.store(unit);
    const arena = this.arena;
    const cmd = B.load(bp, 'b_cmd');
    const media = this.D.addrOf(dp, 'd_media');
    const oracle = this.oracles[unit];
    this.sync.spin_lock(media);
    if (cmd === BUF_CMD_READ) {
      arena.copyBytes(data, base + off, bytes);
    } else {
      arena.copyBytes(base + off, data, bytes);
      oracle?.recordWrite(base + off, off / d.blockSize, bytes / d.blockSize);
    }
    this.sync.spin_unlock(media);
  }

  /** Finish request `bio` after its transfer: resid, error, stats, biodone. Never sleeps. */
  complete(unit: number, bio: number, fate: { bytes: number; error: number; kind: string }, serviceMs: number): void {
    const dp = this.disk(unit);
    const B = this.io.B;
    const D = this.D;
    const bp = this.O.load(bio, 'bio_buf');
    const count = B.load(bp, 'b_bcount');
    const cmd = B.load(bp, 'b_cmd');
    B.store(bp, 'b_resid', count - fate.bytes);
    if (fate.error) {
      B.store(bp, 'b_error', fate.error);
      B.or(bp, 'b_flags', B_ERROR);
    }
    if (cmd === BUF_CMD_READ) {
      D.add(dp, 'd_reads', 1);
      D.add64(dp, 'd_bytes_read', fate.bytes);
    } else {
      D.add(dp, 'd_writes', 1);
      D.add64(dp, 'd_bytes_written', fate.bytes);
    }
    if (fate.kind === 'bad') D.add(dp, 'd_eio_bad', 1);
    else if (fate.kind === 'transient') D.add(dp, 'd_eio_transient', 1);
    else if (fate.kind === 'short') D.add(dp, 'd_short', 1);
    const us = Math.max(0, Math.round(serviceMs * 1000));
    D.add64(dp, 'd_service_us', us);
    D.addAt(dp, 'd_svc_hist', Math.min(HIST_BUCKETS - 1, us <= 0 ? 0 : 32 - Math.clz32(us)), 1);
    D.sub(dp, 'd_inflight', 1);
    this.io.biodone(bio);
  }
}

registerStrategy('disk_strategy', (dev, unit, bio) => dev.disk_strategy(unit, bio));

export interface DeviceStats {
  name: string;
  /** The simulated latency it ran with (the effective --latency-us and --bandwidth). */
  latency: { baseUs: number; seekUs: number; bandwidthMBps: number };
  /** The real file behind it (--device-file), or null for memory; its service times are the file's. */
  file: string | null;
  /** The file's writes are fdatasync'ed before they complete (--device-sync). */
  syncWrites: boolean;
  reads: number;
  writes: number;
  bytesRead: number;
  bytesWritten: number;
  errors: { badBlock: number; transient: number; short: number; invalid: number };
  serviceUsTotal: number;
  /** Histogram of service time: bucket k counts requests with 2^(k-1) <= µs < 2^k. */
  serviceHistogram: number[];
  /** Histogram of the queue depth found at enqueue. */
  queueDepthHistogram: number[];
  queued: number;
  inflight: number;
  strategy: string;
}

/** Read device statistics (any thread). */
export function deviceStats(arena: Arena, sync: Sync, spec: DeviceSpecPart): DeviceStats[] {
  const conf = (spec.devices ?? []).map(resolveDevice);
  if (conf.length === 0) return [];
  const D = arena.view(DiskLayout);
  const pool = arena.pool('dev.disks', DiskLayout);
  return conf.map((c, i) => {
    const dp = pool.addr(i);
    const hist = (f: 'd_svc_hist' | 'd_qdepth_hist') => Array.from({ length: HIST_BUCKETS }, (_, k) => D.loadAt(dp, f, k));
    return {
      name: c.name,
      latency: { ...c.latency },
      file: c.file,
      syncWrites: c.syncWrites,
      reads: D.load(dp, 'd_reads'),
      writes: D.load(dp, 'd_writes'),
      bytesRead: D.load64(dp, 'd_bytes_read'),
      bytesWritten: D.load64(dp, 'd_bytes_written'),
      errors: { badBlock: D.load(dp, 'd_eio_bad'), transient: D.load(dp, 'd_eio_transient'), short: D.load(dp, 'd_short'), invalid: D.load(dp, 'd_einval') },
      serviceUsTotal: D.load64(dp, 'd_service_us'),
      serviceHistogram: hist('d_svc_hist'),
      queueDepthHistogram: hist('d_qdepth_hist'),
      queued: D.load(dp, 'd_qlen'),
      inflight: D.load(dp, 'd_inflight'),
      strategy: sync.nameOf(D.load(dp, 'd_strategy')),
    };
  });
}
