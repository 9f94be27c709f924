/**
 * The bufcache scenario (`kiolab bench bufcache`) and the `kiolab sysctl` command, whose
 * subsystems register through `registerSysctl` (bufcache registers itself here; swap can add
 * `sysctl swap` the same way).
 */
import '../../workers/device.js'; // the role sets this scenario runs
import '../../workers/bufcache.js';
import { checkInvariants } from '../bufcache/invariants.js';
import type { LoadArgs, LoadResult } from '../bufcache/load.js';
import { sysctlSnapshot, sysctlTunables } from '../bufcache/sysctl.js';
import { NBUF_MAX, RESTART_NAMES } from '../bufcache/tunables.js';
import { resolveDevice } from '../device/config.js';
import { Oracle } from '../device/oracle.js';
import { hitStats } from '../report/types.js';
import { type RunReport, buildRunReport, combineRuns, spanMs } from '../report/run-report.js';
import { Machine } from '../engine/machine.js';
import { type OptionValues, type RunContext, UsageError, numOpt, registerScenario } from './registry.js';
import { registerSysctl } from './sysctl.js';
import { recorderOptions, runMachine, withReport } from '../report/run-machine.js';
import { checkOutputFile } from './outputs.js';
import { type WorkloadPlan, planWorkload, replayArgs, workloadOptions } from './workload.js';
import type { MachineSpec } from '../engine/spec.js';

registerSysctl({
  name: 'bufcache',
  summary: 'the vfs.* tunables bufinit derives from nbuf',
  options: { nbuf: { type: 'string', help: `number of buffer headers, 16..${NBUF_MAX} as in the bench (default 1024)`, number: { min: 16, max: NBUF_MAX, integer: true } } },
  run: (o) => sysctlTunables(numOpt('nbuf', o.nbuf, 16, { integer: true, max: NBUF_MAX }) ?? 1024),
});

// ---------------------------------------------------------------- kiolab bench bufcache

export interface BufBenchOptions {
  nbuf: number;
  callers: number;
  /** Operations in all, split over the callers (each does at least one); 0: --duration alone ends the load. */
  ops: number;
  /** Seconds of load (0: the operation count alone ends it), after the ramp. */
  durationS: number;
  /** Seconds of warm-up left out of the figures (--ramp). */
  rampS: number;
  readRatio: number;
  pattern: 'seq' | 'random' | 'mixed';
  writeMode: 'delayed' | 'async' | 'sync' | 'mixed';
  files: number;
  bsize: number;
  /** Working set in multiples of the cache (nbuf × bsize). */
  workingSet: number;
  flushEvery: number;
  readahead: number;
  heavyFiles: number;
  globalQueues: boolean;
  latencyUs: number;
  deviceWorkers: number;
  seed: number;
}

/** What one run of the bench found, beside its RunReport's figures (report.bufcache.runs). */
export interface BufRunSummary {
  queues: 'per-cpu' | 'global';
  runtimeMs: number;
  opsPerSec: number;
  /** Reads served without a device read; vmHits of them by resident VM pages (the buffer was new). */
  hits: number;
  vmHits: number;
  misses: number;
  /** Of the reads, served by a buffer already in the cache. */
  hitRatio: number;
  /** Of the reads the buffer cache missed, served by resident VM pages. */
  vmHitRatio: number;
  oracle: { mismatches: string[]; mismatchCount: number; lostWrites: string[]; checkedBlocks: number };
  invariants: string[];
  /** The sysctl snapshot after the run (also the report's `sysctl` section). */
  sysctl: Record<string, number>;
  /** With --workload: the requests replayed (fewer than the trace's when --duration ended the load). */
  replayed?: number;
}

/** The bench's RunReport with its buffer-cache section. */
export interface BufBenchReport extends RunReport {
  bufcache: {
    config: BufBenchOptions & { fileBlocks: number; cacheBytes: number; workingSetBytes: number };
    runs: BufRunSummary[];
    /** per-cpu throughput / global throughput, when both ran. */
    perCpuSpeedup?: number;
  };
}

