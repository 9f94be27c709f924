/**
 * The instrumentation benchmark (`npm run bench`, name `instrumentation`): what the race lab's
 * instrumentation costs when no switch is on and no hook is installed. The same workloads run
 * in this build (dist/) and in the uninstrumented build of the same sources (dist/noinst/,
 * made by bench/noinst.ts: no hook calls, no user points, no switch checks), in the same run,
 * alternating which build goes first in each repetition to cancel drift; each figure is the
 * median of the paired ratios, instrumented / uninstrumented throughput, target >= 0.95x.
 *
 * Workloads: the buffer-cache hit loop (getblk+bqrelse, 1 worker), the BootCache hit loop (4 KiB
 * hits, 1 worker), a contended sleep lock (2 workers), a short `bench bufcache` (2 callers, I/O);
 * then, with both builds loaded in this thread, the buffer-cache hit loop, the BootCache hit loop
 * (the reader's completion done in place: this thread never sleeps) and the lock primitives
 * alone (a diagnostic without a target: the hook checks' cost where nothing else hides it).
 */
import { availableParallelism, loadavg } from 'node:os';
import type { BenchmarkOptions, BenchmarkResult, Figure } from './registry.js';
import { formatFigures, registerBenchmark } from './registry.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A build's root (dist/ or dist/noinst/) as a file URL ending in '/'. */
export const INSTRUMENTED_ROOT = new URL('../', import.meta.url).href;
export const NOINST_ROOT = new URL('../noinst/', import.meta.url).href;

export interface Workload {
  name: string;
  /** Pairs (one run of each build) at least, when one run is short and the host's drift is not. */
  minReps?: number;
  /** Throughput (ops/s) of one run of the workload in the build at `root`. */
  run(root: string, scale: number): Promise<number>;
}

/** A module of the build at `root`, after that build's own role sets (their planners) are registered. */
const mod = async <T>(root: string, path: string): Promise<T> => {
  await import(new URL('workers/index.js', root).href);
  return (await import(new URL(path, root).href)) as T;
};

type BenchHit = typeof import('./hit.js');
type MachineMod = typeof import('../src/engine/machine.js');
type CliBufcache = typeof import('../src/cli/bufcache.js');

export const WORKLOADS: Workload[] = [
  {
    name: 'bufcache hit loop (getblk+bqrelse, 1 worker)',
    minReps: 9,
    async run(root, scale) {
      const h = await mod<BenchHit>(root, 'bench/hit.js');
      const r = await h.runBufCacheMachine({ callers: 1, nblocks: 32, ops: Math.max(10_000, Math.round(20_000 * scale)), modes: ['bqrelse'], reps: 3, passes: 5, warmOps: 20_000 });
      return median(h.repRates(r.callers.map((c) => c.spans), 'bqrelse'));
    },
  },
  {
    name: 'BootCache hit loop (4 KiB hits, 1 worker)',
    // A machine's timed hits take ~30 ms, and this host's speed can change by 2x between two
    // machines: more pairs make the median ratio hold (so for the bufcache loop above).
    minReps: 9,
    async run(root, scale) {
      const h = await mod<BenchHit>(root, 'bench/hit.js');
      const r = await h.runBootCacheMachine({ locking: 'fine', callers: 1, regionBytes: (scale >= 1 ? 2 : 1) * 1024 * 1024, reqBytes: 4096, modes: ['kiolab'], reps: 5, passes: 4, warmOps: 12_000 });
      return median(h.repRates(r.callers.map((c) => c.spans), 'kiolab'));
    },
  },
  {
    name: 'contended sleep lock (2 workers)',
    // Who wins a contended lock, and how often the loser sleeps, varies run to run far more than
    // the hook checks cost: more pairs for a median that holds.
    minReps: 15,
    async run(root, scale) {
      const { Machine } = await mod<MachineMod>(root, 'src/engine/machine.js');
      const iters = Math.max(200_000, Math.round(500_000 * scale));
      const m = new Machine({ ncpu: 2, lab: true });
      const res = await m.run([{ role: 'lab:bench-contended', args: { iters, kind: 'mtx' }, count: 2 }], { timeoutMs: 120_000 });
      const spans = res.map((r) => r.value as { t0: number; t1: number });
      return (2 * iters * 1000) / (Math.max(...spans.map((s) => s.t1)) - Math.min(...spans.map((s) => s.t0)));
    },
  },
  {
    name: 'bench bufcache (2 callers, I/O, daemons)',
    async run(root, scale) {
      const b = await mod<CliBufcache>(root, 'src/cli/bufcache.js');
      const r = await b.runBufBench(b.parseBufBench({ callers: '2', ops: String(Math.max(1500, Math.round(3000 * scale))), nbuf: '256' }));
      // This build's report keeps the runs under `bufcache`; a build from before issue 16 at the top.
      const run = ((r as unknown as { bufcache?: { runs: typeof r.bufcache.runs } }).bufcache ?? (r as unknown as { runs: typeof r.bufcache.runs })).runs[0];
      if (run.oracle.mismatchCount > 0 || run.invariants.length > 0) throw new Error(`instrumentation bench: bench bufcache in ${root} failed its checks (${run.oracle.mismatchCount} oracle mismatches, ${run.invariants.length} invariant violations)`);
      return run.opsPerSec;
    },
  },
];

