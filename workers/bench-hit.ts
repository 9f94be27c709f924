/**
 * Roles of the hit-path benchmarks (bench/hit.ts). Each role does the timed loops of
 * one caller worker and returns its spans; the main thread only aggregates.
 *
 *  benchhit:bootcache  BootCache hits through the device strategy (the path `bootcache:caller`
 *                      takes), a raw copy of the same bytes out of the arena, and/or the same
 *                      requests sent by postMessage to a server worker that answers with the bytes.
 *  benchhit:bufcache   getblk + bqrelse / brelse of resident buffers, and a raw spinlock-protected
 *                      lookup of the same vnode hash chains with plain Atomics.
 *
 * Several callers run their passes in lockstep: a barrier on two words of the primitives lab
 * (`spec.lab`) brackets every timed pass, and each caller works on its own blocks (its own
 * BootCache extents, its own vnode), so a pass's span is max(t1) - min(t0) over the callers.
 * A BootCache pass ends for all when the first caller has issued its requests (`passover`).
 * The modes of a repetition take turns pass by pass, so that the figures a ratio compares are
 * measured within milliseconds of each other.
 * BootCache hits consume their blocks (BC_discard_blocks), so between passes (untimed) each
 * caller marks its extents' blocks present again under the extent lock ("rearm"): the
 * contents are then the poison of the freed pages, which a benchmark does not read.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { BootCache } from '../src/bootcache/cache.js';
import { BC_FLAG_IOBUSY, CE_ABORTED, CE_IODONE, R_CALLERS, resolveBootCache } from '../src/bootcache/defs.js';
import { B_CACHE } from '../src/device/buf.js';
import { Devices } from '../src/device/disk.js';
import { setupRaw } from '../src/device/rawio.js';
import { BufCache } from '../src/bufcache/core.js';
import { getblk } from '../src/bufcache/getblk.js';
import { bqrelse, brelse, bread } from '../src/bufcache/io.js';
import { VHASH_SIZE } from '../src/bufcache/layout.js';
import { LockLayout, TOK_EXCLUSIVE, TOK_INCR } from '../src/sync/layouts.js';
import { PINTERLOCKED } from '../src/sync/sync.js';
import { LabLayout } from './lab.js';
import { registerRoles } from '../src/engine/roles.js';
import type { Kernel } from '../src/engine/spec.js';

/** One timed pass of one caller: wall-clock ms (comparable across workers) and operations. */
export interface Span {
  t0: number;
  t1: number;
  ops: number;
}

/** spans[mode][rep][pass] */
export type Spans = Record<string, Span[][]>;

export interface BootCacheHitArgs {
  /** This caller's index (0..ncallers-1): it owns bytes [index*regionBytes, (index+1)*regionBytes). */
  index: number;
  ncallers: number;
  regionBytes: number;
  reqBytes: number;
  /**
   * `kiolab-solo`: kiolab passes of caller 0 alone (the others wait), a one-caller baseline
   * paired in time with the `kiolab` passes of the same run. `postmessage`: one request in
   * flight; `postmessage-pipelined`: `pmDepth` in flight.
   */
  modes: ('kiolab' | 'kiolab-solo' | 'kiolab-pbuf' | 'raw' | 'raw-solo' | 'bio' | 'postmessage' | 'postmessage-pipelined')[];
  reps: number;
  /** Passes over the region per rep (kiolab and raw). */
  passes: number;
  /** Requests per rep of the postMessage design. */
  pmOps?: number;
  /** Requests in flight of `postmessage-pipelined` (default 16). */
  pmDepth?: number;
  /** Untimed warm-up operations per mode (whole passes, at least one): the loops are compiled before they are timed. */
  warmOps: number;
}

export interface BootCacheHitResult {
  spans: Spans;
  /** Blocks of this caller's extents still present after its kiolab passes (0: every request was a hit). */
  leftOver: number;
  errors: number;
  sink: number;
}

