/**
 * The run report every load scenario returns: fio's JSON layout (a version and timestamp header,
 * `jobs[]` with `read`/`write` objects holding `iops`, `bw_bytes`, `io_bytes`, `runtime`,
 * `total_ios`, `clat_ns`) plus kiolab's own sections: `locks`, `sleeps`, `sysctl`, `bootcache`,
 * `uvmexp`, `devices`, `timeline` and `machine`.
 *
 * A scenario builds it in a few lines:
 *
 *   const m = new Machine(withReport(spec, ctx));
 *   const results = await runMachine(m, roles, ctx);          // run-machine.ts
 *   return buildRunReport({ scenario: 'bufcache', machine: m, results, ctx, sysctl: {...} });
 *
 * where each load role returns `rec.toJSON()` of an `OpRecorder` (or an object holding it under
 * `io` or `rec`, next to anything else the role wants to return). A scenario may add its own sections as
 * extra fields (`{ ...buildRunReport(...), swapctl: {...} }`): the JSON keeps them, the human
 * report is the scenario's `format` (use `formatRunReport` and append), the HTML ignores them.
 */
import type { ArenaUsage } from '../shm/arena.js';
import { availableParallelism, cpus as hostCpus } from 'node:os';
import { readFileSync } from 'node:fs';
import type { Arena } from '../shm/arena.js';
import type { Sync } from '../sync/sync.js';
import { type LockClassStats, type SleepStats, type ThreadTime, lockTable, sleepTable, threadTimes } from '../sync/snapshot.js';
import { type DeviceStats, deviceStats } from '../device/disk.js';
import type { MachineSpec } from '../engine/spec.js';
import type { RoleResult } from '../engine/protocol.js';
import { type DirSample, type HitStats, type JobStats, type RecorderJSON, type TimelineSample, dirStats } from './types.js';

export const KIOLAB_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    return `kiolab-${pkg.version}`;
  } catch {
    return 'kiolab-unknown';
  }
})();

export interface MachineInfo {
  node: string;
  /** cpus (workers) of the machine model. */
  cpus: number;
  hostCores: number;
  hostCpuModel: string;
  platform: string;
  arch: string;
  /** The arena's bytes by what they hold: page memory, device media, metadata (absent for reports without a machine). */
  arena?: ArenaUsage;
}

/** Throughput over time per role (bins of `binMs`, bin 0 at the start of the run). */
export interface Timeline {
  binMs: number;
  /** Ramp length in ms (bins before it are warm-up). */
  rampMs: number;
  roles: { role: string; iops: number[]; bw_bytes: number[]; read_iops: number[]; write_iops: number[] }[];
}

export interface Check {
  name: string;
  ok: boolean;
  detail?: string;
}

/** A table of a subsystem's own (swap devices, the primitives' figures): shown in the text and HTML reports. */
export interface ReportTable {
  title: string;
  head: string[];
  rows: (string | number)[][];
}

/** A lock class row; `run` names the run it came from when a report combines several (combineRuns). */
export type LockRow = LockClassStats & { run?: string };
/** A wait message row; `run` as in LockRow. */
export type SleepRow = SleepStats & { run?: string };

export interface RunReport {
  kiolab_version: string;
  /** Unix seconds, as fio's `timestamp`. */
  timestamp: number;
  time: string;
  scenario: string;
  /** Every option the run used (common and the scenario's), after --config and defaults. */
  options: Record<string, unknown>;
  machine: MachineInfo;
  /** The scenario's headline: a few lines saying what ran and what it found, printed first. */
  summary?: string[];
  jobs: JobStats[];
  locks: LockRow[];
  sleeps: SleepRow[];
  devices: DeviceStats[];
  /** Where each role's workers spent their time (own code, lock waits, the device, other sleeps). */
  timeByRole?: RoleTime[];
  /** The subsystem's own tables (see ReportTable). */
  tables?: ReportTable[];
  sysctl?: Record<string, number | string>;
  bootcache?: Record<string, number | string>;
  uvmexp?: Record<string, number | string>;
  /** Other subsystem counters, by section name, under their kernel names. */
  counters?: Record<string, Record<string, number | string>>;
  timeline: Timeline;
  /** Checks the scenario ran (oracle, invariants); a failed one makes the exit code 1. */
  checks?: Check[];
  trace?: { file: string; events: number; dropped: number };
  /** The bug switches the machines ran with (--as-seed: the seed's variants); absent when none. */
  switches?: string[];
  /** The one-line verdict over `checks` (set by the command when it prints the report). */
  verdict?: { pass: boolean; checks: number; failed: string[]; line: string };
  /** Set when Ctrl-C stopped the load: the figures cover what ran until then. */
  partial?: { reason: string; afterS: number };
}

