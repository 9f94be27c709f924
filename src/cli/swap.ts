/**
 * The swap scenario of the kiolab command. `kiolab bench swap`: pager workers push and pull pages under memory pressure while a control
 * loop on the main thread adds, removes and re-prioritises swap devices with swapctl. Reports fio's
 * job figures (read = swap-in faults, write = synchronous pageouts), swapctl latencies and errors,
 * the uvmexp counters, per-device figures, and the swap invariants checked at the end.
 */
import '../../workers/device.js'; // the role sets this scenario runs
import '../../workers/swap.js';
import { Machine } from '../engine/machine.js';
import type { MachineSpec } from '../engine/spec.js';
import type { PagerResult } from '../../workers/swap.js';
import { type RunContext, UsageError, numOpt, registerScenario } from './registry.js';
import { recorderOptions, runMachine, withReport } from '../report/run-machine.js';
import { closeSync, openSync, truncateSync } from 'node:fs';
import { checkOutputFile } from './outputs.js';
import { type RunReport, buildRunReport, spanMs } from '../report/run-report.js';
import { formatRunReport } from '../report/format.js';
import { errnoName } from '../sync/errno.js';
import { Swapctl } from '../swap/ctlchannel.js';
import { SWAP_CMD_NAMES, SWAP_CTL, SWAP_NSWAP, SWAP_OFF, SWAP_ON, SWAP_STATS, SwapGlobalsLayout, type SwapFileSpec, VREG, filePages, resolveSwap } from '../swap/layout.js';
import { registerSysctl } from './sysctl.js';
import { Swap } from '../swap/swapdev.js';
import { type PagerIoStats, pagerIoStats, poolLine } from '../swap/report.js';

export interface SwapBenchOptions {
  pagers?: number;
  durationMs?: number;
  /** Pages per pager, and how many of them may be resident. */
  pages?: number;
  resident?: number;
  asyncRatio?: number;
  /** Share of swap-in faults done asynchronously (uvm_swap_get without PGO_SYNCIO). */
  asyncReadRatio?: number;
  /** ms between swapctl commands of the control loop. */
  intervalMs?: number;
  /** Who runs the control loop's swapctl: 'root' (the administrator's swapctl(8), the default) or 'user' (a user process: EPERM but for SWAP_NSWAP and SWAP_STATS). */
  swapctlAs?: 'root' | 'user';
  seed?: number;
}

/** The bench's RunReport (its `devices` are the disks under the swap devices) with its swap section. */
export interface SwapBenchReport extends RunReport {
  uvmexp: Record<string, number>;
  swap: {
    config: Required<SwapBenchOptions>;
    runtimeMs: number;
    pagesPerSec: { in: number; out: number };
    pagers: { ops: number; faults: number; finalFaults: number; zerofills: number; puts: number; transfers: number; nospace: number; again: number; asyncFaults: number; readAgain: number; getErrors: number; mismatches: number };
    /** VM_PAGER_AGAIN (pageouts, and uvm_swap_io's by cause), the pager map, async reads, the vnd pools. */
    pagerIo: PagerIoStats;
    swapctl: { calls: number; byCommand: Record<string, number>; errors: Record<string, number>; latencyMs: { mean: number; max: number } };
    /** The swap devices (swapdev), with their puts, gets and active-I/O limits. */
    swapdevs: ReturnType<Swap['deviceTotals']>;
    xfers: { parents: number; doubleCompletions: number };
    invariants: string[];
    ok: boolean;
  };
}

export const BENCH_FILES: SwapFileSpec[] = [
  { path: '/dev/wd0b', device: 'wd0', type: 'blk', blocks: 4096, swapon: true, priority: 0 },
  { path: '/dev/wd1b', device: 'wd0', type: 'blk', firstBlock: 8192, blocks: 2048 },
  { path: '/swapfile', device: 'wd1', type: 'reg', bytes: 1 << 20, bsize: 2048, maxRun: 4, swapon: true, priority: 0 },
  { path: 'nfs:/swap', device: 'wd1', type: 'reg', firstBlock: 8192, bytes: 1 << 19, bsize: 8192, maxRun: 2, network: true },
];

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

