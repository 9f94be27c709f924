/**
 * The bootcache scenario (`kiolab bench bootcache`) and the boot-loop command (`kiolab playlist`).
 *
 * A run: a machine with one oracle-checked memory device, BootCache started with the playlist,
 * the reader daemon, two device workers and N strategy callers replaying the request stream;
 * then STATS, STOP and HISTORY. Without --locking both modes run on the same workload, so the
 * report shows the same results with their different contention.
 */
import '../../workers/device.js'; // the role sets this scenario runs
import '../../workers/bootcache.js';
import { readFileSync } from 'node:fs';
import { checkOutputFile, writeOutput } from './outputs.js';
import { parseCommandArgs } from './args.js';
import { BootCacheControl, type BC_statistics, statsSection, timevalUs } from '../bootcache/control.js';
import { BC_HE_MISS, BC_MAXENTRIES, PAGE_SIZE, resolveBootCache } from '../bootcache/defs.js';
import { registerSysctl } from './sysctl.js';
import { planWorkload, workloadOptions } from './workload.js';
import { type Playlist, formatHistoryText, formatPlaylistText, parseHistory, parsePlaylist, playlistFromHistory } from '../bootcache/playlist.js';
import { type BCRequest, dealRequests, parseTrace, synthBoot } from '../bootcache/workload.js';
import { resolveDevice } from '../device/config.js';
import { Oracle } from '../device/oracle.js';
import { hitStats } from '../report/types.js';
import { type RunReport, buildRunReport, combineRuns } from '../report/run-report.js';
import { Machine } from '../engine/machine.js';
import { KernelError } from '../sync/errno.js';
import { type RunContext, UsageError, numOpt, registerCommand, registerScenario } from './registry.js';
import { runMachine, withReport } from '../report/run-machine.js';
import type { CallerResult } from '../../workers/bootcache.js';

/** What one boot in one locking mode found, beside its RunReport's figures (report.boot.runs). */
export interface BootCacheRun {
  locking: 'funnel' | 'fine';
  callers: number;
  warm: boolean;
  playlist: { entries: number; bytes: number };
  requests: number;
  stats: BC_statistics;
  /** Percent of lookups that found an extent, and of requested blocks served from the cache. */
  hitRate: { extents: number; blocks: number };
  runtimeMs: number;
  funnel: { acquisitions: number; contended: number; waitUs: number };
  stop: { entries: number; bc_length: number; errors: Record<string, number> };
  mismatches: string[];
  errors: number;
  history: number;
}

export interface BootCacheBenchOptions {
  playlist: Playlist;
  requests: BCRequest[];
  callers: number;
  warm: boolean;
  locking: 'funnel' | 'fine';
  historyOut?: string;
  blocks: number;
  /** Each caller's requests (a recorded workload dealt by --workload-map); default: `requests` dealt round-robin in chunks. */
  perCaller?: BCRequest[][];
  /** Replay speed of timed requests (0: as fast as possible). */
  speed?: number;
  /** The effective configuration under the command-line names (the report's `options`, over the command's). */
  options?: Record<string, unknown>;
  /** Device latency model (µs per request, MB/s). */
  latencyUs?: number;
  bandwidthMBps?: number;
}

const roundup = (x: number, m: number) => Math.ceil(x / m) * m;

