/**
 * The load: "processes" reading and writing files through the buffer cache, every write stamped
 * by the device oracle and every read checked against the version last written through the
 * cache (`bufcache.expect`): a read older than that is stale, a missing stamp is corruption.
 * The last caller to finish quiesces the daemons, syncs every file and checks that every block's
 * latest version reached the device (no write lost).
 */
import { B_CACHE, B_INVAL } from '../device/buf.js';
import { mix32, resolveDevice } from '../device/config.js';
import { Devices } from '../device/disk.js';
import { STAMP_MAGIC, UNSTAMPED } from '../device/oracle.js';
import { OpRecorder } from '../report/types.js';
import { type Field, hostSleep, sleepUntil } from '../shm/view.js';
import { Point } from '../sync/hooks.js';
import type { Sync } from '../sync/sync.js';
import { BufCache } from './core.js';
import { getblk } from './getblk.js';
import { bawrite, bdwrite, bheavy, bqrelse, brelse, bread, breadn, bwrite } from './io.js';
import { ExpectLayout, type BufMachineSpec } from './layout.js';
import { buf_runningbufspace_severe, bwillwrite, waitrunningbufspace } from './space.js';
import { GETBLK_BHEAVY } from './tunables.js';
import { buf_daemon_hw_limit, buf_daemon_limit } from './daemon.js';
import { checkInvariants } from './invariants.js';
import { vfsync } from './vnode.js';

export interface LoadArgs {
  /** Operations of this caller (0: no count, --duration ends it). */
  ops: number;
  /** Stop after this long (ms, after the ramp), or at `ops`, whichever comes first (0 or absent: no limit). */
  durationMs?: number;
  /** Warm-up (ms): operations that end within it are left out of the figures (they count toward `ops`). */
  rampMs?: number;
  /** Width of a timeline bin (ms, default 100). */
  binMs?: number;
  seed?: number;
  /** Fraction of operations that read (default 0.7). */
  readRatio?: number;
  pattern?: 'seq' | 'random' | 'mixed';
  /** How writes go out: bdwrite, bawrite, bwrite, or a mix (70/20/10, the default). */
  writeMode?: 'delayed' | 'async' | 'sync' | 'mixed';
  /** Blocks of read-ahead on sequential reads (breadn), default 2. */
  readahead?: number;
  /** Every this many operations, vfsync one file (0: never; default 200). */
  flushEvery?: number;
  /** Callers in the run (the last one to finish does the final sync and check). */
  ncallers: number;
  /** Daemons in the run (the final step waits for each to acknowledge the quiesce). */
  ndaemons?: number;
  /** Record latencies (default true). */
  record?: boolean;
  /** Before the final sync, wait for the daemons to drain dirty space below their low marks. */
  drain?: boolean;
  /**
   * Widen the race windows of getblk (found, not yet locked) and getnewbuf (locked, not yet
   * unhashed) with a short pause at their instrumentation points (a stress hook), so that
   * recycling under a lookup actually happens on a small machine.
   */
  widenRaces?: boolean;
  /** Replay a recorded workload instead of the generated one (--workload): this caller's share. */
  replay?: ReplayArgs;
  /**
   * Split the ops into this many phases; between phases every caller waits at a barrier, the
   * daemons are quiesced, I/O drains and the invariants are checked (default 1: only at the end).
   */
  phases?: number;
}

/** What a caller counts, generating its load or replaying a recorded one (a LoadResult, a mixed caller's result). */
export interface ReplayCounters {
  ops: number;
  reads: number;
  writes: number;
  /** Reads served without a device read: from a cached buffer, or (vmHits of them) from resident VM pages. */
  hits: number;
  vmHits: number;
  misses: number;
  errors: number;
  mismatches: string[];
}