/**
 * An in-process pair: both builds' code loaded in this thread on machines of their own, `run(n)`
 * times n operations (ms). Alternating the builds every few milliseconds in one thread cancels
 * the host's drift far better than separate worker runs.
 */
export interface InProcess {
  name: string;
  /** Operations per timed slice. */
  n: number;
  /** Has a target (>= 0.95x); without, a diagnostic figure. */
  target: boolean;
  prepare(root: string): Promise<(n: number) => number>;
}

const BS = 16384;

export const IN_PROCESS: InProcess[] = [
  {
    name: 'bufcache hit loop, one thread, builds interleaved (getblk+bqrelse)',
    n: 100_000,
    target: true,
    async prepare(root) {
      const { Machine } = await mod<MachineMod>(root, 'src/engine/machine.js');
      const { BufCache } = await mod<typeof import('../src/bufcache/core.js')>(root, 'src/bufcache/core.js');
      const { getblk } = await mod<typeof import('../src/bufcache/getblk.js')>(root, 'src/bufcache/getblk.js');
      const { bqrelse } = await mod<typeof import('../src/bufcache/io.js')>(root, 'src/bufcache/io.js');
      const { B_CACHE } = await mod<typeof import('../src/device/buf.js')>(root, 'src/device/buf.js');
      const m = new Machine({ ncpu: 1, devices: [{ name: 'md0', blocks: 8192 }], bufcache: { nbuf: 256, files: 2, fileBlocks: 64, bsize: BS } });
      const bc = BufCache.of(m.sync);
      // 32 resident buffers (marked cached without I/O: the main thread never sleeps).
      for (let i = 0; i < 32; i++) {
        const bp = getblk(bc, 1, i * BS, BS, 0, 0);
        bc.b_flags.or(bp, B_CACHE);
        bqrelse(bc, bp);
      }
      return (n) => {
        const t0 = performance.now();
        for (let i = 0; i < n; i++) bqrelse(bc, getblk(bc, 1, (i & 31) * BS, BS, 0, 0));
        return performance.now() - t0;
      };
    },
  },
  {
    name: 'BootCache hit loop, one thread, builds interleaved (4 KiB hits)',
    n: 1024,
    target: true,
    async prepare(root) {
      const { Machine } = await mod<MachineMod>(root, 'src/engine/machine.js');
      const { BootCacheControl } = await mod<typeof import('../src/bootcache/control.js')>(root, 'src/bootcache/control.js');
      const { BootCache } = await mod<typeof import('../src/bootcache/cache.js')>(root, 'src/bootcache/cache.js');
      const { BC_FLAG_IOBUSY, CE_IODONE, PH_MAGIC } = await mod<typeof import('../src/bootcache/defs.js')>(root, 'src/bootcache/defs.js');
      const { Devices } = await mod<typeof import('../src/device/disk.js')>(root, 'src/device/disk.js');
      const { setupRaw } = await mod<typeof import('../src/device/rawio.js')>(root, 'src/device/rawio.js');
      const ext = 64 * 1024;
      const region = 4 * 1024 * 1024;
      const spec = { ncpu: 1, devices: [{ name: 'disk0', blocks: region / 512 }] };
      const m = new Machine({ ...spec, bootcache: { locking: 'fine', maxExtents: region / ext, bufferBytes: region, historyMaxClusters: 2000, memSizeMB: 4096, cacheTimeoutMs: 3_600_000 } });
      const ctl = new BootCacheControl(m);
      const entries = Array.from({ length: region / ext }, (_, i) => ({ pce_offset: i * ext, pce_length: ext, pce_batch: 0 }));
      await ctl.start({ ph_magic: PH_MAGIC, ph_blocksize: 512, entries });
      ctl.untimeout();
      const dev = Devices.of(m.sync, spec);
      const bc = BootCache.of(m.sync);
      bc.dev ??= dev;
      bc.sync_extents();
      // What the reader's completion does, without the I/O (this thread may not sleep): every
      // extent read (its blocks are present since BC_init_cache), then readahead over.
      for (let i = 0; i < bc.n; i++) bc.setExtentFlag(i, CE_IODONE);
      bc.clearFlag(BC_FLAG_IOBUSY);
      const i32 = m.arena.i32;
      const rearm = (): void => {
        for (let i = 0; i < bc.n; i++) {
          bc.LOCK_EXTENT(i);
          const map = bc.emap[i] >> 2;
          for (let b = 0; b < ext / 512; b++) i32[map + (b >> 5)] |= 1 << (b & 31);
          bc.UNLOCK_EXTENT(i);
        }
      };
      const bp = dev.pbufs.getpbuf();
      if (bp === null) throw new Error('instrumentation bench: no pbuf');
      const data = m.arena.region('bootcache.callers').offset;
      const io = dev.io;
      // A slice is one pass over the region (n <= region / 4 KiB hits), its blocks re-armed first.
      return (n) => {
        rearm();
        const t0 = performance.now();
        for (let q = 0; q < n; q++) {
          const bio2 = setupRaw(dev, bp, 0, false, q * 8, 8, data);
          const bio1 = io.setup_sync(bp);
          dev.dev_dstrategy(0, bio2);
          if (io.biowait(bio1, null, 0)) throw new Error('instrumentation bench: a BootCache hit failed');
        }
        return performance.now() - t0;
      };
    },
  },
  {
    name: 'lock primitives alone, one thread (spin pair + sleep-lock try/unlock + point)',
    n: 500_000,
    target: false,
    async prepare(root) {
      const { Machine } = await mod<MachineMod>(root, 'src/engine/machine.js');
      const { LabLayout } = await mod<typeof import('../workers/lab.js')>(root, 'workers/lab.js');
      const m = new Machine({ ncpu: 1, lab: true });
      const lab = m.arena.pool('lab', LabLayout).addr(0);
      const spin = LabLayout.addrOf(lab, 'spin');
      const mtx = LabLayout.addrOf(lab, 'mtx');
      const s = m.sync;
      return (n) => {
        const t0 = performance.now();
        for (let i = 0; i < n; i++) {
          s.spin_lock(spin);
          s.spin_unlock(spin);
          s.trylock(mtx);
          s.unlock(mtx);
          s.point(1, spin);
        }
        return performance.now() - t0;
      };
    },
  },
];

