/**
 * The report shape every benchmark scenario produces: fio's JSON layout (`jobs[]` with `read` and
 * `write` objects holding `iops`, `bw_bytes`, `clat_ns` with `percentile`) plus kiolab's own
 * sections. Build it with `jobStats` from raw per-role counts and merged histograms.
 */
import { Histogram, type HistogramJSON } from './histogram.js';
import { TraceKind, workerTrace } from './trace.js';

export const PERCENTILES = [1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.5, 99.9, 99.95, 99.99];

export interface ClatNs {
  min: number;
  max: number;
  mean: number;
  stddev: number;
  N: number;
  percentile: Record<string, number>;
}

export interface DirStats {
  io_bytes: number;
  /** Bytes per second; `bw` is fio's KiB/s. */
  bw_bytes: number;
  bw: number;
  iops: number;
  runtime: number; // ms
  total_ios: number;
  clat_ns: ClatNs;
}

export interface JobStats {
  jobname: string;
  /** Workers (cpus) that ran this role. */
  workers: number;
  read: DirStats;
  write: DirStats;
  /** Hit and miss counts of the caches this role went through (e.g. `bootcache`, `bufcache`). */
  hits?: Record<string, HitStats>;
  /** Ops left out because they ran during the ramp. */
  ramp_ios?: number;
  /** Ops (read + write) of each worker, in cpu order: fairness under contention. */
  worker_ios?: number[];
}

export interface HitStats {
  hits: number;
  misses: number;
  /** hits / (hits + misses), 0 when both are 0. */
  ratio: number;
}

export function hitStats(hits: number, misses: number): HitStats {
  return { hits, misses, ratio: hits + misses > 0 ? hits / (hits + misses) : 0 };
}

/** What a worker returns for one direction: op count, bytes and its latency histogram. */
export interface DirSample {
  ops: number;
  bytes: number;
  hist: HistogramJSON;
}

export function clat(h: Histogram): ClatNs {
  const percentile: Record<string, number> = {};
  for (const p of PERCENTILES) percentile[p.toFixed(6)] = Math.round(h.percentile(p));
  return { min: h.count ? Math.round(h.min) : 0, max: Math.round(h.max), mean: h.mean(), stddev: h.stddev(), N: h.count, percentile };
}

/** Merge per-worker samples of one direction into fio's figures over `runtimeMs`. */
export function dirStats(samples: DirSample[], runtimeMs: number): DirStats {
  const h = new Histogram();
  let ops = 0;
  let bytes = 0;
  for (const s of samples) {
    h.merge(s.hist);
    ops += s.ops;
    bytes += s.bytes;
  }
  const sec = runtimeMs / 1000;
  const bw = sec > 0 ? bytes / sec : 0;
  return { io_bytes: bytes, bw_bytes: bw, bw: Math.round(bw / 1024), iops: sec > 0 ? ops / sec : 0, runtime: runtimeMs, total_ios: ops, clat_ns: clat(h) };
}

export function jobStats(jobname: string, perWorker: { read: DirSample; write: DirSample }[], runtimeMs: number): JobStats {
  return {
    jobname,
    workers: perWorker.length,
    read: dirStats(perWorker.map((w) => w.read), runtimeMs),
    write: dirStats(perWorker.map((w) => w.write), runtimeMs),
  };
}

/** Throughput over time of one worker: ops and bytes per bin of `binMs`, bin 0 at `t0Ms` (epoch ms). */
export interface TimelineSample {
  binMs: number;
  /** Absolute time (Date.now() scale) of bin 0. */
  t0Ms: number;
  rops: number[];
  wops: number[];
  rbytes: number[];
  wbytes: number[];
}

/** What `OpRecorder.toJSON()` returns (a role result may be this, or hold it under `io`). */
export interface RecorderJSON {
  read: DirSample;
  write: DirSample;
  /** Epoch ms of the first counted op's start and of the last op's end (absent when no op counted). */
  span?: { t0: number; t1: number };
  timeline?: TimelineSample;
  /** Ops left out of the figures because they ran during the ramp. */
  rampOps?: number;
}

export interface RecorderOptions {
  /** Warm-up: ops that end before `startMs + rampMs` are left out of the figures (still in the timeline). */
  rampMs?: number;
  /** Epoch ms the run started (default: when the recorder was made). */
  startMs?: number;
  /** Width of a timeline bin in ms (default 100). */
  binMs?: number;
}