/** One run of the boot in one locking mode: what it found, and the machine's RunReport. */
export async function runBootCacheBench(o: BootCacheBenchOptions, ctx?: RunContext): Promise<BootCacheRun & { report: RunReport }> {
  const dev = { name: 'disk0', blocks: o.blocks, oracle: true, latency: { baseUs: o.latencyUs ?? 50, bandwidthMBps: o.bandwidthMBps ?? 400 } };
  const bytes = o.playlist.entries.reduce((s, e) => s + roundup(e.pce_length, PAGE_SIZE), 0);
  const maxReq = Math.max(PAGE_SIZE, ...o.requests.map((q) => roundup(q.length, PAGE_SIZE)));
  const perCaller = o.perCaller ?? dealRequests(o.requests, o.callers);
  const m = new Machine(withReport({
    ncpu: o.callers + 3,
    devices: [dev],
    bootcache: {
      locking: o.locking,
      maxExtents: Math.max(16, o.playlist.entries.length),
      bufferBytes: Math.max(1 << 20, roundup(bytes, PAGE_SIZE * 32)),
      callerSliceBytes: maxReq,
      // The boot is replayed once and BC_strategy records at most one entry a request (a TAG is
      // one too): the history never needs more, so the arena reserves no more (the seed allocates
      // its clusters as it goes).
      historyReserveEntries: perCaller.reduce((s, q) => s + q.length, 0),
    },
  }, ctx));
  new Oracle(m.arena, 0, resolveDevice(m.spec.devices![0], 0)).formatMedium();
  const ctl = new BootCacheControl(m);
  try {
    await ctl.start(o.playlist);
    const res = await runMachine(
      m,
      [
        { role: 'bootcache:reader', daemon: true },
        { role: 'device:worker', args: { unit: 0 }, daemon: true, io: true, count: 2 },
        ...perCaller.map((requests) => ({ role: 'bootcache:caller', args: { requests, warm: o.warm, speed: o.speed ?? 0 } })),
      ],
      ctx,
      { label: `bootcache ${o.locking}`, timeoutMs: 300_000 },
    );
    const cs = res.filter((r) => r.role === 'bootcache:caller').map((r) => r.value as CallerResult);
    const runtimeMs = Math.max(...cs.map((c) => c.t1)) - Math.min(...cs.map((c) => c.t0));
    const lk = ctl.bc.funnelLk;
    const L = m.sync.L;
    const w64 = (lo: 'lk_acq_lo' | 'lk_contended_lo' | 'lk_waitus_lo', hi: 'lk_acq_hi' | 'lk_contended_hi' | 'lk_waitus_hi') => (L.load(lk, lo) >>> 0) + L.load(lk, hi) * 4294967296;
    const stop = await ctl.stop();
    // STATS after STOP, as the boot's user-space tool takes them: ss_spurious_blocks (counted by
    // BC_terminate_cache) and ss_cache_stop (BC_terminate_history) are final only then.
    const stats = await ctl.stats();
    const history = await ctl.history();
    if (o.historyOut) writeOutput('history-out', o.historyOut, o.historyOut.endsWith('.json') ? JSON.stringify({ history }, null, 1) : formatHistoryText(history));
    const n = (k: string) => stats[k] as number;
    const run: BootCacheRun = {
      locking: o.locking,
      callers: o.callers,
      warm: o.warm,
      playlist: { entries: o.playlist.entries.length, bytes: o.playlist.entries.reduce((s, e) => s + e.pce_length, 0) },
      requests: o.requests.length,
      stats,
      hitRate: { extents: n('ss_extent_lookups') ? (100 * n('ss_extent_hits')) / n('ss_extent_lookups') : 0, blocks: n('ss_requested_blocks') ? (100 * n('ss_hit_blocks')) / n('ss_requested_blocks') : 0 },
      runtimeMs,
      funnel: { acquisitions: w64('lk_acq_lo', 'lk_acq_hi'), contended: w64('lk_contended_lo', 'lk_contended_hi'), waitUs: w64('lk_waitus_lo', 'lk_waitus_hi') },
      stop,
      mismatches: cs.flatMap((c) => c.mismatches),
      errors: cs.reduce((s, c) => s + c.errors, 0),
      history: history.length,
    };
    // The kext's statistics under their names: scalars as they are, per-batch arrays joined.
    const bootcache = statsSection(stats);
    const list = (xs: string[]) => (xs.length ? `${xs.length}: ${xs.slice(0, 3).join('; ')}` : undefined);
    const report = buildRunReport({
      scenario: 'bootcache',
      machine: m,
      results: res,
      runtimeMs,
      ctx,
      options: o.options,
      jobName: (role) => (role === 'bootcache:caller' ? 'bootcache caller' : role),
      hits: { 'bootcache:caller': { bootcache: hitStats(n('ss_hit_blocks'), n('ss_requested_blocks') - n('ss_hit_blocks')) } },
      bootcache,
      counters: {
        'STOP (BC_terminate_*)': { entries: stop.entries, bc_length: stop.bc_length, ...Object.fromEntries(Object.entries(stop.errors).map(([k, v]) => [`error_${k}`, v])) },
        ...(o.locking === 'funnel' ? { 'kernel_flock (the funnel)': { acquisitions: run.funnel.acquisitions, contended: run.funnel.contended, wait_us: run.funnel.waitUs } } : {}),
      },
      checks: [
        { name: 'oracle: every hit equals the device', ok: run.mismatches.length === 0, detail: list(run.mismatches) },
        { name: 'bootcache: no I/O error', ok: run.errors === 0, detail: run.errors ? `${run.errors} errors` : undefined },
      ],
    });
    return { ...run, report };
  } finally {
    ctl.untimeout();
  }
}