export interface LoadResult extends ReplayCounters {
  t0: number;
  t1: number;
  rec: ReturnType<OpRecorder['toJSON']>;
  final?: { lostWrites: string[]; dirtyLeft: number; checkedBlocks: number };
  /** Quiescent points this caller checked (as the barrier's leader), and the violations found. */
  invariantChecks: number;
  violations: string[];
  /** With `drain`: the dirty counters once the daemons were done, and the marks. */
  drained?: { dirtykvaspace: number; runningbufspace: number; dirtybufcount: number; lodirtybufspace: number; ok: boolean; peakDirtykva: number };
  /** With `replay`: the requests replayed (fewer than given when --duration ended the load first). */
  replayed?: number;
}


/** The write of a load in `mode`; `mixed` picks by `x` (a hash) 70% bdwrite, 20% bawrite, 10% bwrite. */
export function writeModeOf(mode: 'delayed' | 'async' | 'sync' | 'mixed', x: number): 'delayed' | 'async' | 'sync' {
  if (mode !== 'mixed') return mode;
  const d = x % 10;
  return d < 7 ? 'delayed' : d < 9 ? 'async' : 'sync';
}

/**
 * One request of a recorded workload (--workload), laid onto the bench's files: `n` file-system
 * blocks from logical block `lblock` of the concatenated files (block b is block b % fileBlocks
 * of vnode 1 + b / fileBlocks), issued `tMs` after the trace's first request.
 */
export interface ReplayRequest {
  write: boolean;
  lblock: number;
  n: number;
  tMs: number;
}

/** How a caller replays its requests. */
export interface ReplayArgs {
  requests: ReplayRequest[];
  /** 0: as fast as possible; s > 0: at the recorded times divided by s (1: as recorded). */
  speed: number;
}

/**
 * Replay `r.requests` through the cache in order, each read block oracle-checked and each write
 * stamped as the generated load does; one request is one operation of the figures (its bytes,
 * its latency from the first block to the last). Reads that continue the previous request get
 * `ra` blocks of read-ahead. Returns the requests done (fewer when `stop()` ended it). May sleep.
 */
export function replayRequests(L: FileLoad, r: ReplayArgs, c: ReplayCounters, rec: OpRecorder, cpu: number, o: { ra: number; writeMode: 'delayed' | 'async' | 'sync' | 'mixed'; flushEvery: number; stop: () => boolean }): number {
  const t0 = performance.now();
  let next = -1;
  let done = 0;
  for (const q of r.requests) {
    if (o.stop()) break;
    // At the recorded time (scaled), or at once.
    if (r.speed > 0) sleepUntil(t0 + q.tMs / r.speed, o.stop);
    const t = performance.now();
    let errors = 0;
    for (let k = 0; k < q.n; k++) {
      const b = q.lblock + k;
      const vp = 1 + Math.floor(b / L.fileBlocks);
      const lbn = b % L.fileBlocks;
      if (q.write) {
        if (L.write(vp, lbn, writeModeOf(o.writeMode, mix32(cpu * 7919 + done, k)), cpu)) errors++;
      } else {
        const { error, hit, vm } = L.read(vp, lbn, q.lblock === next ? o.ra : 0, c.mismatches);
        if (error) errors++;
        if (vm) c.vmHits++;
        if (hit) c.hits++;
        else c.misses++;
      }
    }
    const now = performance.now();
    if (q.write) {
      rec.write((now - t) * 1e6, q.n * L.bsize, now);
      c.writes++;
    } else {
      rec.read((now - t) * 1e6, q.n * L.bsize, now);
      c.reads++;
    }
    c.errors += errors;
    c.ops++;
    next = q.lblock + q.n;
    done++;
    if (o.flushEvery > 0 && done % o.flushEvery === 0) L.vfsync(1 + Math.floor(q.lblock / L.fileBlocks));
    L.bc.sync.progress();
  }
  return done;
}

/** Context of one caller: the buffer cache, the devices and the oracle bookkeeping. */
export class FileLoad {
  readonly bc: BufCache;
  readonly dev: Devices;
  readonly devBlockSize: number;
  readonly bsize: number;
  readonly nvnodes: number;
  readonly fileBlocks: number;
  private readonly expect: number; // byte address of bufcache.expect, or -1
  private readonly ex_version: Field;
  /** The quiescent-point barrier's generation word (bufglobals.phase_gen). */
  readonly phase_gen: Field;