/**
 * Where one role's workers spent their time, summed over them (µs), from each worker's start to
 * its end: lock waits (spinning, or asleep on a sleep lock); the device (asleep for an I/O to
 * complete, in biowait or bio_track_wait; for a device worker, serving requests: the transfer
 * and the latency model); the other sleeps (a daemon's idle wait, a buffer or pbuf shortage,
 * readahead); and the rest, the role's own code, the model's included (a copy, a lookup, the
 * lock and unlock calls themselves, a completion run on the device worker).
 */
export interface RoleTime {
  role: string;
  workers: number;
  wallUs: number;
  lockWaitUs: number;
  deviceUs: number;
  otherSleepUs: number;
  ownUs: number;
  /** The role's ops (reads + writes, ramp excluded) per second of one worker's time; absent for roles that record none. */
  opsPerWorkerS?: number;
  /** The other sleeps' largest wait messages (µs), most first. */
  topSleeps: [string, number][];
}

/** Sum per-cpu times by role (named by `jobName`), with each job's ops per worker-second. */
export function roleTimes(threads: ThreadTime[], jobs: JobStats[], jobName: (role: string) => string = (r) => r): RoleTime[] {
  const by = new Map<string, RoleTime & { sleeps: Map<string, number> }>();
  for (const t of threads) {
    const name = jobName(t.role);
    let r = by.get(name);
    if (!r) {
      r = { role: name, workers: 0, wallUs: 0, lockWaitUs: 0, deviceUs: 0, otherSleepUs: 0, ownUs: 0, topSleeps: [], sleeps: new Map() };
      by.set(name, r);
    }
    r.workers++;
    r.wallUs += t.wallUs;
    r.lockWaitUs += t.lockWaitUs;
    r.deviceUs += t.ioWaitUs + t.deviceBusyUs;
    r.otherSleepUs += Math.max(0, t.sleepUs - t.ioWaitUs);
    r.ownUs += Math.max(0, t.wallUs - t.lockWaitUs - t.sleepUs - t.deviceBusyUs);
    for (const [w, us] of Object.entries(t.sleeps)) r.sleeps.set(w, (r.sleeps.get(w) ?? 0) + us);
  }
  return [...by.values()].map(({ sleeps, ...r }) => {
    const job = jobs.find((j) => j.jobname === r.role);
    const ops = job ? job.read.total_ios + job.write.total_ios : 0;
    return {
      ...r,
      ...(ops > 0 && r.wallUs > 0 ? { opsPerWorkerS: ops / (r.wallUs / 1e6) } : {}),
      topSleeps: [...sleeps].sort((a, b) => b[1] - a[1]).slice(0, 3),
    };
  });
}

export function isRunReport(r: unknown): r is RunReport {
  const o = r as RunReport;
  return typeof o === 'object' && o !== null && typeof o.kiolab_version === 'string' && Array.isArray(o.jobs);
}

export function machineInfo(ncpu: number): MachineInfo {
  const c = hostCpus();
  return {
    node: process.version,
    cpus: ncpu,
    hostCores: availableParallelism(),
    hostCpuModel: c[0]?.model?.trim() ?? 'unknown',
    platform: process.platform,
    arch: process.arch,
  };
}