/** The bench's RunReport with its boot section. */
export interface BootCacheReport extends RunReport {
  boot: {
    /** The effective configuration: what the options resolved to. */
    config: { seed: number; callers: number; requests: number; playlist: string; requestsFrom: string; locking: string[]; warm: boolean };
    runs: BootCacheRun[];
  };
}

/** A run's headline lines: hits, readahead, strategy calls, the funnel, history and oracle. */
function summaryOf(r: BootCacheRun): string[] {
  const s = r.stats as Record<string, number>;
  const wait = timevalUs(r.stats.ss_wait_time) / 1000;
  return [
    `  ${r.locking} locking: playlist ${r.playlist.entries} extents / ${(r.playlist.bytes / 1024).toFixed(0)} KiB, ${(r.runtimeMs / 1000).toFixed(2)} s`,
    `    hits        ${s.ss_extent_hits}/${s.ss_extent_lookups} lookups (${r.hitRate.extents.toFixed(1)}%), ${s.ss_hit_blocks}/${s.ss_requested_blocks} blocks (${r.hitRate.blocks.toFixed(1)}%)`,
    `    readahead   ${s.ss_initiated_reads} reads, ${s.ss_read_blocks} blocks, ${s.ss_read_errors} errors; batches ${(s.ss_batch_size as unknown as number[]).filter((x) => x > 0).join('/')} blocks`,
    `    strategy    ${s.ss_strategy_calls} calls, ${s.ss_strategy_nonread} writes, ${s.ss_strategy_bypassed} bypassed, ${s.ss_strategy_blocked} blocked (${wait.toFixed(1)} ms), ${s.ss_write_discards} write discards`,
    `    funnel      ${r.locking === 'funnel' ? `${r.funnel.acquisitions} acquisitions, ${r.funnel.contended} contended, ${(r.funnel.waitUs / 1000).toFixed(1)} ms waited` : 'not used'}`,
    `    history     ${r.history} entries; oracle ${r.mismatches.length ? `FAILED: ${r.mismatches.length} stale or corrupt hits (${r.mismatches[0]})` : 'ok: no stale hit'}${r.errors ? `; ${r.errors} I/O errors` : ''}`,
  ];
}

/** The playlist a boot of these requests would teach (the boot loop on their reads): reads merged, one batch. */
function playlistOfReads(reqs: BCRequest[]): Playlist {
  const history = reqs.filter((q) => q.op === 'R').map((q) => ({ he_offset: q.offset, he_length: q.length, he_flags: BC_HE_MISS }));
  return playlistFromHistory(history, 512, 1);
}