const epochNow = (): number => performance.timeOrigin + performance.now();

/**
 * A worker-side recorder for one role: call `read(ns, bytes)` / `write(ns, bytes)` when an op
 * ends, return `toJSON()` from the role. It also keeps the timeline, honours the ramp, bumps the
 * cpu's live counter (progress line) and writes an I/O span into the cpu's trace ring when the
 * run is traced (see trace.ts).
 */
export class OpRecorder {
  private readonly r = new Histogram();
  private readonly w = new Histogram();
  private rops = 0;
  private wops = 0;
  private rbytes = 0;
  private wbytes = 0;
  private rampOps = 0;
  private t0 = Infinity;
  private t1 = 0;
  private readonly rampEnd: number;
  private readonly binMs: number;
  private readonly bin0: number;
  private readonly tl = { rops: [] as number[], wops: [] as number[], rbytes: [] as number[], wbytes: [] as number[] };
  private readonly wt = workerTrace();
  private readonly origin = performance.timeOrigin;

  constructor(opts: RecorderOptions = {}) {
    const start = opts.startMs ?? epochNow();
    this.rampEnd = start + (opts.rampMs ?? 0);
    this.binMs = opts.binMs ?? 100;
    if (!(this.binMs > 0)) throw new RangeError(`OpRecorder: binMs must be > 0, got ${opts.binMs}`);
    this.bin0 = Math.floor(start / this.binMs);
  }

  /**
   * One read of `bytes` that took `ns`, ending now. Pass `perfNow`, the `performance.now()` you
   * took when the op ended, to save a clock read on a hot path.
   */
  read(ns: number, bytes: number, perfNow?: number): void {
    const t = this.op(ns, bytes, 0, perfNow);
    if (t < this.rampEnd) return;
    this.r.record(ns);
    this.rops++;
    this.rbytes += bytes;
  }

  /** One write (see `read`). */
  write(ns: number, bytes: number, perfNow?: number): void {
    const t = this.op(ns, bytes, 1, perfNow);
    if (t < this.rampEnd) return;
    this.w.record(ns);
    this.wops++;
    this.wbytes += bytes;
  }

  /** Timeline, span, live counter and trace of one op; returns its end time (epoch ms). */
  private op(ns: number, bytes: number, dir: 0 | 1, perfNow?: number): number {
    const t = this.origin + (perfNow ?? performance.now());
    const b = Math.max(0, Math.floor(t / this.binMs) - this.bin0);
    const ops = dir === 0 ? this.tl.rops : this.tl.wops;
    const by = dir === 0 ? this.tl.rbytes : this.tl.wbytes;
    while (ops.length <= b) ops.push(0);
    while (by.length <= b) by.push(0);
    ops[b]++;
    by[b] += bytes;
    if (t < this.rampEnd) {
      this.rampOps++;
    } else {
      const begin = t - ns / 1e6;
      if (begin < this.t0) this.t0 = Math.max(begin, this.rampEnd);
      this.t1 = t;
    }
    const wt = this.wt;
    if (wt !== null) {
      // This cpu's word (one writer, any number of recorders); it wraps, LiveOps reads it modulo 2^32.
      if (wt.live) wt.ring.countOp();
      if (wt.trace) {
        const us = wt.now();
        wt.ring.put(dir === 0 ? TraceKind.IO_READ : TraceKind.IO_WRITE, 0, us - ns / 1000, ns / 1000, 0, bytes);
      }
    }
    return t;
  }

  toJSON(): RecorderJSON {
    const pad = (a: number[], n: number) => [...a, ...new Array<number>(Math.max(0, n - a.length)).fill(0)];
    const n = Math.max(this.tl.rops.length, this.tl.wops.length);
    return {
      read: { ops: this.rops, bytes: this.rbytes, hist: this.r.toJSON() },
      write: { ops: this.wops, bytes: this.wbytes, hist: this.w.toJSON() },
      ...(this.t1 > 0 ? { span: { t0: this.t0, t1: this.t1 } } : {}),
      timeline: {
        binMs: this.binMs,
        t0Ms: this.bin0 * this.binMs,
        rops: pad(this.tl.rops, n),
        wops: pad(this.tl.wops, n),
        rbytes: pad(this.tl.rbytes, n),
        wbytes: pad(this.tl.wbytes, n),
      },
      rampOps: this.rampOps,
    };
  }
}