export async function benchSwap(o: SwapBenchOptions, progress?: (line: string) => void, ctx?: RunContext): Promise<SwapBenchReport> {
  const config: Required<SwapBenchOptions> = {
    pagers: o.pagers ?? 2,
    durationMs: o.durationMs ?? 2000,
    pages: o.pages ?? 128,
    resident: o.resident ?? 32,
    asyncRatio: o.asyncRatio ?? 0.5,
    asyncReadRatio: o.asyncReadRatio ?? 0,
    intervalMs: o.intervalMs ?? 100,
    swapctlAs: o.swapctlAs ?? 'root',
    seed: o.seed ?? 1,
  };
  if (config.swapctlAs !== 'root' && config.swapctlAs !== 'user') throw new RangeError(`bench swap: swapctlAs must be 'root' or 'user', got ${JSON.stringify(config.swapctlAs)}`);
  const cred = { priv: config.swapctlAs === 'root' };
  if (!(config.asyncReadRatio >= 0 && config.asyncReadRatio <= 1)) throw new RangeError(`bench swap: asyncReadRatio must be in [0, 1], got ${config.asyncReadRatio}`);
  if (config.resident >= config.pages) throw new RangeError(`bench swap: --resident (${config.resident}) must be below --pages (${config.pages}) for memory pressure`);
  const total = config.pagers * config.pages;
  const spec: MachineSpec = {
    ncpu: config.pagers + 3,
    devices: [
      { name: 'wd0', blocks: 16384, elevator: true, latency: { baseUs: 50, bandwidthMBps: 400 } },
      { name: 'wd1', blocks: 16384, latency: { baseUs: 80, bandwidthMBps: 200 } },
    ],
    swap: { files: BENCH_FILES, pages: total, nvndbuf: 256 },
  };
  // The common device options (--latency-us, --bandwidth, --device-file) and the trace ring, as
  // every scenario applies them. A real file per disk (PATH-wd0, PATH-wd1), never overwritten
  // without --force, made to the disk's size (swap's pages carry their versions: no stamps needed).
  const full = withReport(spec, ctx);
  for (const d of full.devices ?? []) if (d.file) checkOutputFile('device-file', d.file, !!ctx?.common.force);
  for (const d of full.devices ?? []) {
    if (!d.file) continue;
    closeSync(openSync(d.file, 'w'));
    truncateSync(d.file, d.blocks * (d.blockSize ?? 512));
  }
  const m = new Machine(full);
  const ctl = new Swapctl(m.arena, m.sync, m.spec);
  // --ramp: the load runs the ramp and then --duration; the ramp's operations stay out of the figures.
  const rampMs = (ctx?.common.ramp ?? 0) * 1000;
  const { binMs } = recorderOptions(ctx, rampMs + config.durationMs);
  const roles = [
    ...Array.from({ length: config.pagers }, (_, i) => ({
      role: 'swap:pager',
      args: { first: i * config.pages, count: config.pages, resident: config.resident, until: 'released', asyncRatio: config.asyncRatio, asyncReadRatio: config.asyncReadRatio, seed: config.seed * 7919 + i, faultAll: true, rampMs, binMs },
    })),
    { role: 'swap:swapctl', daemon: true },
    { role: 'swap:device', args: { unit: 0 }, daemon: true, io: true },
    { role: 'swap:device', args: { unit: 1 }, daemon: true, io: true },
  ];
  const t0 = performance.now();
  const run = ctl.watch(runMachine(m, roles, ctx, { label: 'swap', timeoutMs: rampMs + config.durationMs + 60_000 }));
  const rand = rng(config.seed);
  const byCommand: Record<string, number> = {};
  const errors: Record<string, number> = {};
  let calls = 0;
  let latSum = 0;
  let latMax = 0;
  const call = async (cmd: number, path: string | null, misc: number) => {
    const s = performance.now();
    const r = await ctl.swapctl(cmd, path, misc, cred);
    const ms = performance.now() - s;
    calls++;
    latSum += ms;
    latMax = Math.max(latMax, ms);
    byCommand[SWAP_CMD_NAMES[cmd]] = (byCommand[SWAP_CMD_NAMES[cmd]] ?? 0) + 1;
    if (r.error) errors[`${SWAP_CMD_NAMES[cmd]} ${errnoName(r.error)}`] = (errors[`${SWAP_CMD_NAMES[cmd]} ${errnoName(r.error)}`] ?? 0) + 1;
    return r;
  };
  let results;
  let tLoad = t0;
  try {
    // The load runs from when the workers are up (the executor's first answer), not from start-up.
    await ctl.swapctl(SWAP_NSWAP, null, 0);
    tLoad = performance.now();
    while (performance.now() - tLoad < rampMs + config.durationMs) {
      await new Promise((r) => setTimeout(r, config.intervalMs));
      const on = (await call(SWAP_STATS, null, BENCH_FILES.length)).stats!.map((s) => s.path);
      const off = BENCH_FILES.map((f) => f.path).filter((p) => !on.includes(p));
      const x = rand();
      if (off.length && (x < 0.4 || on.length < 2)) await call(SWAP_ON, off[Math.floor(rand() * off.length)], Math.floor(rand() * 3));
      else if (x < 0.7 && on.length > 1) await call(SWAP_OFF, on[Math.floor(rand() * on.length)], 0);
      else await call(SWAP_CTL, on[Math.floor(rand() * on.length)], Math.floor(rand() * 3) - 1);
      progress?.(`swap: ${Math.round((performance.now() - tLoad) / 100) / 10}s, ${calls} swapctl calls`);
    }
  } finally {
    ctl.release();
    results = await run;
  }
  const pagers = results.slice(0, config.pagers).map((r) => r.value as PagerResult);
  // The figures' span: the pagers' first op after the ramp to their last (the whole load without --ramp).
  const runtimeMs = rampMs > 0 ? Math.max(1e-3, spanMs(pagers.map((p) => p.rec))) : performance.now() - tLoad;
  const sum = (k: keyof PagerResult) => pagers.reduce((s, p) => s + (p[k] as number), 0);
  const sw = Swap.of(m.sync, m.spec);
  const G = m.arena.view(SwapGlobalsLayout);
  const g = m.arena.pool('swap.globals', SwapGlobalsLayout).addr(0);
  const invariants = sw.checkInvariants();
  // Async page-ins check their stamps in the completion (sg_mismatch, which counts every fault's).
  const agg = { ops: sum('ops'), faults: sum('faults'), finalFaults: sum('finalFaults'), zerofills: sum('zerofills'), puts: sum('puts'), transfers: sum('transfers'), nospace: sum('nospace'), again: sum('again'), asyncFaults: sum('asyncFaults'), readAgain: sum('readAgain'), getErrors: sum('getErrors'), mismatches: Math.max(sum('mismatches'), G.load(g, 'sg_mismatch')) };
  const pagerIo = pagerIoStats(sw);
  const section: SwapBenchReport['swap'] = {
    config,
    runtimeMs,
    pagesPerSec: { in: (agg.faults * 1000) / runtimeMs, out: (agg.puts * 1000) / runtimeMs },
    pagers: agg,
    pagerIo,
    swapctl: { calls, byCommand, errors, latencyMs: { mean: calls ? latSum / calls : 0, max: latMax } },
    swapdevs: sw.deviceTotals(),
    xfers: { parents: G.load(g, 'sg_xfer_done'), doubleCompletions: G.load(g, 'sg_xfer_double') },
    invariants,
    ok: invariants.length === 0 && agg.mismatches === 0 && agg.getErrors === 0,
  };
  const uvmexp = { nswapdev: sw.uvmexp('nswapdev'), swpages: sw.uvmexp('swpages'), swpginuse: sw.uvmexp('swpginuse'), swpgonly: sw.uvmexp('swpgonly'), nswget: sw.uvmexp('nswget') };
  const list = (xs: string[]) => (xs.length ? `${xs.length}: ${xs.slice(0, 3).join('; ')}` : undefined);
  const report = buildRunReport({
    scenario: 'swap',
    machine: m,
    results,
    runtimeMs,
    ctx,
    options: { seed: config.seed, duration: config.durationMs / 1000, ramp: rampMs / 1000 || undefined, cpus: config.pagers, pagers: config.pagers, pages: config.pages, resident: config.resident, 'async-ratio': config.asyncRatio, 'async-read-ratio': config.asyncReadRatio, interval: config.intervalMs, 'swapctl-as': config.swapctlAs },
    // read = swap-in faults, write = synchronous pageouts.
    jobName: (role: string) => (role === 'swap:pager' ? 'swap pager' : role),
    uvmexp,
    counters: {
      'swapctl calls (by command)': section.swapctl.byCommand,
      'swapctl errors (command errno)': section.swapctl.errors,
      'swap accounting (1.44)': { bad_pages_swap_off_left_in_swpginuse: G.load(g, 'sg_badleak'), swapents_copied_twice_by_unlocked_stats: G.load(g, 'sg_stats_dup') },
      'swapctl latency': { mean_ms: Math.round(section.swapctl.latencyMs.mean * 100) / 100, max_ms: Math.round(section.swapctl.latencyMs.max * 100) / 100 },
      'pagers': { touches: agg.ops, faults: agg.faults, async_faults: agg.asyncFaults, final_faults: agg.finalFaults, zerofills: agg.zerofills, pages_out: agg.puts, transfers: agg.transfers, swap_full: agg.nospace, pager_again: agg.again },
      'VM_PAGER_AGAIN (uvm_swap_io)': { pageouts: pagerIo.again.pageouts, no_pbuf: pagerIo.again.pbuf, no_pager_map: pagerIo.again.pagerMap, async_reads_done_sync: agg.readAgain },
      'vndbuf pool': { ...pagerIo.pools.vndbuf },
      'vndxfer pool': { ...pagerIo.pools.vndxfer },
    },
    tables: [
      {
        title: 'swap devices (swapdev)',
        head: ['path', 'type', 'on', 'priority', 'puts', 'gets', 'children', 'maxactive (seen)'],
        rows: section.swapdevs.map((d) => [d.path, d.type, d.onlist ? 'y' : 'n', d.priority, d.puts, d.gets, d.children, d.type === 'reg' ? `${d.maxactive} (${d.maxactiveSeen})` : '-']),
      },
    ],
    checks: [
      { name: 'swap: every page faulted back carries its last version', ok: agg.mismatches === 0, detail: agg.mismatches ? `${agg.mismatches} wrong pages` : `${agg.faults + agg.finalFaults} faults checked` },
      { name: 'swap: no swap-in failed', ok: agg.getErrors === 0, detail: agg.getErrors ? `${agg.getErrors} failed swap-ins` : undefined },
      { name: 'swap: invariants hold', ok: invariants.length === 0, detail: list(invariants) },
    ],
  });
  report.summary = summaryLines(section);
  return { ...report, uvmexp, swap: section };
}