function readText(opt: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`--${opt}: cannot read ${JSON.stringify(path)} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Read and parse input file `--opt path`; what the parser refuses (EINVAL, a bad value) is a UsageError naming the file. */
function parseInput<T>(opt: string, path: string, parse: (text: string) => T): T {
  const text = readText(opt, path);
  try {
    return parse(text);
  } catch (e) {
    if (e instanceof KernelError || e instanceof RangeError || e instanceof SyntaxError) throw new UsageError(`--${opt} ${path}: ${e.message.replace(/ \(EINVAL\)$/, '')}`);
    throw e;
  }
}

registerScenario({
  name: 'bootcache',
  description: 'BootCache: playlist readahead with a reader worker and N parallel strategy callers',
  options: {
    playlist: { type: 'string', help: 'playlist file (text or JSON; default: a synthetic boot)', arg: 'FILE' },
    requests: { type: 'string', help: 'the requests to replay: "R|W offset length" or "T tag" per line (default: the synthetic boot\'s)', arg: 'FILE' },
    callers: { type: 'string', help: 'strategy-caller workers, the same as --cpus (default 2)', number: { min: 1, max: 64, integer: true } },
    warm: { type: 'boolean', help: 'start requests only after readahead completes' },
    'history-out': { type: 'string', help: 'write the recorded history here (text, or JSON if *.json)', arg: 'FILE' },
    locking: { type: 'string', help: 'funnel | fine (default: both, same workload)', arg: 'MODE' },
  },
  honours: ['seed', 'ops', 'cpus', 'device', 'device-file', 'trace', 'check', 'as-seed', 'workload'],
  refuses: {
    duration: 'a boot is a list of requests replayed once (--ops keeps its first N)',
    ramp: 'its figures cover the whole boot, readahead included: there is no steady state to wait for',
  },
  async run(o, _progress, ctx) {
    const byCallers = numOpt('callers', o.callers, 1, { integer: true, max: 64 });
    const byCpus = ctx?.common.cpus;
    if (byCallers !== undefined && byCpus !== undefined && byCallers !== byCpus) throw new UsageError(`--callers ${byCallers} and --cpus ${byCpus} name the same thing (the strategy callers) and disagree`);
    const callers = byCallers ?? byCpus ?? 2;
    if (callers > 64) throw new UsageError(`--cpus: bench bootcache runs at most 64 callers, got ${callers}`);
    const seed = ctx?.common.seed ?? 1;
    const latencyUs = numOpt('latency-us', o['latency-us'], 0);
    const bandwidthMBps = numOpt('bandwidth', o.bandwidth, 0);
    const lk = o.locking;
    if (lk !== undefined && lk !== 'funnel' && lk !== 'fine') throw new UsageError(`--locking: expected funnel or fine, got ${JSON.stringify(lk)}`);
    const modes: ('funnel' | 'fine')[] = lk === undefined ? ['fine', 'funnel'] : [lk];
    let blocks = 65536;
    const synth = synthBoot({ seed, blocks, blockSize: 512, extents: 512, batches: 3, writeRatio: 0.05, missRatio: 0.1 });
    const ops = ctx?.common.ops;
    if (ops !== undefined && ops < callers) throw new UsageError(`--ops ${ops}: fewer requests than the ${callers} callers; give at least ${callers}`);
    if (o.workload !== undefined && o.requests !== undefined) throw new UsageError('--workload and --requests both name the requests to replay; give one');
    // --workload: a recorded trace, its requests rounded out to the 512-byte block, dealt by
    // thread id or round-robin; with no --playlist, the playlist its reads would have taught.
    const plan = planWorkload(o, callers, { ops, keepTags: true });
    const align = (q: BCRequest): BCRequest => (q.op === 'T' ? q : { ...q, offset: Math.floor(q.offset / 512) * 512, length: Math.ceil((q.offset + q.length) / 512) * 512 - Math.floor(q.offset / 512) * 512 });
    const perCaller = plan?.perCaller.map((list) => list.map((q) => align({ op: q.op, offset: q.offset, length: q.length, t: q.t })));
    const all = plan ? perCaller!.flat() : typeof o.requests === 'string' ? parseInput('requests', o.requests, parseTrace) : synth.requests;
    const playlist = typeof o.playlist === 'string' ? parseInput('playlist', o.playlist, parsePlaylist) : plan ? playlistOfReads(all) : synth.playlist;
    // --ops N: the first N requests (tags do not count).
    let requests = all;
    if (ops !== undefined && !plan) {
      let n = 0;
      requests = all.filter((q) => q.op === 'T' || ++n <= ops);
    }
    const end = Math.max(...playlist.entries.map((e) => e.pce_offset + e.pce_length), ...requests.map((q) => q.offset + q.length), 0);
    // The bench's device lives in memory (so that the oracle sees every hit), at most 2 GiB.
    const far = (what: string, at: number) => new UsageError(`${what} reaches byte ${at}, past the 2 GiB the bench's memory device holds`);
    const MAX_DEV = 2 ** 31;
    const pe = playlist.entries.find((e) => e.pce_offset + e.pce_length > MAX_DEV);
    if (pe) throw far(typeof o.playlist === 'string' ? `--playlist ${o.playlist}: the extent at ${pe.pce_offset}` : 'the synthetic playlist', pe.pce_offset + pe.pce_length);
    const rq = requests.find((q) => q.offset + q.length > MAX_DEV);
    if (rq) throw far(typeof o.requests === 'string' ? `--requests ${o.requests}: the request at ${rq.offset}` : plan ? `--workload ${plan.workload.file}: the request at ${rq.offset}` : 'the synthetic requests', rq.offset + rq.length);
    blocks = Math.max(blocks, Math.ceil(end / 512));
    for (const q of requests) {
      if (q.op !== 'T' && (q.offset % 512 || q.length % 512)) throw new UsageError(`--requests: request ${q.op} ${q.offset} ${q.length} is not aligned to the 512-byte block`);
    }
    const historyOuts = modes.map((locking) => (typeof o['history-out'] === 'string' ? (modes.length > 1 ? o['history-out'].replace(/(\.\w+)?$/, `.${locking}$1`) : o['history-out']) : undefined));
    for (const h of historyOuts) if (h !== undefined) checkOutputFile('history-out', h, o.force === true);
    // --device-file: the disk is a real file, checked once (never overwritten without --force) and
    // formatted again for each locking mode.
    if (ctx?.common.deviceFile !== undefined) checkOutputFile('device-file', ctx.common.deviceFile, !!ctx.common.force);
    const config = {
      seed,
      callers,
      requests: requests.filter((q) => q.op !== 'T').length,
      playlist: typeof o.playlist === 'string' ? o.playlist : plan ? `learned from the workload's reads` : `synthetic (seed ${seed})`,
      requestsFrom: plan ? plan.workload.file : typeof o.requests === 'string' ? o.requests : `synthetic (seed ${seed})`,
      locking: modes,
      warm: !!o.warm,
    };
    const options = { seed, cpus: callers, ops, ...workloadOptions(plan), requests: config.requestsFrom, playlist: config.playlist, locking: modes.join(','), warm: config.warm, 'history-out': o['history-out'] };
    const runs: BootCacheRun[] = [];
    const reports: { name: string; report: RunReport }[] = [];
    for (const [k, locking] of modes.entries()) {
      const historyOut = historyOuts[k];
      const { report, ...run } = await runBootCacheBench({ playlist, requests, perCaller, speed: plan?.speed, callers, warm: !!o.warm, locking, historyOut, blocks, latencyUs, bandwidthMBps, options }, ctx);
      runs.push(run);
      reports.push({ name: locking, report });
    }
    const report = combineRuns(reports, { summary: [`bootcache: ${config.requests.toLocaleString('en-US')} requests of ${config.requestsFrom} over ${callers} caller(s)${config.warm ? ' (warm)' : ''}, playlist ${config.playlist}`, ...(plan ? [`  ${plan.describe}`] : []), ...runs.flatMap(summaryOf)] }) as BootCacheReport;
    report.boot = { config, runs };
    return report;
  },
});