  constructor(sync: Sync, spec: BufMachineSpec) {
    this.dev = Devices.of(sync, spec);
    this.bc = BufCache.of(sync);
    const unit = spec.bufcache!.unit ?? 0;
    this.devBlockSize = resolveDevice(spec.devices![unit], unit).blockSize;
    this.bsize = this.bc.gl('bsize');
    this.nvnodes = this.bc.gl('nvnodes');
    this.fileBlocks = this.bc.V.load(this.bc.vnode(1), 'v_size') / this.bsize;
    this.expect = sync.arena.hasRegion('bufcache.expect') ? sync.arena.region('bufcache.expect').offset : -1;
    this.ex_version = sync.arena.view(ExpectLayout).field('ex_version');
    this.phase_gen = this.bc.G.field('phase_gen');
  }

  get oracle() {
    return this.dev.oracles[this.bc.V.load(this.bc.vnode(1), 'v_unit')];
  }

  /** First device block of (vp, loffset). */
  devblk(vp: number, loffset: number): number {
    return (this.bc.V.load(this.bc.vnode(vp), 'v_base') + loffset) / this.devBlockSize;
  }

  /**
   * Write block `lbn` of `vp` through the cache: throttle (bwillwrite / waitrunningbufspace),
   * getblk, stamp the whole block, then bdwrite / bawrite / bwrite. Returns the error (bwrite).
   * May sleep.
   */
  write(vp: number, lbn: number, mode: 'delayed' | 'async' | 'sync', writer: number): number {
    const bc = this.bc;
    const heavy = bc.V.load(bc.vnode(vp), 'v_heavy') !== 0;
    if (mode === 'delayed') bwillwrite(bc);
    else if (buf_runningbufspace_severe(bc)) waitrunningbufspace(bc);
    const loffset = lbn * this.bsize;
    const bp = getblk(bc, vp, loffset, this.bsize, heavy ? GETBLK_BHEAVY : 0);
    this.checkIdentity('getblk', bp, vp, loffset);
    if (heavy) bheavy(bc, bp);
    const o = this.oracle;
    if (o) {
      const blk = this.devblk(vp, loffset);
      const n = this.bsize / this.devBlockSize;
      const versions = o.stamp(bc.B.load(bp, 'b_data'), blk, n, writer);
      if (this.expect >= 0) for (let i = 0; i < n; i++) this.ex_version.store(this.expect + 4 * (blk + i), versions[i]);
    } else {
      bc.arena.fillBytes(bc.B.load(bp, 'b_data'), writer & 0xff, this.bsize);
    }
    bc.b_flags.and(bp, ~B_INVAL);
    bc.b_flags.or(bp, B_CACHE);
    if (mode === 'delayed') bdwrite(bc, bp);
    else if (mode === 'async') bawrite(bc, bp);
    else return bwrite(bc, bp);
    return 0;
  }