/** The command-line names and values of an effective configuration (the report's `options`); a replay has no generated mix. */
function optionsOf(o: BufBenchOptions, both: boolean, plan?: WorkloadPlan): Record<string, unknown> {
  return {
    seed: o.seed,
    duration: o.durationS || undefined,
    ramp: o.rampS || undefined,
    ops: o.ops || undefined,
    cpus: o.callers,
    nbuf: o.nbuf,
    bsize: o.bsize,
    ...(plan ? workloadOptions(plan) : { mix: o.readRatio, pattern: o.pattern, 'working-set': o.workingSet }),
    'write-mode': o.writeMode,
    files: o.files,
    'flush-every': o.flushEvery,
    readahead: o.readahead,
    'heavy-files': o.heavyFiles,
    global: o.globalQueues,
    compare: both,
    'device-workers': o.deviceWorkers,
  };
}

export async function runBufBench(o: BufBenchOptions, progress?: (s: string) => void, both = false, ctx?: RunContext, plan?: WorkloadPlan): Promise<BufBenchReport> {
  // A recorded workload sizes the files to hold it; otherwise --working-set does.
  const fileBlocks = plan ? Math.max(1, Math.ceil(Math.ceil(plan.workload.extent / o.bsize) / o.files)) : Math.max(1, Math.ceil((o.workingSet * o.nbuf) / o.files));
  const blocks = (o.files * fileBlocks * o.bsize) / 4096;
  const config = { ...o, fileBlocks, cacheBytes: o.nbuf * o.bsize, workingSetBytes: o.files * fileBlocks * o.bsize };
  const summaries: BufRunSummary[] = [];
  const reports: { name: string; report: RunReport }[] = [];
  // --device-file: the disk is a real file, checked before the first run (never clobbered without
  // --force) and formatted with the oracle's stamps before each (kiolab made it: the second run of
  // --compare reuses it).
  const file = ctx?.common.deviceFile;
  if (file !== undefined) checkOutputFile('device-file', file, !!ctx?.common.force);
  for (const globalQueues of both ? [false, true] : [o.globalQueues]) {
    progress?.(`bufcache: ${o.callers} callers, ${globalQueues ? 'one global queue set' : 'per-cpu queues'}`);
    const spec: MachineSpec = {
      ncpu: o.callers + 2 + o.deviceWorkers,
      devices: [{ name: 'md0', blocks, blockSize: 4096, oracle: true, latency: { baseUs: o.latencyUs } }],
      bufcache: { nbuf: o.nbuf, files: o.files, fileBlocks, bsize: o.bsize, heavyFiles: o.heavyFiles, globalQueues, queueSets: o.callers },
    };
    // The common device options (--latency-us, --bandwidth) and the trace ring, as every scenario applies them.
    const m = new Machine(withReport(spec, ctx));
    new Oracle(m.arena, 0, resolveDevice(m.spec.devices![0], 0)).formatMedium();
    new Int32Array(m.arena.sab, m.arena.region('bufcache.expect').offset, blocks).fill(1);
    const args: LoadArgs = { ops: 0, durationMs: o.durationS * 1000, rampMs: o.rampS * 1000, binMs: recorderOptions(ctx, (o.rampS + (o.durationS || 2)) * 1000).binMs, seed: o.seed, readRatio: o.readRatio, pattern: o.pattern, writeMode: o.writeMode, readahead: o.readahead, flushEvery: o.flushEvery, ncallers: o.callers, ndaemons: 2 };
    // --ops in all: caller i does its exact share.
    const share = (i: number) => (o.ops === 0 ? 0 : Math.floor(o.ops / o.callers) + (i < o.ops % o.callers ? 1 : 0));
    const res = await runMachine(
      m,
      [
        ...Array.from({ length: o.callers }, (_, i) => ({ role: 'bufcache:load', args: plan ? { ...args, replay: replayArgs(plan, i, o.bsize) } : { ...args, ops: share(i) } })),
        { role: 'bufcache:buf_daemon', daemon: true },
        { role: 'bufcache:buf_daemon_hw', daemon: true },
        { role: 'device:worker', args: { unit: 0 }, daemon: true, io: true, count: o.deviceWorkers },
      ],
      ctx,
      { label: 'bufcache', timeoutMs: Math.max(600_000, (o.rampS + o.durationS) * 1000 + 120_000) },
    );
    const loads = res.slice(0, o.callers).map((r) => r.value as LoadResult);
    // The figures' span: from the first op after the ramp to the last one (the whole run without --ramp).
    const runtimeMs = Math.max(1e-3, spanMs(loads.map((l) => l.rec)));
    const counted = loads.reduce((s, l) => s + l.rec.read.ops + l.rec.write.ops, 0);
    const hits = loads.reduce((s, l) => s + l.hits, 0);
    const vmHits = loads.reduce((s, l) => s + l.vmHits, 0);
    const misses = loads.reduce((s, l) => s + l.misses, 0);
    const final = loads.find((l) => l.final)?.final;
    const mismatches = loads.flatMap((l) => l.mismatches);
    const sysctl = sysctlSnapshot(m.arena);
    const x: BufRunSummary = {
      queues: globalQueues ? 'global' : 'per-cpu',
      runtimeMs,
      opsPerSec: (counted / runtimeMs) * 1000,
      hits,
      vmHits,
      misses,
      hitRatio: hits + misses ? (hits - vmHits) / (hits + misses) : 0,
      vmHitRatio: vmHits + misses ? vmHits / (vmHits + misses) : 0,
      oracle: { mismatches: mismatches.slice(0, 10), mismatchCount: mismatches.length, lostWrites: final?.lostWrites ?? ['the final sync did not run'], checkedBlocks: final?.checkedBlocks ?? 0 },
      invariants: checkInvariants(m.arena),
      sysctl,
      ...(plan ? { replayed: loads.reduce((s, l) => s + (l.replayed ?? 0), 0) } : {}),
    };
    summaries.push(x);
    const list = (xs: string[]) => (xs.length ? `${xs.length}: ${xs.slice(0, 3).join('; ')}` : undefined);
    const restarts = Object.fromEntries(RESTART_NAMES.map((n) => [n, sysctl[`kiolab.bufcache.getnewbuf_restart.${n}`] ?? 0]));
    reports.push({
      name: `${x.queues} queues`,
      report: buildRunReport({
        scenario: 'bufcache',
        machine: m,
        results: res,
        runtimeMs,
        ctx,
        options: optionsOf(o, both, plan),
        jobName: (role) => (role === 'bufcache:load' ? 'bufcache caller' : role),
        hits: { 'bufcache:load': { bufcache: hitStats(hits - vmHits, misses + vmHits), 'vm pages': hitStats(vmHits, misses) } },
        sysctl,
        counters: { 'getnewbuf restarts (by reason)': restarts },
        checks: [
          { name: 'oracle: every read returned the latest data', ok: x.oracle.mismatchCount === 0, detail: list(mismatches) ?? `${hits + misses} reads checked` },
          { name: 'oracle: every write reached the disk', ok: x.oracle.lostWrites.length === 0, detail: list(x.oracle.lostWrites) ?? `${x.oracle.checkedBlocks} blocks checked` },
          { name: 'bufcache: invariants hold', ok: x.invariants.length === 0, detail: list(x.invariants) },
          { name: 'bufcache: no I/O error', ok: loads.every((l) => l.errors === 0), detail: loads.some((l) => l.errors) ? `${loads.reduce((s, l) => s + l.errors, 0)} errors` : undefined },
        ],
      }),
    });
  }
  const section: BufBenchReport['bufcache'] = { config, runs: summaries };
  if (summaries.length === 2) section.perCpuSpeedup = summaries[0].opsPerSec / summaries[1].opsPerSec;
  const report = combineRuns(reports, { summary: summaryLines(section, plan) }) as BufBenchReport;
  report.bufcache = section;
  return report;
}