/** The headline: the pagers' pressure, swap-in/out rates, swapctl and the transfers. */
function summaryLines(r: SwapBenchReport['swap']): string[] {
  return [
    `swap: ${r.config.pagers} pagers × ${r.config.pages} pages (≤ ${r.config.resident} resident each), ${(r.runtimeMs / 1000).toFixed(2)} s, swapctl every ${r.config.intervalMs} ms as ${r.config.swapctlAs}`,
    `  swap-in     ${r.pagesPerSec.in.toFixed(0)} pages/s; swap-out ${r.pagesPerSec.out.toFixed(0)} pages/s (job "swap pager": read = swap-in faults, write = synchronous pageouts)`,
    `  pagers      ${r.pagers.ops} touches, ${r.pagers.faults} faults (+${r.pagers.finalFaults} at the end), ${r.pagers.puts} pages out in ${r.pagers.transfers} transfers, ${r.pagers.nospace} times swap full, ${r.pagers.mismatches} wrong pages`,
    `  swapctl     ${r.swapctl.calls} calls (${Object.entries(r.swapctl.byCommand).map(([k, v]) => `${k} ${v}`).join(', ')}), mean ${r.swapctl.latencyMs.mean.toFixed(2)} ms, max ${r.swapctl.latencyMs.max.toFixed(1)} ms; errors: ${Object.entries(r.swapctl.errors).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
    `  pager I/O   VM_PAGER_AGAIN ${r.pagerIo.again.pageouts} pageouts (no pbuf ${r.pagerIo.again.pbuf}, no pager map ${r.pagerIo.again.pagerMap}); ${r.pagers.asyncFaults} async page-ins (${r.pagers.readAgain} AGAIN, done sync); pager map ${r.pagerIo.pagerMap.pages} pages, ${r.pagerIo.pagerMap.sleeps} sleeps`,
    `  pools       ${poolLine(r.pagerIo.pools)}`,
    `  transfers   regular-file parents ${r.xfers.parents}, completed twice ${r.xfers.doubleCompletions}; invariants ${r.invariants.length ? `${r.invariants.length} VIOLATED` : 'all hold'}`,
  ];
}

/** The whole text report (as `kiolab bench swap` prints it). */
export function formatSwap(r: SwapBenchReport): string {
  return formatRunReport(r);
}

function swapctlAs(v: unknown): 'root' | 'user' | undefined {
  if (v === undefined) return undefined;
  if (v === 'root' || v === 'user') return v;
  throw new UsageError(`--swapctl-as: must be root or user, got ${JSON.stringify(v)}`);
}

registerScenario({
  name: 'swap',
  description: 'NetBSD uvm_swap: pagers push and pull pages under memory pressure while swapctl adds, removes and re-prioritises swap devices',
  options: {
    pagers: { type: 'string', help: 'pager workers (default: --cpus or 2)', number: { min: 1, max: 64, integer: true } },
    pages: { type: 'string', help: 'pages per pager (default 128)', number: { min: 2, max: 4096, integer: true } },
    resident: { type: 'string', help: 'resident pages per pager, the memory pressure (default 32)', number: { min: 1, integer: true } },
    'async-ratio': { type: 'string', help: 'share of pageouts done asynchronously (default 0.5)', number: { min: 0, max: 1 } },
    'async-read-ratio': { type: 'string', help: 'share of swap-in faults done asynchronously (default 0)', number: { min: 0, max: 1 } },
    interval: { type: 'string', help: 'ms between swapctl commands of the control loop (default 100)', number: { min: 1 } },
    'swapctl-as': { type: 'string', help: "who runs the control loop's swapctl: root (the administrator, default) or user (EPERM but for SWAP_NSWAP and SWAP_STATS)" },
  },
  honours: ['seed', 'duration', 'ramp', 'cpus', 'device', 'device-file', 'trace', 'check', 'as-seed'],
  refuses: {
    ops: 'the pagers run for --duration: they have no operation count',
    workload: 'its load is pages faulted in and pushed out under memory pressure, not block requests (replay a trace through bufcache, bootcache or mixed)',
  },
  run: (o, progress, ctx) => {
    const pages = numOpt('pages', o.pages, 2, { integer: true, max: 4096 }) ?? 128;
    const resident = numOpt('resident', o.resident, 1, { integer: true }) ?? Math.min(32, pages - 1);
    if (resident >= pages) throw new UsageError(`--resident: must be below --pages (${pages}) for memory pressure, got ${resident}`);
    return benchSwap(
      {
        pagers: numOpt('pagers', o.pagers, 1, { integer: true, max: 64 }) ?? ctx?.common.cpus ?? numOpt('cpus', o.cpus, 1, { integer: true }),
        pages,
        resident,
        asyncRatio: numOpt('async-ratio', o['async-ratio'], 0, { max: 1 }),
        asyncReadRatio: numOpt('async-read-ratio', o['async-read-ratio'], 0, { max: 1 }),
        intervalMs: numOpt('interval', o.interval, 1),
        swapctlAs: swapctlAs(o['swapctl-as']),
        durationMs: (ctx?.common.duration ?? numOpt('duration', o.duration, 0.001)) !== undefined ? (ctx?.common.duration ?? numOpt('duration', o.duration, 0.001))! * 1000 : undefined,
        seed: ctx?.common.seed ?? numOpt('seed', o.seed, 0, { integer: true }),
      },
      progress,
      ctx,
    );
  },
});

registerSysctl({
  name: 'swap',
  summary: "the bench's swap devices as uvm_swap sizes them: pages, priorities, active-I/O limits",
  options: { pages: { type: 'string', help: 'pages the pagers own (uvmexp; default 256, as the machine spec)', number: { min: 1, max: 65536, integer: true } } },
  run: (o) => {
    const disks = [
      { name: 'wd0', blocks: 16384 },
      { name: 'wd1', blocks: 16384 },
    ];
    const r = resolveSwap({ files: BENCH_FILES, pages: numOpt('pages', o.pages, 1, { integer: true, max: 65536 }) ?? 256 }, disks);
    const out: Record<string, number> = { 'vm.uvmexp.npages': r.pages, 'kiolab.swap.nvndbuf': r.nvndbuf, 'kiolab.swap.nvndxfer': r.nvndxfer, 'kiolab.swap.pager_map_pages': r.pagerMap };
    let total = 0;
    for (const f of r.files) {
      const npages = filePages(f);
      total += npages;
      out[`${f.path}.swd_npages`] = npages;
      out[`${f.path}.swd_priority`] = f.priority;
      out[`${f.path}.regular_file`] = f.type === VREG ? 1 : 0;
      if (f.type === VREG) {
        out[`${f.path}.swd_bsize`] = f.bsize;
        out[`${f.path}.swd_maxactive`] = f.maxactive;
      }
    }
    out['kiolab.swap.pages_on_all_devices'] = total;
    return out;
  },
});