  /**
   * Read block `lbn` of `vp` (with `ra` blocks of read-ahead) and check it against the
   * expected versions; mismatches are appended to `out`. Returns { error, hit }. May sleep.
   */
  read(vp: number, lbn: number, ra: number, out: string[]): { error: number; hit: boolean; vm: boolean } {
    const bc = this.bc;
    const loffset = lbn * this.bsize;
    const raoffs: number[] = [];
    for (let k = 1; k <= ra && lbn + k < this.fileBlocks; k++) raoffs.push((lbn + k) * this.bsize);
    const r = raoffs.length ? breadn(bc, vp, loffset, this.bsize, raoffs, this.bsize) : bread(bc, vp, loffset, this.bsize);
    this.checkIdentity('bread', r.bp, vp, loffset);
    if (r.error) {
      brelse(bc, r.bp);
      return { error: r.error, hit: r.hit, vm: r.vm };
    }
    const o = this.oracle;
    if (o && this.expect >= 0) {
      const blk = this.devblk(vp, loffset);
      const n = this.bsize / this.devBlockSize;
      const data = bc.B.load(r.bp, 'b_data');
      const floor: number[] = [];
      for (let i = 0; i < n; i++) floor.push(this.ex_version.load(this.expect + 4 * (blk + i)));
      for (const m of o.verify(data, blk, n, floor)) out.push(`${r.hit ? 'cache hit' : 'read'}: ${m.message}`);
      for (let i = 0; i < n; i++) {
        if (floor[i] === UNSTAMPED) continue;
        const stamp = new Int32Array(bc.arena.readBytes(data + i * this.devBlockSize, 12).buffer); // magic, block, version
        if (stamp[0] === STAMP_MAGIC && stamp[2] > floor[i]) {
          out.push(`block ${blk + i}: version ${stamp[2]} read, but the last one written through the cache is ${floor[i]}`);
        }
      }
    }
    bqrelse(bc, r.bp);
    return { error: 0, hit: r.hit, vm: r.vm };
  }

  /** Identity mismatches (getblk returned someone else's block) found so far. */
  identityErrors: string[] = [];
  private checkIdentity(fn: string, bp: number, vp: number, loffset: number): void {
    const B = this.bc.B;
    if (B.load(bp, 'b_vp') !== vp || B.load(bp, 'b_loffset') !== loffset) {
      this.identityErrors.push(`${fn}(vnode ${vp}, offset ${loffset}) returned ${this.bc.describe(bp)} of vnode ${B.load(bp, 'b_vp')} offset ${B.load(bp, 'b_loffset')}`);
    }
  }

  /** vfsync (vnode.ts) of `vp`, waiting at most 30 s for its writes. May sleep. */
  vfsync(vp: number): void {
    vfsync(this.bc, vp, 30_000);
  }

  /** Wait (≤ 20 s) until both daemons' limit functions are false: dirty space drained below the marks. */
  drainWait(peakDirtykva: number): NonNullable<LoadResult['drained']> {
    const bc = this.bc;
    const lo = Math.trunc(bc.gl('lodirtybufspace') / 2);
    const deadline = performance.now() + 20_000;
    let ok = false;
    while (performance.now() < deadline) {
      if (!buf_daemon_limit(bc, lo) && !buf_daemon_hw_limit(bc, lo)) {
        ok = true;
        break;
      }
      hostSleep(2);
    }
    return {
      dirtykvaspace: bc.gl('dirtykvaspace'),
      runningbufspace: bc.gl('runningbufspace'),
      dirtybufcount: bc.gl('dirtybufcount'),
      lodirtybufspace: bc.gl('lodirtybufspace'),
      ok,
      peakDirtykva,
    };
  }

  /**
   * Ask the daemons to hold still (request generation `gen`), wait for each to acknowledge, then
   * for every I/O to finish and every buffer to be unlocked. Callers must be idle. May sleep.
   */
  quiesce(ndaemons: number, gen: number): void {
    const bc = this.bc;
    const G = bc.G;
    G.store(bc.g, 'quiesced', 0);
    G.store(bc.g, 'quiesce', gen);
    bc.sync.wakeup(G.addrOf(bc.g, 'bd_request'));
    bc.sync.wakeup(G.addrOf(bc.g, 'bd_request_hw'));
    const deadline = performance.now() + 30_000;
    while (G.load(bc.g, 'quiesced') < ndaemons) {
      if (performance.now() > deadline) throw new Error(`bufcache load: the daemons did not quiesce (${G.load(bc.g, 'quiesced')} of ${ndaemons})`);
      hostSleep(1);
    }
    for (let n = 0; n < bc.nbuf; ) {
      if (!bc.BUF_LOCKINUSE(bc.buf(n))) {
        n++;
        continue;
      }
      if (performance.now() > deadline) throw new Error(`bufcache load: ${bc.describe(bc.buf(n))} stays locked at a quiescent point`);
      hostSleep(1);
    }
  }

