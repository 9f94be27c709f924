/**
 * The report shape every benchmark scenario produces: fio's JSON layout (`jobs[]` with `read` and
 * `write` objects holding `iops`, `bw_bytes`, `clat_ns` with `percentile`) plus kiolab's own
 * sections. Build it with `jobStats` from raw per-role counts and merged histograms.
 */
import { Histogram, type HistogramJSON } from './histogram.js';

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
  bw_bytes: number;
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
  return { io_bytes: bytes, bw_bytes: sec > 0 ? bytes / sec : 0, iops: sec > 0 ? ops / sec : 0, runtime: runtimeMs, total_ios: ops, clat_ns: clat(h) };
}

export function jobStats(jobname: string, perWorker: { read: DirSample; write: DirSample }[], runtimeMs: number): JobStats {
  return {
    jobname,
    workers: perWorker.length,
    read: dirStats(perWorker.map((w) => w.read), runtimeMs),
    write: dirStats(perWorker.map((w) => w.write), runtimeMs),
  };
}

/** A worker-side recorder for one role: call `read(ns, bytes)` / `write(ns, bytes)`, return `toJSON()`. */
export class OpRecorder {
  private readonly r = new Histogram();
  private readonly w = new Histogram();
  private rops = 0;
  private wops = 0;
  private rbytes = 0;
  private wbytes = 0;
  read(ns: number, bytes: number): void {
    this.r.record(ns);
    this.rops++;
    this.rbytes += bytes;
  }
  write(ns: number, bytes: number): void {
    this.w.record(ns);
    this.wops++;
    this.wbytes += bytes;
  }
  toJSON(): { read: DirSample; write: DirSample } {
    return {
      read: { ops: this.rops, bytes: this.rbytes, hist: this.r.toJSON() },
      write: { ops: this.wops, bytes: this.wbytes, hist: this.w.toJSON() },
    };
  }
}