export interface BufCacheHitArgs {
  index: number;
  ncallers: number;
  /** Resident buffers of this caller (blocks 0..nblocks-1 of vnode index+1). */
  nblocks: number;
  /** Operations per pass. */
  ops: number;
  /** `bqrelse-solo`: bqrelse passes of caller 0 alone (the others wait), paired in time with the `bqrelse` passes. */
  /** `protocol`: the seed's atomic operations of a getblk+bqrelse hit alone, on the same words (the floor its locking sets). */
  modes: ('bqrelse' | 'bqrelse-solo' | 'brelse' | 'raw' | 'protocol')[];
  reps: number;
  passes: number;
  /** Untimed warm-up operations per mode (whole passes, at least one). */
  warmOps: number;
}

export interface BufCacheHitResult {
  spans: Spans;
  /** getblk calls that found no valid (B_CACHE) buffer: should be 0. */
  notCached: number;
  /** Raw lookups that did not find the buffer getblk returns: must be 0. */
  rawMismatches: number;
  sink: number;
}

const wall = (): number => performance.timeOrigin + performance.now();

/**
 * A barrier of `n` workers on the lab's `phase` (count) and `turn` (generation) words. `spin`
 * (the barrier that starts a timed pass), when the host has a core for each worker: a waiter
 * spins up to SPIN_MS before it sleeps, because a sleeping waiter wakes tens of µs to ms after
 * the release (the futex wake, an idle vCPU's exit) and that delay would be counted in the span
 * of the pass. The barrier that ends a pass sleeps at once, so an idle worker never competes
 * with a timed one.
 */
function barrierOf(k: Kernel, n: number): (spin?: boolean) => void {
  const lab = k.arena.pool('lab', LabLayout).addr(0);
  const V = k.arena.view(LabLayout);
  const i32 = k.arena.i32;
  const cnt = V.idx(lab, 'phase');
  const gen = V.idx(lab, 'turn');
  const mayspin = n <= availableParallelism();
  return (spin = false) => {
    if (n <= 1) return;
    const g = Atomics.load(i32, gen);
    if (Atomics.add(i32, cnt, 1) + 1 === n) {
      Atomics.store(i32, cnt, 0);
      Atomics.add(i32, gen, 1);
      Atomics.notify(i32, gen);
      return;
    }
    if (spin && mayspin) {
      const until = performance.now() + SPIN_MS;
      while (Atomics.load(i32, gen) === g) if (performance.now() > until) break;
    }
    const deadline = performance.now() + 60_000;
    while (Atomics.load(i32, gen) === g) {
      if (k.shuttingDown() || performance.now() > deadline) throw new Error(`benchhit: cpu ${k.cpu}: barrier of ${n} never released`);
      Atomics.wait(i32, gen, g, 50);
    }
  };
}
/** How often (requests) a caller tests whether another ended the pass. */
const STOP_EVERY = 8;
/** How long a barrier waiter spins before it sleeps (ms): longer than a pass's rearm, much shorter than a pass. */
const SPIN_MS = 2;

/** Sleep until readahead is done (IOBUSY clear), as `bootcache:caller` does with `warm`. */
function waitReadahead(k: Kernel, bc: BootCache): void {
  const ident = bc.C.addrOf(bc.c, 'c_flags');
  while (bc.cflags() & BC_FLAG_IOBUSY && !k.shuttingDown()) {
    k.sync.tsleep_interlock(ident);
    if (!(bc.cflags() & BC_FLAG_IOBUSY)) k.sync.tsleep_remove();
    else k.sync.tsleep(ident, PINTERLOCKED, 'BC_warm', 50);
  }
}

/** The postMessage design's server: it holds its own copy of the cached bytes and answers each [offset, length] with them. */
const PM_SERVER = `
const { parentPort, workerData } = require('node:worker_threads');
const data = new Uint8Array(workerData.bytes);
for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 255;
parentPort.on('message', (m) => {
  const b = data.slice(m[0], m[0] + m[1]);
  parentPort.postMessage(b, [b.buffer]);
});
`;