const PLAYLIST_USAGE = `Usage: kiolab playlist --history H --out P [--blocksize B] [--batches N] [--json]

The boot loop: turn the history recorded by one run (kiolab bench bootcache --history-out H)
into the playlist of the next: reads sorted, adjacent and overlapping ranges merged, batches by
first use (tags in the history start new batches; without tags --batches N splits the order).
Writes P as text (or JSON when P ends in .json).`;

registerCommand({
  name: 'playlist',
  summary: 'build the next BootCache playlist from a recorded history (the boot loop)',
  usage: PLAYLIST_USAGE,
  async run(argv) {
    const { values } = parseCommandArgs('playlist', argv, { history: { type: 'string' }, out: { type: 'string' }, blocksize: { type: 'string' }, batches: { type: 'string' }, force: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, false) as {
      values: Partial<Record<'history' | 'out' | 'blocksize' | 'batches', string>> & Partial<Record<'force' | 'json' | 'help', boolean>>;
    };
    if (values.help) {
      console.log(PLAYLIST_USAGE);
      return 0;
    }
    if (!values.history) throw new UsageError('playlist: --history H is required');
    if (!values.out) throw new UsageError('playlist: --out P is required');
    const bs = numOpt('blocksize', values.blocksize, 512, { integer: true }) ?? 512;
    if (bs & (bs - 1)) throw new UsageError(`--blocksize: expected a power of two, got ${bs}`);
    const batches = numOpt('batches', values.batches, 1, { integer: true, max: 256 }) ?? 1;
    const history = parseInput('history', values.history, parseHistory);
    checkOutputFile('out', values.out, !!values.force);
    const p = playlistFromHistory(history, bs, batches);
    writeOutput('out', values.out, values.out.endsWith('.json') ? JSON.stringify({ ph_magic: p.ph_magic >>> 0, ph_blocksize: p.ph_blocksize, ph_entries: p.entries.length, entries: p.entries }, null, 1) : formatPlaylistText(p));
    const summary = { history: history.length, entries: p.entries.length, bytes: p.entries.reduce((s, e) => s + e.pce_length, 0), batches: 1 + Math.max(0, ...p.entries.map((e) => e.pce_batch)), out: values.out };
    console.log(values.json ? JSON.stringify(summary, null, 2) : `playlist: ${summary.entries} extents (${(summary.bytes / 1024).toFixed(0)} KiB, ${summary.batches} batch(es)) from ${summary.history} history entries → ${summary.out}`);
    return 0;
  },
});

registerSysctl({
  name: 'bootcache',
  summary: "BootCache's tunables, as the kext has them, and the limits it derives from mem_size",
  options: { 'mem-mb': { type: 'string', help: 'physical memory, MiB (mem_size; default 1024)', number: { min: 1, max: 1 << 20, integer: true } } },
  run: (o) => {
    const r = resolveBootCache({ memSizeMB: numOpt('mem-mb', o['mem-mb'], 1, { integer: true, max: 1 << 20 }) ?? 1024 });
    const mem = r.memSizeMB * 1024 * 1024;
    return {
      mem_size: mem,
      BC_minimum_mem_size: r.minimumMemMB * 1024 * 1024,
      // BC_init_cache refuses to start below the minimum memory.
      'kiolab.bootcache.enabled': r.memSizeMB >= r.minimumMemMB ? 1 : 0,
      // BC_init_cache loads no cache larger than half of memory; add_history records no read past it.
      'kiolab.bootcache.max_cache_bytes': Math.floor(mem / 2),
      'kiolab.bootcache.max_history_bytes': Math.floor(mem / 2),
      BC_MAXENTRIES,
      BC_MAX_READ: r.maxRead,
      BC_HISTORY_ENTRIES: r.historyClusterEntries,
      BC_HISTORY_MAXCLUSTERS: r.historyMaxClusters,
      BC_wait_for_readahead_ms: r.waitForReadaheadMs,
      BC_cache_timeout_ms: r.cacheTimeoutMs,
      BC_chit_check_start: r.chitCheckStart,
      BC_chit_low_level_percent: r.chitLowLevel,
    };
  },
});