/** The recorder output in a role result: the value itself, or its `io` or `rec` field; null when none. */
export function recorderOf(value: unknown): RecorderJSON | null {
  const isRec = (v: unknown): v is RecorderJSON => {
    const o = v as RecorderJSON;
    return typeof o === 'object' && o !== null && typeof o.read?.hist === 'object' && typeof o.write?.hist === 'object';
  };
  if (isRec(value)) return value;
  const v = value as { io?: unknown; rec?: unknown } | null;
  if (isRec(v?.io)) return v.io;
  return isRec(v?.rec) ? v.rec : null;
}

/** Group recorder outputs by role name, in the order roles first appear. */
export function groupByRole(results: RoleResult[]): Map<string, RecorderJSON[]> {
  const by = new Map<string, RecorderJSON[]>();
  for (const r of results) {
    const rec = recorderOf(r?.value);
    if (!rec) continue;
    const list = by.get(r.role) ?? [];
    list.push(rec);
    by.set(r.role, list);
  }
  return by;
}

/** Span of a set of recorders: first counted op's start to the last op's end, in ms (0 if none). */
export function spanMs(recs: RecorderJSON[]): number {
  const spans = recs.map((r) => r.span).filter((s): s is { t0: number; t1: number } => !!s);
  if (spans.length === 0) return 0;
  return Math.max(...spans.map((s) => s.t1)) - Math.min(...spans.map((s) => s.t0));
}

/** fio's job figures of one role from its workers' recorders. */
export function roleJob(jobname: string, recs: RecorderJSON[], runtimeMs?: number, hits?: Record<string, HitStats>): JobStats {
  const rt = runtimeMs ?? spanMs(recs);
  const dir = (f: (r: RecorderJSON) => DirSample) => dirStats(recs.map(f), rt);
  const rampOps = recs.reduce((a, r) => a + (r.rampOps ?? 0), 0);
  return {
    jobname,
    workers: recs.length,
    read: dir((r) => r.read),
    write: dir((r) => r.write),
    ...(hits ? { hits } : {}),
    ...(rampOps ? { ramp_ios: rampOps } : {}),
    worker_ios: recs.map((r) => r.read.ops + r.write.ops),
  };
}

/** Merge the recorders' timelines per role onto one time axis starting at the earliest bin. */
export function mergeTimelines(by: Map<string, RecorderJSON[]>, rampMs = 0): Timeline {
  const all = [...by.values()].flat().map((r) => r.timeline).filter((t): t is TimelineSample => !!t);
  const binMs = all.length ? Math.max(...all.map((t) => t.binMs)) : 100;
  const t0 = all.length ? Math.min(...all.map((t) => t.t0Ms)) : 0;
  const roles: Timeline['roles'] = [];
  for (const [role, recs] of by) {
    const r: number[] = [];
    const w: number[] = [];
    const bytes: number[] = [];
    for (const rec of recs) {
      const t = rec.timeline;
      if (!t) continue;
      for (let k = 0; k < t.rops.length; k++) {
        const b = Math.floor((t.t0Ms + k * t.binMs - t0) / binMs);
        while (r.length <= b) (r.push(0), w.push(0), bytes.push(0));
        r[b] += t.rops[k];
        w[b] += t.wops[k];
        bytes[b] += t.rbytes[k] + t.wbytes[k];
      }
    }
    const perSec = (xs: number[]) => xs.map((x) => (x * 1000) / binMs);
    roles.push({
      role,
      read_iops: perSec(r),
      write_iops: perSec(w),
      iops: perSec(r.map((x, k) => x + w[k])),
      bw_bytes: perSec(bytes),
    });
  }
  return { binMs, rampMs, roles };
}

export interface BuildArgs {
  scenario: string;
  /** The machine after its run (its arena still holds every counter). */
  machine: { arena: Arena; sync: Sync; spec: MachineSpec };
  results: RoleResult[];
  /** Runtime of every job in ms; default: each role's own span (first op to last, ramp excluded). */
  runtimeMs?: number;
  /** The run context from the command (its options land in `options`). */
  ctx?: { common?: object; options?: object };
  options?: Record<string, unknown>;
  /** Job names for roles (default: the role name). */
  jobName?: (role: string) => string;
  /** Hit/miss counts per role (`bufcache:caller` → { bufcache: hitStats(h, m) }). */
  hits?: Record<string, Record<string, HitStats>>;
  sysctl?: Record<string, number | string>;
  bootcache?: Record<string, number | string>;
  uvmexp?: Record<string, number | string>;
  counters?: Record<string, Record<string, number | string>>;
  checks?: Check[];
  summary?: string[];
  tables?: ReportTable[];
}