async function bootcacheHit(k: Kernel, a: BootCacheHitArgs): Promise<BootCacheHitResult> {
  const dev = Devices.of(k.sync, k.spec);
  const bc = BootCache.of(k.sync);
  bc.dev ??= dev;
  if (!k.spec.bootcache) throw new Error('benchhit:bootcache: the machine spec has no "bootcache" part');
  const r = resolveBootCache(k.spec.bootcache);
  const unit = typeof r.device === 'string' ? dev.unit(r.device) : r.device;
  const bs = dev.conf[unit].blockSize;
  if (a.reqBytes % bs !== 0 || a.reqBytes > r.callerSliceBytes || a.regionBytes % a.reqBytes !== 0) {
    throw new RangeError(`benchhit:bootcache: reqBytes ${a.reqBytes} must be a multiple of ${bs}, at most ${r.callerSliceBytes} and divide regionBytes ${a.regionBytes}`);
  }
  const barrier = barrierOf(k, a.ncallers);
  const data = k.arena.region(R_CALLERS).offset + k.cpu * r.callerSliceBytes;
  const u8 = k.arena.u8;
  const i32 = k.arena.i32;
  waitReadahead(k, bc);
  bc.sync_extents();
  const lo = a.index * a.regionBytes;
  const hi = lo + a.regionBytes;
  const mine: number[] = [];
  for (let i = 0; i < bc.n; i++) if (bc.eoff[i] >= lo && bc.eoff[i] + bc.elen[i] <= hi) mine.push(i);
  const covered = mine.reduce((s, i) => s + bc.elen[i], 0);
  if (covered !== a.regionBytes) throw new Error(`benchhit:bootcache: caller ${a.index}: extents cover ${covered} of its ${a.regionBytes} bytes`);
  for (const i of mine) {
    if ((bc.ceFlags(i) & (CE_IODONE | CE_ABORTED)) !== CE_IODONE) throw new Error(`benchhit:bootcache: extent ${i} was not read ahead (flags ${bc.ceFlags(i)})`);
  }
  const nreq = a.regionBytes / a.reqBytes;
  // Each request: its device offset and where its bytes sit in the cache's page buffer.
  const reqOff = new Float64Array(nreq);
  const reqSrc = new Int32Array(nreq);
  for (let q = 0, j = 0; j < mine.length; j++) {
    const i = mine[j];
    for (let o = 0; o < bc.elen[i]; o += a.reqBytes, q++) {
      reqOff[q] = bc.eoff[i] + o;
      reqSrc[q] = bc.edata[i] + o;
    }
  }
  /** Mark every block of this caller's extents present again (what the reader's completion did). */
  const rearm = (): void => {
    for (const i of mine) {
      bc.LOCK_EXTENT(i);
      const map = bc.emap[i] >> 2;
      const nblks = Math.ceil(bc.elen[i] / bc.bs);
      for (let b = 0; b < nblks; b++) i32[map + (b >> 5)] |= 1 << (b & 31);
      bc.UNLOCK_EXTENT(i);
    }
  };
  const leftOf = (): number => mine.reduce((s, i) => s + bc.presentCount(i), 0);
  const nblk = a.reqBytes / bs;
  const res: BootCacheHitResult = { spans: {}, leftOver: 0, errors: 0, sink: 0 };

  // passover: the number of the last pass that some caller ended (see kiolabPass).
  const passover = k.arena.view(LabLayout).idx(k.arena.pool('lab', LabLayout).addr(0), 'passover');
  let passNo = 0;

  /**
   * A pass of BootCache hits: each request is set up on the caller's buffer (setupRaw: b_cmd,
   * b_data, b_bcount, the device bio and its offset; setup_sync), issued with dev_dstrategy —
   * BC_strategy, as a user's read — and waited for in biowait. `kiolab` keeps one pbuf for the
   * pass, as a process reuses its buffer; `kiolab-pbuf` takes and releases one per request, as
   * `bootcache:caller` does (getpbuf/relpbuf are the pbuf pool's, not BootCache's).
   *
   * The pass ends for every caller when the first one has issued all its requests: it posts the
   * pass's number in `passover`, which the others test every STOP_EVERY requests. So the span
   * (max t1 - min t0) is a time in which every caller worked; without it, a caller on a faster
   * host core would finish first and sit in the barrier, and the span would end in a tail where
   * one caller runs alone. The passes are numbered alike in every caller (the barriers).
   * `solo`: only caller 0 works; the others sleep in the barrier that ends the pass (a span of
   * no operations), so the pass measures one caller on the same machine, at the same moment.
   */
  const kiolabPass = (perRequestPbuf: boolean, solo = false): Span => {
    const io = dev.io;
    const no = ++passNo;
    barrier(true);
    if (solo && a.index !== 0) {
      barrier();
      return { t0: 0, t1: 0, ops: 0 };
    }
    const t0 = wall();
    let held = perRequestPbuf ? 0 : dev.pbufs.getpbuf();
    if (held === null) throw new Error('benchhit:bootcache: no pbuf');
    let q = 0;
    while (q < nreq) {
      const bp = perRequestPbuf ? dev.pbufs.getpbuf() : held;
      if (bp === null) throw new Error('benchhit:bootcache: no pbuf');
      const bio2 = setupRaw(dev, bp, unit, false, reqOff[q] / bs, nblk, data);
      const bio1 = io.setup_sync(bp);
      dev.dev_dstrategy(unit, bio2);
      if (io.biowait(bio1, null, 0)) res.errors++;
      if (perRequestPbuf) dev.pbufs.relpbuf(bp);
      q++;
      if (q % STOP_EVERY === 0 && Atomics.load(i32, passover) === no) break;
    }
    if (q === nreq) Atomics.store(i32, passover, no);
    if (!perRequestPbuf) dev.pbufs.relpbuf(held);
    held = 0;
    const t1 = wall();
    barrier();
    // Every request issued was a hit: exactly the blocks of the ones not issued are left.
    res.leftOver += leftOf() - (nreq - q) * nblk;
    rearm();
    k.sync.progress();
    return { t0, t1, ops: q };
  };
  /**
   * The request's machinery without BootCache (`bio`): the same buffer, setupRaw, setup_sync,
   * biodone and biowait as a `kiolab` hit, with the copy done inline where the strategy routine
   * would run — the floor the bio layer sets under every hit, reported as where the time goes.
   */
  const bioPass = (): Span => {
    const io = dev.io;
    const len = a.reqBytes;
    barrier(true);
    const t0 = wall();
    const bp = dev.pbufs.getpbuf();
    if (bp === null) throw new Error('benchhit:bootcache: no pbuf');
    for (let q = 0; q < nreq; q++) {
      const bio2 = setupRaw(dev, bp, unit, false, reqOff[q] / bs, nblk, data);
      const bio1 = io.setup_sync(bp);
      u8.copyWithin(data, reqSrc[q], reqSrc[q] + len);
      io.bf.b_resid.set(bp, 0); // as BC_strategy_fill: published by biodone's completion
      io.biodone(bio2);
      if (io.biowait(bio1, null, 0)) res.errors++;
    }
    dev.pbufs.relpbuf(bp);
    const t1 = wall();
    res.sink += u8[data];
    barrier();
    return { t0, t1, ops: nreq };
  };
  /** The raw copies of a pass; `solo` and the end of a pass as in kiolabPass (raw-solo: caller 0 alone). */
  const rawPass = (solo = false): Span => {
    const no = ++passNo;
    barrier(true);
    if (solo && a.index !== 0) {
      barrier();
      return { t0: 0, t1: 0, ops: 0 };
    }
    const t0 = wall();
    const len = a.reqBytes;
    let q = 0;
    while (q < nreq) {
      u8.copyWithin(data, reqSrc[q], reqSrc[q] + len);
      q++;
      if (q % STOP_EVERY === 0 && Atomics.load(i32, passover) === no) break;
    }
    if (q === nreq) Atomics.store(i32, passover, no);
    const t1 = wall();
    res.sink += u8[data];
    barrier();
    return { t0, t1, ops: q };
  };

  let pm: { ask(off: number, len: number): Promise<Uint8Array>; close(): Promise<number> } | null = null;
  if (a.modes.some((m) => m.startsWith('postmessage'))) {
    const w = new Worker(PM_SERVER, { eval: true, workerData: { bytes: a.regionBytes } });
    await new Promise<void>((ok, fail) => {
      w.once('online', ok);
      w.once('error', fail);
    });
    // The server answers in order: the replies resolve the requests first in, first out.
    const waiting: { ok: (b: Uint8Array) => void; fail: (e: Error) => void }[] = [];
    const failAll = (e: Error) => {
      for (const x of waiting.splice(0)) x.fail(e);
    };
    w.on('message', (b: Uint8Array) => waiting.shift()?.ok(b));
    w.on('error', (e: Error) => failAll(new Error(`benchhit:bootcache: the postMessage server failed: ${e.message}`)));
    w.on('exit', (code) => failAll(new Error(`benchhit:bootcache: the postMessage server exited (code ${code})`)));
    pm = {
      ask: (off, len) =>
        new Promise<Uint8Array>((ok, fail) => {
          waiting.push({ ok, fail });
          w.postMessage([off, len]);
        }),
      close: () => w.terminate(),
    };
  }
  const pmOps = a.pmOps ?? nreq;
  /** `depth` requests in flight (1: each request waits for its answer, as a strategy caller does). */
  const pmPass = async (depth: number): Promise<Span> => {
    barrier();
    const t0 = wall();
    const q: Promise<Uint8Array>[] = [];
    let sent = 0;
    const send = () => {
      const r = sent++ % nreq;
      q.push(pm!.ask(r * a.reqBytes, a.reqBytes));
    };
    while (sent < Math.min(depth, pmOps)) send();
    for (let done = 0; done < pmOps; done++) {
      const b = await q.shift()!;
      u8.set(b, data); // the bytes land in the caller's buffer, as a hit's do
      if (sent < pmOps) send();
    }
    const t1 = wall();
    barrier();
    return { t0, t1, ops: pmOps };
  };
  const pmDepth = a.pmDepth ?? 16;
  const pass = (m: BootCacheHitArgs['modes'][number]): Span =>
    m === 'kiolab' ? kiolabPass(false) : m === 'kiolab-solo' ? kiolabPass(false, true) : m === 'kiolab-pbuf' ? kiolabPass(true) : m === 'bio' ? bioPass() : rawPass(m === 'raw-solo');

  try {
    // Warm-up (untimed): whole passes of each mode, the same count in every caller (the barriers),
    // the modes taking turns as in the timed loop, so the host's scheduler has settled where the
    // threads run (a caller that sits solo passes out sleeps and wakes at every one) before timing.
    const warm = (m: BootCacheHitArgs['modes'][number]): number => Math.max(1, Math.ceil(a.warmOps / (m.startsWith('postmessage') ? Math.max(1, pmOps) * 8 : nreq)));
    const most = Math.max(...a.modes.map(warm));
    for (let p = 0; p < most; p++) {
      for (const m of a.modes) {
        if (p >= warm(m)) continue;
        if (m.startsWith('postmessage')) await pmPass(m === 'postmessage' ? 1 : pmDepth);
        else pass(m);
      }
    }
    res.leftOver = 0;
    for (const m of a.modes) res.spans[m] = [];
    // The modes take turns pass by pass, so the figures compared (kiolab and its baselines)
    // are measured within milliseconds of each other: this host's speed drifts by up to 2x
    // over tens of milliseconds, and a paired ratio cancels that drift.
    for (let rep = 0; rep < a.reps; rep++) {
      for (const m of a.modes) res.spans[m].push([]);
      for (let p = 0; p < a.passes; p++) {
        for (const m of a.modes) {
          if (m.startsWith('postmessage')) {
            if (p === 0) res.spans[m][rep].push(await pmPass(m === 'postmessage' ? 1 : pmDepth));
          } else res.spans[m][rep].push(pass(m));
        }
      }
    }
  } finally {
    await pm?.close();
  }
  return res;
}