/** The headline: what ran, and per run its throughput, hit ratio, oracle, getnewbuf and daemons. */
function summaryLines(b: BufBenchReport['bufcache'], plan?: WorkloadPlan): string[] {
  const c = b.config;
  const lines = [
    `bufcache: nbuf ${c.nbuf} (${(c.cacheBytes / 1048576).toFixed(1)} MiB of ${c.bsize / 1024} KiB blocks), working set ${(c.workingSetBytes / 1048576).toFixed(1)} MiB in ${c.files} files`,
    plan
      ? `  ${plan.describe}${c.durationS ? `, at most ${c.durationS} s` : ''}; writes ${c.writeMode}, fsync every ${c.flushEvery || 'never'} requests, read-ahead ${c.readahead}`
      : `  load        ${c.ops ? `${c.ops.toLocaleString('en-US')} ops in all` : 'no op count'}${c.durationS ? `, at most ${c.durationS} s` : ''} over ${c.callers} callers, ${c.pattern}, ${Math.round(c.readRatio * 100)}% reads, writes ${c.writeMode}, fsync every ${c.flushEvery || 'never'}, read-ahead ${c.readahead}`,
  ];
  if (plan) for (const r of b.runs) if (r.replayed !== undefined && r.replayed < plan.requests) lines.push(`  ${r.queues}: --duration ended the replay after ${r.replayed.toLocaleString('en-US')} of ${plan.requests.toLocaleString('en-US')} requests`);
  for (const r of b.runs) {
    const s = r.sysctl;
    const restarts = RESTART_NAMES.map((n) => `${n} ${s[`kiolab.bufcache.getnewbuf_restart.${n}`]}`).filter((x) => !x.endsWith(' 0'));
    lines.push(
      `  ${r.queues.padEnd(11)} ${Math.round(r.opsPerSec).toLocaleString('en-US')} ops/s over ${(r.runtimeMs / 1000).toFixed(2)} s${c.rampS ? ` after a ${c.rampS} s ramp` : ''}, hit ratio ${(r.hitRatio * 100).toFixed(1)}% (buffers), ${(r.vmHitRatio * 100).toFixed(1)}% of the misses served by VM pages; oracle ${r.oracle.mismatchCount} stale or corrupt reads, ${r.oracle.lostWrites.length} lost writes (${r.oracle.checkedBlocks} blocks checked); invariants ${r.invariants.length ? `${r.invariants.length} VIOLATED` : 'hold'}`,
      `  ${''.padEnd(11)} getnewbuf ${s['vfs.getnewbufcalls']} calls (restarts: ${restarts.join(', ') || 'none'}); daemons flushed ${s['kiolab.bufcache.flushed']} buffers; read-ahead ${s['kiolab.bufcache.readahead']} blocks`,
      `  ${''.padEnd(11)} VM ${vmLine(s)}`,
    );
  }
  if (b.perCpuSpeedup !== undefined) lines.push(`  per-cpu queues vs one global queue set: ${b.perCpuSpeedup.toFixed(2)}x the throughput`);
  return lines;
}

