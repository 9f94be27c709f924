/**
 * Roles of the `mixed` scenario (the whole stack on one machine; see src/cli/mixed.ts).
 *
 *  mixed:caller  a "process" of a machine that boots and then works: first it reads its share of
 *                the boot files in order (the reads BootCache's playlist was built from), then it
 *                reads and writes file blocks through the buffer cache until the main thread
 *                releases the load (swap's ctl_release, the same word that stops the pagers).
 *                Every read is checked against the version last written through the cache, every
 *                write is stamped by the device oracle (bufcache's FileLoad). The last caller to
 *                finish quiesces the buf daemons, syncs every file and checks no write was lost.
 *
 * The other roles of the scenario are the subsystems' own: bufcache:buf_daemon[_hw],
 * bootcache:reader, swap:pager and swap:device (a device worker with the swap I/O layer
 * attached, so asynchronous pageouts complete there; buffer-cache completions need nothing more).
 */
import { FileLoad, type ReplayArgs, type ReplayCounters, replayRequests, writeModeOf } from '../src/bufcache/load.js';
import { mix32 } from '../src/device/config.js';
import type { BufMachineSpec } from '../src/bufcache/layout.js';
import { OpRecorder } from '../src/report/types.js';
import { released } from '../src/swap/ctlchannel.js';
import { registerRoles } from '../src/engine/roles.js';
import type { Kernel } from '../src/engine/spec.js';

/** One sequential run of the boot: blocks lbn .. lbn+n-1 of file vp. */
export interface BootRun {
  vp: number;
  lbn: number;
  n: number;
}

export interface MixedCallerArgs {
  /** This caller's boot reads, in order. */
  boot: BootRun[];
  ncallers: number;
  /** Buf daemons in the run (the final sync waits for each to acknowledge its quiesce). */
  ndaemons: number;
  seed: number;
  /** Share of the work phase's operations that read (default 0.7). */
  readRatio?: number;
  /** Every this many work operations, vfsync one file (0: never). */
  flushEvery?: number;
  /** Blocks of read-ahead (breadn) on sequential reads. */
  readahead?: number;
  rampMs?: number;
  binMs?: number;
  /** Replay this share of a recorded workload as the work phase (--workload) instead of the generated mix. */
  replay?: ReplayArgs;
}

export interface MixedCallerResult extends ReplayCounters {
  cpu: number;
  bootReads: number;
  /** ms from the role's start to the end of its boot reads. */
  bootMs: number;
  rec: ReturnType<OpRecorder['toJSON']>;
  final?: { lostWrites: string[]; dirtyLeft: number; checkedBlocks: number };
  /** With `replay`: the requests replayed (fewer than given when the run ended first). */
  replayed?: number;
}

/** The caller: boot reads, then the work loop until released, then (last one) the final sync. May sleep. */
function mixedCaller(k: Kernel, a: MixedCallerArgs): MixedCallerResult {
  const L = new FileLoad(k.sync, k.spec as BufMachineSpec);
  const bc = L.bc;
  const rec = new OpRecorder({ rampMs: a.rampMs ?? 0, binMs: a.binMs ?? 100 });
  const res: MixedCallerResult = { cpu: k.cpu, bootReads: 0, bootMs: 0, ops: 0, reads: 0, writes: 0, hits: 0, vmHits: 0, misses: 0, errors: 0, mismatches: [], rec: rec.toJSON() };
  const readRatio = a.readRatio ?? 0.7;
  const flushEvery = a.flushEvery ?? 200;
  const ra = a.readahead ?? 2;
  const t0 = performance.now();
  const stop = () => released(k.arena) || k.shuttingDown();
  const read = (vp: number, lbn: number, rahead: number) => {
    const t = performance.now();
    const { error, hit, vm } = L.read(vp, lbn, rahead, res.mismatches);
    if (vm) res.vmHits++;
    const now = performance.now();
    rec.read((now - t) * 1e6, L.bsize, now);
    res.reads++;
    if (error) res.errors++;
    if (hit) res.hits++;
    else res.misses++;
  };
  // Boot: the files' blocks in the playlist's first-use order (sequential, with read-ahead).
  boot: for (const run of a.boot) {
    for (let i = 0; i < run.n; i++) {
      if (stop()) break boot;
      read(run.vp, run.lbn + i, Math.min(ra, run.n - i - 1));
      res.bootReads++;
      k.sync.progress();
    }
  }
  res.bootMs = performance.now() - t0;
  // Work: the recorded workload's share of this caller, or a mix of random and sequential reads
  // and writes over every file until released.
  if (a.replay) res.replayed = replayRequests(L, a.replay, res, rec, k.cpu, { ra, writeMode: 'mixed', flushEvery, stop });
  let seqVp = 1 + (k.cpu % L.nvnodes);
  let seqLbn = (k.cpu * 7919) % L.fileBlocks;
  let runLeft = 0;
  for (let i = 0; !a.replay && !stop(); i++) {
    const r = mix32(a.seed * 1000003 + k.cpu, i);
    let vp: number;
    let lbn: number;
    if (runLeft === 0 && mix32(r, 3) % 4 === 0) runLeft = 16;
    const sequential = runLeft > 0;
    if (sequential) {
      if (++seqLbn >= L.fileBlocks) {
        seqLbn = 0;
        seqVp = 1 + (seqVp % L.nvnodes);
      }
      vp = seqVp;
      lbn = seqLbn;
      runLeft--;
    } else {
      vp = 1 + (mix32(r, 5) % L.nvnodes);
      lbn = mix32(r, 7) % L.fileBlocks;
      seqVp = vp;
      seqLbn = lbn;
    }
    if (mix32(r, 9) / 4294967296 < readRatio) {
      read(vp, lbn, sequential ? ra : 0);
    } else {
      const t = performance.now();
      if (L.write(vp, lbn, writeModeOf('mixed', mix32(r, 11)), k.cpu)) res.errors++;
      const now = performance.now();
      rec.write((now - t) * 1e6, L.bsize, now);
      res.writes++;
    }
    res.ops++;
    if (flushEvery > 0 && (i + 1) % flushEvery === 0) L.vfsync(1 + (mix32(r, 13) % L.nvnodes));
    k.sync.progress();
  }
  res.rec = rec.toJSON();
  res.mismatches.push(...L.identityErrors);
  if (bc.G.add(bc.g, 'load_done', 1) + 1 === a.ncallers) res.final = L.finalSync(a.ndaemons);
  return res;
}

registerRoles(import.meta.url, {
  'mixed:caller': (k, a: MixedCallerArgs) => mixedCaller(k, a),
});