/** The slot of the vnode hash (vnode.ts's hashSlot; the raw baseline checks it finds getblk's buffer). */
function hashSlot(loffset: number): number {
  return (Math.imul(loffset >>> 9, 0x9e3779b1) >>> 0) % VHASH_SIZE;
}

function bufcacheHit(k: Kernel, a: BufCacheHitArgs): BufCacheHitResult {
  Devices.of(k.sync, k.spec);
  const bc = BufCache.of(k.sync);
  const barrier = barrierOf(k, a.ncallers);
  const vp = a.index + 1;
  if (vp > bc.gl('nvnodes')) throw new RangeError(`benchhit:bufcache: caller ${a.index} needs vnode ${vp}; the spec has ${bc.gl('nvnodes')} files`);
  const bsize = bc.gl('bsize');
  const i32 = k.arena.i32;
  const res: BufCacheHitResult = { spans: {}, notCached: 0, rawMismatches: 0, sink: 0 };
  // Make the blocks resident (device reads), then leave them on the clean queue.
  const bufOf: number[] = [];
  for (let lbn = 0; lbn < a.nblocks; lbn++) {
    const r = bread(bc, vp, lbn * bsize, bsize);
    if (r.error) throw new Error(`benchhit:bufcache: bread of vnode ${vp} block ${lbn} failed (error ${r.error})`);
    bufOf.push(r.bp);
    bqrelse(bc, r.bp);
  }
  const offs = new Float64Array(a.ops);
  for (let j = 0; j < a.ops; j++) offs[j] = ((j * 7) % a.nblocks) * bsize; // every resident block in turn
  // The raw baseline: a CAS spinlock on the lab's rawlock word around a walk of the same hash chain.
  const lab = k.arena.pool('lab', LabLayout).addr(0);
  const lk = k.arena.view(LabLayout).idx(lab, 'rawlock');
  const hashBase = bc.V.idx(bc.vnode(vp), 'v_hash');
  const offLoffset = bc.B.idx(0, 'b_loffset');
  const offHnext = bc.B.idx(0, 'b_hnext');

  // passover: the number of the last pass that some caller ended (as in bootcacheHit).
  const passover = k.arena.view(LabLayout).idx(lab, 'passover');
  let passNo = 0;
  /**
   * A pass of getblk + bqrelse/brelse of resident buffers. As BootCache's passes: it ends for
   * every caller when the first has done its operations, and `solo` runs caller 0 alone.
   */
  const kiolabPass = (release: 'bqrelse' | 'brelse', solo = false): Span => {
    const no = ++passNo;
    barrier(true);
    if (solo && a.index !== 0) {
      barrier();
      return { t0: 0, t1: 0, ops: 0 };
    }
    const t0 = wall();
    let j = 0;
    while (j < a.ops) {
      const bp = getblk(bc, vp, offs[j], bsize, 0, 0);
      if ((bc.b_flags.load(bp) & B_CACHE) === 0) res.notCached++;
      if (release === 'bqrelse') bqrelse(bc, bp);
      else brelse(bc, bp);
      j++;
      if (j % STOP_EVERY === 0 && Atomics.load(i32, passover) === no) break;
    }
    if (j === a.ops) Atomics.store(i32, passover, no);
    const t1 = wall();
    barrier();
    k.sync.progress();
    return { t0, t1, ops: j };
  };
  const rawLookup = (loffset: number): number => {
    while (Atomics.compareExchange(i32, lk, 0, 1) !== 0) {
      // spin (test before the next CAS)
      while (Atomics.load(i32, lk) !== 0);
    }
    let bp = Atomics.load(i32, hashBase + hashSlot(loffset));
    while (bp !== 0 && Atomics.load(i32, (bp >>> 2) + offLoffset) !== loffset) bp = Atomics.load(i32, (bp >>> 2) + offHnext);
    Atomics.store(i32, lk, 0);
    return bp;
  };
  const rawPass = (): Span => {
    barrier(true);
    const t0 = wall();
    let s = 0;
    for (let j = 0; j < a.ops; j++) s += rawLookup(offs[j]);
    const t1 = wall();
    res.sink += s;
    barrier();
    return { t0, t1, ops: a.ops };
  };
  for (let lbn = 0; lbn < a.nblocks; lbn++) if (rawLookup(lbn * bsize) !== bufOf[lbn]) res.rawMismatches++;

  /**
   * The seed's synchronization of a getblk+bqrelse hit and nothing else, as plain Atomics on the
   * same words: v_token taken shared (load, CAS, the acquisition count) and released, the bqhold
   * and bqdrop of b_refs, the buffer lock's try-lock CAS and its release, the queue spinlock
   * taken and released twice (bremfree, bqrelse) and the load of needsbuffer, around the same
   * hash walk. Thirteen atomic operations: the floor that the seed's locking sets in this V8
   * (an Atomics call is a builtin call), whatever code surrounds it.
   */
  const tokWord = bc.vnode(vp) >>> 2; // v_token is the vnode's first field; lk_word the lock's
  const tokAcq = tokWord + LockLayout.off.lk_acq_lo;
  const offRefs = bc.B.idx(0, 'b_refs');
  const offLock = bc.B.idx(0, 'b_lock'); // lk_word is the embedded lock's first word
  const qspin = bc.spinOf(bc.b_qcpu.get(bufOf[0])) >>> 2;
  const needs = bc.g_needsbuffer.idx(bc.g);
  const protocolPass = (): Span => {
    barrier(true);
    const t0 = wall();
    let s = 0;
    for (let j = 0; j < a.ops; j++) {
      const loffset = offs[j];
      const w = Atomics.load(i32, tokWord);
      if (Atomics.compareExchange(i32, tokWord, w, w + TOK_INCR) !== w) res.rawMismatches++;
      Atomics.add(i32, tokAcq, 1);
      let bp = i32[hashBase + hashSlot(loffset)];
      while (bp !== 0 && i32[(bp >>> 2) + offLoffset] !== loffset) bp = i32[(bp >>> 2) + offHnext];
      Atomics.add(i32, (bp >>> 2) + offRefs, 1);
      Atomics.sub(i32, tokWord, TOK_INCR);
      if (Atomics.compareExchange(i32, (bp >>> 2) + offLock, 0, 1) !== 0) res.rawMismatches++;
      Atomics.sub(i32, (bp >>> 2) + offRefs, 1);
      if (Atomics.compareExchange(i32, qspin, 0, TOK_EXCLUSIVE) !== 0) res.rawMismatches++;
      Atomics.store(i32, qspin, 0);
      if (Atomics.compareExchange(i32, qspin, 0, TOK_EXCLUSIVE) !== 0) res.rawMismatches++;
      Atomics.store(i32, qspin, 0);
      s += Atomics.load(i32, needs);
      Atomics.exchange(i32, (bp >>> 2) + offLock, 0);
      s += bp;
    }
    const t1 = wall();
    res.sink += s;
    barrier();
    return { t0, t1, ops: a.ops };
  };

  const run = (m: BufCacheHitArgs['modes'][number]): Span => (m === 'raw' ? rawPass() : m === 'protocol' ? protocolPass() : m === 'bqrelse-solo' ? kiolabPass('bqrelse', true) : kiolabPass(m));
  // Warm-up (untimed): whole passes, the same count in every caller (the barriers), the modes
  // taking turns as in the timed loop.
  for (let p = Math.max(1, Math.ceil(a.warmOps / a.ops)); p > 0; p--) for (const m of a.modes) run(m);
  res.notCached = 0;
  for (const m of a.modes) res.spans[m] = [];
  // The modes take turns pass by pass, so a ratio compares figures measured milliseconds apart.
  for (let rep = 0; rep < a.reps; rep++) {
    for (const m of a.modes) res.spans[m].push([]);
    for (let p = 0; p < a.passes; p++) for (const m of a.modes) res.spans[m][rep].push(run(m));
  }
  return res;
}

registerRoles(import.meta.url, {
  'benchhit:bootcache': (k, a: BootCacheHitArgs) => bootcacheHit(k, a),
  'benchhit:bufcache': (k, a: BufCacheHitArgs) => bufcacheHit(k, a),
});