/** The VM pages behind the buffers, in one line (from the sysctl snapshot). */
export function vmLine(s: Record<string, number>): string {
  if (s['vm.stats.vm.v_page_count'] === undefined) return 'no pages (vmPages 0: a released buffer loses its data)';
  return `${s['vm.stats.vm.v_page_count']} pages: ${s['vm.stats.vm.v_wire_count']} wired by buffers, ${s['vm.stats.vm.v_cache_count']} cached, ${s['vm.stats.vm.v_free_count']} free; ${s['kiolab.vm.valid']} of ${s['kiolab.vm.lookups']} pages a new buffer needed were resident and valid; ${s['kiolab.vm.reclaims']} reclaimed, ${s['kiolab.vm.lowmem_releases']} low-memory releases`;
}

function choice<T extends string>(name: string, v: string | boolean | undefined, allowed: readonly T[], def: T): T {
  if (v === undefined) return def;
  if (typeof v !== 'string' || !allowed.includes(v as T)) throw new UsageError(`--${name}: expected one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

export function parseBufBench(o: OptionValues, ctx?: RunContext): BufBenchOptions {
  const nbuf = numOpt('nbuf', o.nbuf, 16, { integer: true, max: NBUF_MAX }) ?? 1024;
  const bsize = numOpt('bsize', o.bsize, 4096, { integer: true, max: 65536 }) ?? 16384;
  if (bsize % 4096 !== 0) throw new UsageError(`--bsize: expected a multiple of 4096, got ${JSON.stringify(o.bsize)}`);
  // The load workers: --callers, or the common --cpus (the same thing); both must agree.
  const byCallers = numOpt('callers', o.callers, 1, { integer: true, max: 64 });
  const byCpus = ctx?.common.cpus ?? numOpt('cpus', o.cpus, 1, { integer: true, max: 64 });
  if (byCallers !== undefined && byCpus !== undefined && byCallers !== byCpus) throw new UsageError(`--callers ${byCallers} and --cpus ${byCpus} name the same thing (the caller workers) and disagree`);
  const callers = byCallers ?? byCpus ?? 4;
  if (callers > 64) throw new UsageError(`--cpus: bench bufcache runs at most 64 callers, got ${callers}`);
  const durationS = ctx?.common.duration ?? numOpt('duration', o.duration, 0.001, { max: 604_800 }) ?? 0;
  const rampS = ctx?.common.ramp ?? 0;
  // --ops in all; with --duration alone the clock ends the load; with neither, 4000 per caller.
  const ops = ctx?.common.ops ?? numOpt('ops', o.ops, 1, { integer: true }) ?? (durationS > 0 ? 0 : 4000 * callers);
  if (ops > 0 && ops < callers) throw new UsageError(`--ops ${ops}: fewer operations than the ${callers} callers; give at least ${callers}`);
  return {
    nbuf,
    bsize,
    callers,
    ops,
    durationS,
    rampS,
    readRatio: numOpt('mix', o.mix, 0, { max: 1 }) ?? 0.7,
    pattern: choice('pattern', o.pattern, ['seq', 'random', 'mixed'] as const, 'mixed'),
    writeMode: choice('write-mode', o['write-mode'], ['delayed', 'async', 'sync', 'mixed'] as const, 'mixed'),
    files: numOpt('files', o.files, 1, { integer: true, max: 256 }) ?? 8,
    workingSet: numOpt('working-set', o['working-set'], 0.01, { max: 64 }) ?? 4,
    flushEvery: numOpt('flush-every', o['flush-every'], 0, { integer: true }) ?? 200,
    readahead: numOpt('readahead', o.readahead, 0, { integer: true, max: 16 }) ?? 2,
    heavyFiles: numOpt('heavy-files', o['heavy-files'], 0, { integer: true }) ?? 1,
    globalQueues: o.global === true,
    latencyUs: 0,
    deviceWorkers: numOpt('device-workers', o['device-workers'], 1, { integer: true, max: 8 }) ?? 1,
    seed: ctx?.common.seed ?? numOpt('seed', o.seed, 0, { integer: true }) ?? 1,
  };
}

registerScenario({
  name: 'bufcache',
  description: 'the DragonFly buffer cache: callers, buf_daemon[_hw] and the device, oracle-checked',
  options: {
    nbuf: { type: 'string', help: `buffer headers, 16..${NBUF_MAX} (default 1024)` },
    callers: { type: 'string', help: 'caller workers, the same as --cpus (default 4)' },
    mix: { type: 'string', help: 'fraction of reads, 0..1 (default 0.7)' },
    pattern: { type: 'string', help: 'seq, random or mixed (default mixed)' },
    'write-mode': { type: 'string', help: 'delayed (bdwrite), async (bawrite), sync (bwrite) or mixed (default)' },
    files: { type: 'string', help: 'files (vnodes) (default 8)' },
    'working-set': { type: 'string', help: 'working set as a multiple of the cache size (default 4)' },
    bsize: { type: 'string', help: 'file system block size, a multiple of 4096 (default 16384)' },
    'flush-every': { type: 'string', help: 'each caller fsyncs a file every N ops, 0 = never (default 200)' },
    readahead: { type: 'string', help: 'blocks of read-ahead on sequential reads (default 2)' },
    'heavy-files': { type: 'string', help: 'files whose buffers are B_HEAVY (buf_daemon_hw) (default 1)' },
    global: { type: 'boolean', help: 'one global set of queues under one spinlock' },
    compare: { type: 'boolean', help: 'run per-cpu and global queues and report the ratio' },
    'device-workers': { type: 'string', help: 'device workers (default 1)' },
  },
  honours: ['seed', 'duration', 'ops', 'ramp', 'cpus', 'device', 'device-file', 'trace', 'check', 'as-seed', 'workload'],
  run: (o, progress, ctx) => {
    const opts = parseBufBench(o, ctx);
    // --workload: the trace is the load (--ops keeps its first N requests).
    const plan = planWorkload(o, opts.callers, { ops: ctx?.common.ops });
    if (plan) opts.ops = ctx?.common.ops ?? 0;
    return runBufBench(opts, progress, o.compare === true, ctx, plan);
  },
});