  /** Lift the quiesce request: the daemons resume (woken on their request words). */
  unquiesce(): void {
    const bc = this.bc;
    bc.G.store(bc.g, 'quiesce', 0);
    bc.sync.wakeup(bc.G.addrOf(bc.g, 'bd_request'));
    bc.sync.wakeup(bc.G.addrOf(bc.g, 'bd_request_hw'));
  }

  /** The final step: quiesce the daemons, sync every file, check that no write was lost. */
  finalSync(ndaemons: number): NonNullable<LoadResult['final']> {
    const bc = this.bc;
    const G = bc.G;
    const deadline = performance.now() + 30_000;
    this.quiesce(ndaemons, 0x7fffffff);
    for (let pass = 0; pass < 3 && G.load(bc.g, 'dirtybufcount') > 0; pass++) {
      for (let vp = 1; vp <= this.nvnodes; vp++) this.vfsync(vp);
    }
    while (G.load(bc.g, 'runningbufcount') > 0) {
      if (performance.now() > deadline) throw new Error('bufcache load: writes still running after the final sync');
      hostSleep(1);
    }
    const lostWrites: string[] = [];
    let checkedBlocks = 0;
    const o = this.oracle;
    if (o && this.expect >= 0) {
      const nblocks = (this.nvnodes * this.fileBlocks * this.bsize) / this.devBlockSize;
      for (let b = 0; b < nblocks; b++) {
        const want = this.ex_version.load(this.expect + 4 * b);
        if (want === UNSTAMPED) continue;
        checkedBlocks++;
        const have = o.latestVersion(b);
        if (have !== want && lostWrites.length < 20) lostWrites.push(`block ${b}: version ${want} was written through the cache but the device has ${have}`);
      }
    }
    return { lostWrites, dirtyLeft: G.load(bc.g, 'dirtybufcount'), checkedBlocks };
  }
}

/**
 * A barrier of every caller; its last arrival quiesces the daemons, lets I/O drain, checks the
 * invariants, then releases the others. Holds no buffer. May sleep.
 */
function quiescentPoint(L: FileLoad, a: LoadArgs, res: LoadResult): void {
  const bc = L.bc;
  const G = bc.G;
  const gen = G.load(bc.g, 'phase_gen');
  if (G.add(bc.g, 'phase_arrived', 1) + 1 === a.ncallers) {
    L.quiesce(a.ndaemons ?? 0, gen + 1);
    res.invariantChecks++;
    for (const v of checkInvariants(bc.arena)) if (res.violations.length < 20) res.violations.push(`phase ${gen + 1}: ${v}`);
    L.unquiesce();
    G.store(bc.g, 'phase_arrived', 0);
    G.add(bc.g, 'phase_gen', 1);
    L.phase_gen.notify(bc.g);
    return;
  }
  const deadline = performance.now() + 60_000;
  while (L.phase_gen.load(bc.g) === gen) {
    if (performance.now() > deadline) throw new Error('bufcache load: the quiescent-point barrier was never released');
    L.phase_gen.wait(bc.g, gen, 50);
  }
}