/**
 * A machine run with bug switches on that stopped on one of kiolab's contract checks (a sleep in
 * a completion context, a use after free...): the switch's consequence, caught. The bench turns
 * it into a failed check with the message (exit 1), not an internal error.
 */
export class SwitchFault extends Error {
  constructor(
    message: string,
    readonly switches: string[],
    readonly ncpu: number,
  ) {
    super(message);
    this.name = 'SwitchFault';
  }
}

/** The report of a run a SwitchFault stopped: no figures, one failed check saying what was caught. */
export function stoppedRunReport(scenario: string, ctx: { common?: object; options?: object } | undefined, f: SwitchFault): RunReport {
  return {
    ...reportHeader(scenario),
    options: { ...(ctx?.options ?? {}), ...(ctx?.common ?? {}) },
    machine: machineInfo(f.ncpu),
    summary: [`the run stopped: a worker broke a contract with bug switches on (${f.switches.join(', ')}): ${f.message}`],
    jobs: [],
    locks: [],
    sleeps: [],
    devices: [],
    timeline: mergeTimelines(new Map()),
    checks: [{ name: 'the run ended without breaking a contract (the switches on are the seed\'s own bugs)', ok: false, detail: f.message }],
    switches: f.switches,
  };
}

/** The fields every run report starts with: the version, when, and the scenario. */
function reportHeader(scenario: string): Pick<RunReport, 'kiolab_version' | 'timestamp' | 'time' | 'scenario'> {
  const now = Date.now();
  return { kiolab_version: KIOLAB_VERSION, timestamp: Math.floor(now / 1000), time: new Date(now).toISOString(), scenario };
}

/** Build the run report of a finished machine. */
export function buildRunReport(a: BuildArgs): RunReport {
  const by = groupByRole(a.results);
  const jobs = [...by].map(([role, recs]) => roleJob(a.jobName?.(role) ?? role, recs, a.runtimeMs, a.hits?.[role]));
  const common = (a.ctx?.common ?? {}) as { ramp?: number };
  const report: RunReport = {
    ...reportHeader(a.scenario),
    options: { ...(a.ctx?.options ?? {}), ...(a.ctx?.common ?? {}), ...(a.options ?? {}) },
    machine: { ...machineInfo(a.machine.spec.ncpu), arena: a.machine.arena.usage() },
    jobs,
    locks: lockTable(a.machine.sync),
    sleeps: sleepTable(a.machine.sync),
    devices: deviceStats(a.machine.arena, a.machine.sync, a.machine.spec),
    timeByRole: roleTimes(threadTimes(a.machine.sync), jobs, a.jobName),
    timeline: mergeTimelines(by, (common.ramp ?? 0) * 1000),
  };
  if (a.jobName) for (const t of report.timeline.roles) t.role = a.jobName(t.role);
  if (a.sysctl) report.sysctl = a.sysctl;
  if (a.bootcache) report.bootcache = a.bootcache;
  if (a.uvmexp) report.uvmexp = a.uvmexp;
  if (a.counters) report.counters = a.counters;
  if (a.checks) report.checks = a.checks;
  if (a.summary) report.summary = a.summary;
  if (a.machine.spec.bugs?.length) report.switches = [...a.machine.spec.bugs];
  if (a.tables) report.tables = a.tables;
  return report;
}

/**
 * One report of several runs of one scenario on separate machines (bufcache's per-cpu and global
 * queues, BootCache's two locking modes): each run's jobs, timeline roles and devices are named
 * `<name> (<run>)`, its lock and sleep rows carry `run`, its counter sections become
 * `<section> (<run>)` and its checks `<run>: <check>`. The machine is the largest of them.
 */