/** Alternate the two builds' slices `rounds` times (after a warm-up); the median paired ratio of throughput. */
export async function measureInProcess(w: InProcess, rounds: number): Promise<OverheadRow> {
  const inst = await w.prepare(INSTRUMENTED_ROOT);
  const noinst = await w.prepare(NOINST_ROOT);
  for (let k = 0; k < 5; k++) {
    inst(w.n);
    noinst(w.n);
  }
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let ta: number;
    let tb: number;
    if (r % 2 === 0) {
      ta = inst(w.n);
      tb = noinst(w.n);
    } else {
      tb = noinst(w.n);
      ta = inst(w.n);
    }
    a.push((w.n * 1000) / ta);
    b.push((w.n * 1000) / tb);
  }
  return { workload: w.name, instrumented: a, uninstrumented: b, ratio: median(a.map((x, i) => x / b[i])), bestRatio: Math.max(...a) / Math.max(...b) };
}

export interface OverheadRow {
  workload: string;
  /** Throughput of each repetition, ops/s. */
  instrumented: number[];
  uninstrumented: number[];
  /** Median of the per-repetition ratios instrumented / uninstrumented (each pair run back to back). */
  ratio: number;
  /** Best instrumented / best uninstrumented (interference only slows a run down). */
  bestRatio: number;
}

