/**
 * `--workload FILE`, `--replay-speed` and `--workload-map`: a recorded block trace (src/workload
 * reads fio's iolog v2/v3, blkparse's text output and kiolab's `R|W offset length` lines) replayed
 * through the buffer cache (bench bufcache, bench mixed) or BootCache (bench bootcache), its
 * requests dealt to the callers by the trace's thread/process id or round-robin.
 */
import { type CallerMap, type Workload, type WorkloadRequest, WorkloadError, assignCallers, describeWorkload, loadWorkload } from '../workload/index.js';
import type { ReplayArgs, ReplayRequest } from '../bufcache/load.js';
import { type OptionValues, UsageError } from './registry.js';

/** The largest trace a bench device holds (its memory device's limit, also kept on a file). */
export const MAX_DEVICE_EXTENT = 2 ** 31 - 4096;

/** A workload as a run uses it: the trace, each caller's share in bytes, and how fast to replay. */
export interface WorkloadPlan {
  workload: Workload;
  /** Each caller's requests (R and W; T tags too when the scenario keeps them), in trace order. */
  perCaller: WorkloadRequest[][];
  /** 0: as fast as possible; s > 0: the recorded times divided by s. */
  speed: number;
  map: CallerMap;
  /** Requests replayed in all (after --ops), tags not counted. */
  requests: number;
  /** One line for the report's summary. */
  describe: string;
}

/** What the report's `options` and summary say of the workload. */
export function workloadOptions(p: WorkloadPlan | undefined): Record<string, unknown> {
  if (!p) return {};
  return { workload: p.workload.file, 'replay-speed': p.speed === 0 ? 'max' : p.speed === 1 ? 'recorded' : p.speed, 'workload-map': p.map };
}

function parseSpeed(v: string | boolean | undefined, timed: boolean): number {
  if (v === undefined) return timed ? 1 : 0;
  if (v === 'max') return 0;
  if (v === 'recorded') return 1;
  const x = typeof v === 'string' && /^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
  if (!(x > 0 && x <= 1e6)) throw new UsageError(`--replay-speed: expected max, recorded or a factor > 0 (2: twice as fast), got ${JSON.stringify(v)}`);
  return x;
}

/**
 * Load and deal `--workload` to `callers` (null when the option is absent). `ops` keeps the first
 * N requests; `keepTags` keeps `T` lines (BootCache's boot phases). Errors name the file and line.
 */
export function planWorkload(o: OptionValues, callers: number, opts: { ops?: number; keepTags?: boolean } = {}): WorkloadPlan | undefined {
  const file = o.workload;
  if (file === undefined) {
    for (const k of ['replay-speed', 'workload-map']) if (o[k] !== undefined) throw new UsageError(`--${k}: needs --workload FILE`);
    return undefined;
  }
  if (typeof file !== 'string' || file === '') throw new UsageError('--workload: expected a file');
  let w: Workload;
  try {
    w = loadWorkload(file);
  } catch (e) {
    if (e instanceof WorkloadError) throw new UsageError(`--workload ${e.message}`);
    throw e;
  }
  if (w.extent > MAX_DEVICE_EXTENT) throw new UsageError(`--workload ${file}: the trace reaches byte ${w.extent}, past the 2 GiB a bench device holds`);
  const map = o['workload-map'] ?? 'tid';
  if (map !== 'tid' && map !== 'rr') throw new UsageError(`--workload-map: expected tid or rr, got ${JSON.stringify(map)}`);
  const speed = parseSpeed(o['replay-speed'], w.timed);
  if (speed > 0 && !w.timed) throw new UsageError(`--replay-speed ${o['replay-speed']}: ${file} carries no times (${w.format}); replay it with --replay-speed max`);
  let kept = w.requests.filter((q) => q.op !== 'T' || opts.keepTags);
  if (opts.ops !== undefined) {
    let n = 0;
    kept = kept.filter((q) => q.op === 'T' || ++n <= opts.ops!);
  }
  const requests = kept.filter((q) => q.op !== 'T').length;
  if (requests === 0) throw new UsageError(`--workload ${file}: no read or write request to replay`);
  if (requests < callers) throw new UsageError(`--workload ${file}: ${requests} requests for ${callers} callers; give fewer callers (--cpus)`);
  const perCaller = assignCallers({ ...w, requests: kept }, callers, map);
  const speedText = speed === 0 ? 'as fast as possible' : speed === 1 ? 'at the recorded times' : `${speed}x the recorded speed`;
  return { workload: w, perCaller, speed, map, requests, describe: `workload    ${describeWorkload(w)}; ${requests.toLocaleString('en-US')} requests replayed ${speedText}, dealt by ${map === 'tid' ? 'thread id' : 'round-robin'} to ${callers} callers` };
}

/** A caller's share as the buffer cache replays it: whole `bsize` blocks covering each request. */
export function replayArgs(p: WorkloadPlan, caller: number, bsize: number): ReplayArgs {
  const requests: ReplayRequest[] = [];
  for (const q of p.perCaller[caller]) {
    if (q.op === 'T') continue;
    const lblock = Math.floor(q.offset / bsize);
    requests.push({ write: q.op === 'W', lblock, n: Math.ceil((q.offset + q.length) / bsize) - lblock, tMs: q.t * 1000 });
  }
  return { requests, speed: p.speed };
}