export function combineRuns(runs: { name: string; report: RunReport }[], top: Partial<RunReport> = {}): RunReport {
  if (runs.length === 0) throw new RangeError('combineRuns: no run');
  if (runs.length === 1) return { ...runs[0].report, ...top };
  const first = runs[0].report;
  const tag = (s: string, run: string) => `${s} (${run})`;
  const counters: Record<string, Record<string, number | string>> = {};
  for (const { name, report: r } of runs) {
    for (const k of ['sysctl', 'bootcache', 'uvmexp'] as const) if (r[k]) counters[tag(k, name)] = r[k]!;
    for (const [k, c] of Object.entries(r.counters ?? {})) counters[tag(k, name)] = c;
  }
  return {
    ...first,
    machine: runs.map((x) => x.report.machine).reduce((a, b) => (b.cpus > a.cpus ? b : a)),
    jobs: runs.flatMap(({ name, report: r }) => r.jobs.map((j) => ({ ...j, jobname: tag(j.jobname, name) }))),
    locks: runs.flatMap(({ name, report: r }) => r.locks.map((l) => ({ ...l, run: name }))),
    sleeps: runs.flatMap(({ name, report: r }) => r.sleeps.map((s) => ({ ...s, run: name }))),
    devices: runs.flatMap(({ name, report: r }) => r.devices.map((d) => ({ ...d, name: tag(d.name, name) }))),
    timeByRole: runs.flatMap(({ name, report: r }) => (r.timeByRole ?? []).map((t) => ({ ...t, role: tag(t.role, name) }))),
    tables: runs.flatMap(({ name, report: r }) => (r.tables ?? []).map((t) => ({ ...t, title: tag(t.title, name) }))),
    sysctl: undefined,
    bootcache: undefined,
    uvmexp: undefined,
    counters,
    // The runs ran one after the other, with the same options (so the same bins): each role's
    // timeline keeps its own clock from its run's start.
    timeline: { binMs: first.timeline.binMs, rampMs: first.timeline.rampMs, roles: runs.flatMap(({ name, report: r }) => r.timeline.roles.map((t) => ({ ...t, role: tag(t.role, name) }))) },
    checks: runs.flatMap(({ name, report: r }) => (r.checks ?? []).map((c) => ({ ...c, name: `${name}: ${c.name}` }))),
    ...top,
  };
}

/** 1 when a check of the report failed, else 0. */
export function runReportExitCode(r: RunReport): number {
  return (r.checks ?? []).some((c) => !c.ok) ? 1 : 0;
}

/**
 * A RunReport view of a scenario report that is not one but carries fio-shaped `jobs[]` (and
 * maybe `locks`, `sleeps`, `uvmexp`, `sysctl`, `bootcache`): what the HTML page can chart.
 * Null when the report has no such jobs.
 */
export function asRunReport(scenario: string, r: unknown): RunReport | null {
  if (isRunReport(r)) return r;
  const o = r as Record<string, unknown> | null;
  const isJob = (j: unknown) => {
    const x = j as JobStats;
    return typeof x?.jobname === 'string' && typeof x.read?.clat_ns === 'object' && typeof x.write?.clat_ns === 'object';
  };
  if (typeof o !== 'object' || o === null || !Array.isArray(o.jobs) || !o.jobs.every(isJob)) return null;
  const arr = <T>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);
  const rec = (v: unknown) => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, number | string>) : undefined);
  const m = o.machine as Partial<MachineInfo> | undefined;
  return {
    ...reportHeader(scenario),
    options: rec(o.options) ?? rec(o.config) ?? {},
    machine: { ...machineInfo(m?.cpus ?? 0), ...(m ?? {}) },
    jobs: o.jobs as JobStats[],
    locks: arr(o.locks),
    sleeps: arr(o.sleeps),
    devices: [],
    sysctl: rec(o.sysctl),
    bootcache: rec(o.bootcache),
    uvmexp: rec(o.uvmexp),
    timeline: { binMs: 100, rampMs: 0, roles: [] },
  };
}