/**
 * Run every workload `reps` times in both builds, back to back, alternating which goes first;
 * per workload the median of the per-repetition ratios (instrumented / uninstrumented
 * throughput): pairing cancels the host's drift, the median its outliers.
 */
export async function measureOverhead(o: { reps: number; scale: number; workloads?: Workload[]; progress?: (s: string) => void }): Promise<OverheadRow[]> {
  const rows: OverheadRow[] = [];
  for (const w of o.workloads ?? WORKLOADS) {
    const inst: number[] = [];
    const noinst: number[] = [];
    // One untimed run of each build first: module loading and the first worker starts.
    await w.run(INSTRUMENTED_ROOT, Math.min(o.scale, 0.1));
    await w.run(NOINST_ROOT, Math.min(o.scale, 0.1));
    const reps = Math.max(o.reps, w.minReps ?? 0);
    for (let r = 0; r < reps; r++) {
      const order = r % 2 === 0 ? [true, false] : [false, true];
      for (const instrumented of order) {
        o.progress?.(`instrumentation: ${w.name}, ${instrumented ? 'instrumented' : 'uninstrumented'} (rep ${r + 1}/${reps})`);
        (instrumented ? inst : noinst).push(await w.run(instrumented ? INSTRUMENTED_ROOT : NOINST_ROOT, o.scale));
      }
    }
    rows.push({ workload: w.name, instrumented: inst, uninstrumented: noinst, ratio: median(inst.map((x, i) => x / noinst[i])), bestRatio: Math.max(...inst) / Math.max(...noinst) });
  }
  return rows;
}

export async function benchInstrumentation({ scale, reps }: BenchmarkOptions, progress: (s: string) => void): Promise<BenchmarkResult> {
  progress('instrumentation: building dist/noinst (bench/noinst.ts)');
  const { ensureNoinst } = (await import(new URL('bench/noinst.js', INSTRUMENTED_ROOT).href)) as typeof import('./noinst.js');
  const built = ensureNoinst();
  const load0 = loadavg()[0];
  const rows = await measureOverhead({ reps: Math.max(5, reps), scale, progress });
  const targeted = new Set(rows.map((r) => r.workload));
  for (const w of IN_PROCESS) {
    progress(`instrumentation: ${w.name}`);
    const r = await measureInProcess(w, Math.max(20, Math.round(40 * Math.min(1, scale * 2))));
    rows.push(r);
    if (w.target) targeted.add(r.workload);
  }
  const load = { before: load0, after: loadavg()[0], cores: availableParallelism() };
  const figures: Figure[] = rows.map((r) => ({
    name: `${r.workload}: instrumented / uninstrumented`,
    unit: 'ops/s',
    baseline: median(r.uninstrumented),
    value: median(r.instrumented),
    ratio: r.ratio,
    ...(targeted.has(r.workload) ? { target: '>= 0.95x', ok: r.ratio >= 0.95 } : {}),
  }));
  return {
    figures,
    details: { hostLoad: load, build: { files: built.files, hooks: built.hooks, points: built.points, switches: built.switches, rebuilt: built.rebuilt }, rows },
    text: `${formatFigures('instrumentation', figures)}\nbaseline: the same sources built without hook calls, user points and switch checks (dist/noinst: ${built.hooks} hook calls, ${built.points} points, ${built.switches} switch checks removed), same run, builds alternating; ratio: the median of the per-repetition ratios (baseline and kiolab columns: the medians).\nbest-of ratios: ${rows.map((r) => r.bestRatio.toFixed(2)).join(', ')}; host load average ${load.before.toFixed(1)} -> ${load.after.toFixed(1)} on ${load.cores} cores${Math.max(load.before, load.after) > load.cores ? ': the host was busy, the ratios are noisy' : ''}.`,
  };
}

registerBenchmark({
  name: 'instrumentation',
  description: 'throughput with the race instrumentation idle against a build without it (target >= 0.95x)',
  order: 90,
  run: benchInstrumentation,
});