/** The caller role's body: `ops` reads and writes, then (last caller only) the final sync. May sleep. */
export function runLoad(sync: Sync, spec: BufMachineSpec, cpu: number, a: LoadArgs): LoadResult {
  const L = new FileLoad(sync, spec);
  const bc = L.bc;
  const rec = new OpRecorder({ rampMs: a.rampMs ?? 0, binMs: a.binMs });
  const res: LoadResult = { ops: 0, reads: 0, writes: 0, hits: 0, vmHits: 0, misses: 0, errors: 0, mismatches: [], t0: 0, t1: 0, rec: rec.toJSON(), invariantChecks: 0, violations: [] };
  const phases = Math.max(1, a.phases ?? 1);
  const perPhase = Math.ceil(a.ops / phases);
  const seed = a.seed ?? 1;
  const readRatio = a.readRatio ?? 0.7;
  const pattern = a.pattern ?? 'mixed';
  const flushEvery = a.flushEvery ?? 200;
  const ra = a.readahead ?? 2;
  const record = a.record ?? true;
  let seqVp = 1 + (cpu % L.nvnodes);
  let seqLbn = (cpu * 7919) % L.fileBlocks;
  let runLeft = 0;
  let peak = 0;
  if (a.widenRaces && sync.hook === null) {
    const pts = new Set([bc.pt_getblk_found, bc.pt_getnewbuf_locked]);
    sync.hook = { at: (p, _addr, name) => void (p === Point.USER && pts.has(name) && hostSleep(0.2)) };
  }
  if (a.ops <= 0 && !(a.durationMs && a.durationMs > 0) && !a.replay) throw new RangeError('bufcache load: give ops, a duration, or both');
  res.t0 = performance.timeOrigin + performance.now();
  const until = a.durationMs && a.durationMs > 0 ? performance.now() + (a.rampMs ?? 0) + a.durationMs : Infinity;
  if (a.replay) {
    res.replayed = replayRequests(L, a.replay, res, rec, cpu, { ra, writeMode: a.writeMode ?? 'mixed', flushEvery, stop: () => performance.now() >= until });
  }
  // The clock is read every 16 operations: a duration ends within a few operations of its time.
  // The generated load (none when replaying a recorded one).
  for (let i = 0; !a.replay && (a.ops <= 0 || i < a.ops) && ((i & 15) !== 0 || performance.now() < until); i++) {
    const r = mix32(seed * 1000003 + cpu, i);
    let vp: number;
    let lbn: number;
    let sequential = pattern === 'seq' || (pattern === 'mixed' && runLeft > 0);
    if (pattern === 'mixed' && runLeft === 0 && mix32(r, 3) % 4 === 0) {
      runLeft = 16;
      sequential = true;
    }
    if (sequential) {
      if (++seqLbn >= L.fileBlocks) {
        seqLbn = 0;
        seqVp = 1 + (seqVp % L.nvnodes);
      }
      vp = seqVp;
      lbn = seqLbn;
      if (runLeft > 0) runLeft--;
    } else {
      vp = 1 + (mix32(r, 5) % L.nvnodes);
      lbn = mix32(r, 7) % L.fileBlocks;
      seqVp = vp;
      seqLbn = lbn;
    }
    const isRead = mix32(r, 9) / 4294967296 < readRatio;
    const t = record ? performance.now() : 0;
    if (isRead) {
      const { error, hit, vm } = L.read(vp, lbn, sequential ? ra : 0, res.mismatches);
      res.reads++;
      if (error) res.errors++;
      if (vm) res.vmHits++;
      if (hit) res.hits++;
      else res.misses++;
      if (record) rec.read((performance.now() - t) * 1e6, L.bsize);
    } else {
      if (L.write(vp, lbn, writeModeOf(a.writeMode ?? 'mixed', mix32(r, 11)), cpu)) res.errors++;
      res.writes++;
      if (record) rec.write((performance.now() - t) * 1e6, L.bsize);
    }
    res.ops++;
    peak = Math.max(peak, bc.gl('dirtykvaspace'));
    if (phases > 1 && (i + 1) % perPhase === 0 && i + 1 < a.ops) quiescentPoint(L, a, res);
    if (flushEvery > 0 && (i + 1) % flushEvery === 0) L.vfsync(1 + (mix32(r, 13) % L.nvnodes));
    sync.progress();
  }
  res.t1 = performance.timeOrigin + performance.now();
  res.rec = rec.toJSON();
  res.mismatches.push(...L.identityErrors);
  // The last caller to finish does the final sync.
  if (bc.G.add(bc.g, 'load_done', 1) + 1 === a.ncallers) {
    if (a.drain) res.drained = L.drainWait(peak);
    res.final = L.finalSync(a.ndaemons ?? 0);
  }
  return res;
}

