/**
 * The `mixed` scenario (`kiolab bench mixed`, what `npm start` runs): the whole stack on one
 * machine, a machine booting and working.
 *
 * One disk, `disk0` (4 KiB blocks, memory-backed so the device oracle can check every read):
 *
 *   blocks [0, F)        the file system: the buffer cache's files, laid out one after another
 *   blocks [F, F + S)    the swap partition /dev/disk0b (swap type 'blk')
 *
 * Swap is a partition of the same disk, not a second device: NetBSD's swap model only needs a
 * block range of a device (ResolvedSwapFile.base/bytes), and a block-device swap issues its I/O
 * from the pager's cpu (swstrategy → dev_dstrategy), never from a completion, so passing through
 * the BootCache shim (whose bypass may sleep) is as legal for it as for the buffer cache. Swap
 * reads are BootCache lookups that miss, as they would be on a real disk BootCache covers.
 *
 * BootCache covers disk0 (BC_init_cache interposes its strategy before the workers start), so
 * every dev_dstrategy of the buffer cache's callers, its read-ahead, the buf daemons' flushes and
 * the pagers' transfers reaches BC_strategy: reads are served from the readahead cache when their
 * blocks are there, writes discard the cached blocks they cover, the rest goes to the disk.
 *
 * The playlist is the boot's first-use order: every file's first half is what the callers read
 * when they boot (batch 0, in the order they read it), the second half is read ahead next
 * (batch 1) and serves the first reads of the work phase. Extents are 16 file blocks, so a caller
 * waits only for the extent its block is in.
 *
 * The run: START BootCache with the playlist; run callers (boot reads, then reads and writes
 * through the buffer cache), both buf daemons, the BootCache reader, the pagers and two device
 * workers for --duration seconds; release the load (callers and pagers stop, the last caller
 * syncs every file and checks no write was lost, each pager faults its pages back and checks
 * them); then STATS, STOP and HISTORY of BootCache, and every subsystem's invariants.
 */
import '../../workers/device.js'; // the role sets this scenario runs
import '../../workers/bootcache.js';
import '../../workers/bufcache.js';
import '../../workers/swap.js';
import '../../workers/mixed.js';
import { BootCacheControl, statsSection, timevalUs } from '../bootcache/control.js';
import { BC_FLAG_CACHEACTIVE, PH_MAGIC, cflagsToString } from '../bootcache/defs.js';
import { ENXIO } from '../sync/errno.js';
import { type Playlist, validatePlaylist } from '../bootcache/playlist.js';
import { checkInvariants as bufInvariants } from '../bufcache/invariants.js';
import { sysctlSnapshot } from '../bufcache/sysctl.js';
import { resolveDevice } from '../device/config.js';
import { Oracle } from '../device/oracle.js';
import { formatRunReport } from '../report/format.js';
import { type Check, type RunReport, buildRunReport } from '../report/run-report.js';
import { recorderOptions, runMachine, withReport } from '../report/run-machine.js';
import { hitStats } from '../report/types.js';
import { Swapctl } from '../swap/ctlchannel.js';
import { SwapGlobalsLayout } from '../swap/layout.js';
import { Swap } from '../swap/swapdev.js';
import { type PagerIoStats, pagerIoStats } from '../swap/report.js';
import { Machine } from '../engine/machine.js';
import { type OptionValues, type RunContext, UsageError, numOpt, registerScenario } from './registry.js';
import { checkOutputFile } from './outputs.js';
import type { BootRun, MixedCallerArgs, MixedCallerResult } from '../../workers/mixed.js';
import type { PagerArgs, PagerResult } from '../../workers/swap.js';
import type { MachineSpec } from '../engine/spec.js';
import { BufCache } from '../bufcache/core.js';
import { type WorkloadPlan, planWorkload, replayArgs, workloadOptions } from './workload.js';
import { vmLine } from './bufcache.js';

/** The machine's geometry (fixed: the scenario is "the" machine; the options size the load). */
export const MIXED = {
  devBlockSize: 4096,
  files: 8,
  fileBlocks: 128,
  bsize: 16384,
  nbuf: 512,
  heavyFiles: 1,
  /** File blocks per playlist extent. */
  extentBlocks: 16,
  pagesPerPager: 256,
  residentPerPager: 64,
  /** Swap partition size in pages (room for every pager's pages, twice). */
  swapPagesPerPager: 512,
  latency: { baseUs: 50, bandwidthMBps: 400 },
};

export interface MixedOptions {
  durationMs: number;
  /** Warm-up (ms) left out of the figures; the load runs it and then durationMs. */
  rampMs?: number;
  callers: number;
  pagers: number;
  seed: number;
  /** BootCache's cache timeout (ms; the seed's 120 s by default). */
  cacheTimeoutMs?: number;
}

export interface MixedReport extends RunReport {
  mixed: {
    playlist: { extents: number; bytes: number; batches: number };
    boot: { reads: number; maxMs: number };
    bootcache: { hitRatioBlocks: number; hitRatioLookups: number; readaheadUsed: number; readahead: { ms: number; batchMs: number[] }; stop: { entries: number; errors: Record<string, number> }; history: number; flagsAtEnd: string };
    /** hits: reads with no device read, vmHits of them served by VM pages; hitRatio: by a cached buffer; vmHitRatio: of the buffer cache's misses, by VM pages. */
    bufcache: { hits: number; vmHits: number; misses: number; hitRatio: number; vmHitRatio: number; vm: string };
    /** again: VM_PAGER_AGAIN pageouts, againPbuf / againMap: uvm_swap_io's AGAINs by cause; pools: the vnd pools. */
    swap: { touches: number; faults: number; finalFaults: number; puts: number; transfers: number; nospace: number; again: number; againPbuf: number; againMap: number; pools: PagerIoStats['pools'] };
    daemons: { flushed: Record<string, number>; readerReads: number; deviceServed: number[] };
    runtimeMs: number;
  };
}

/** The boot: each file's first half, files dealt to callers round-robin; and the playlist it makes. */
export function mixedBoot(callers: number, fileBlocks = MIXED.fileBlocks): { perCaller: BootRun[][]; playlist: Playlist } {
  const { files, bsize, extentBlocks } = MIXED;
  const half = Math.floor(fileBlocks / 2);
  const perCaller: BootRun[][] = Array.from({ length: callers }, () => []);
  for (let f = 0; f < files; f++) perCaller[f % callers].push({ vp: f + 1, lbn: 0, n: half });
  const entries: Playlist['entries'] = [];
  for (let f = 0; f < files; f++) {
    for (let lbn = 0; lbn < fileBlocks; lbn += extentBlocks) {
      const n = Math.min(extentBlocks, fileBlocks - lbn);
      entries.push({ pce_offset: (f * fileBlocks + lbn) * bsize, pce_length: n * bsize, pce_batch: lbn < half ? 0 : 1 });
    }
  }
  return { perCaller, playlist: validatePlaylist({ ph_magic: PH_MAGIC, ph_blocksize: MIXED.devBlockSize, entries }) };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());

export async function benchMixed(o: MixedOptions, ctx?: RunContext, plan?: WorkloadPlan): Promise<MixedReport> {
  // A recorded workload (--workload) is the work phase; the files grow to hold it.
  const G = plan ? { ...MIXED, fileBlocks: Math.max(MIXED.fileBlocks, Math.ceil(Math.ceil(plan.workload.extent / MIXED.bsize) / MIXED.files)) } : MIXED;
  const fsBlocks = (G.files * G.fileBlocks * G.bsize) / G.devBlockSize;
  const swapBlocks = (o.pagers * G.swapPagesPerPager * 4096) / G.devBlockSize;
  const ndaemons = 2;
  const ndevworkers = 2;
  const ncpu = o.callers + o.pagers + ndaemons + 1 + ndevworkers;
  const { perCaller, playlist } = mixedBoot(o.callers, G.fileBlocks);
  const playlistBytes = playlist.entries.reduce((s, e) => s + e.pce_length, 0);
  const spec: MachineSpec = withReport(
    {
      ncpu,
      devices: [{ name: 'disk0', blocks: fsBlocks + swapBlocks, blockSize: G.devBlockSize, oracle: true, latency: { ...G.latency } }],
      bufcache: { nbuf: G.nbuf, unit: 0, files: G.files, fileBlocks: G.fileBlocks, bsize: G.bsize, heavyFiles: G.heavyFiles, queueSets: o.callers },
      bootcache: { device: 'disk0', locking: 'fine', cacheTimeoutMs: o.cacheTimeoutMs, maxExtents: playlist.entries.length, bufferBytes: Math.ceil(playlistBytes / (4096 * 32)) * 4096 * 32, callerSliceBytes: 4096 },
      swap: { files: [{ path: '/dev/disk0b', device: 'disk0', type: 'blk', firstBlock: fsBlocks, blocks: swapBlocks, swapon: true, priority: 0 }], pages: o.pagers * G.pagesPerPager },
    },
    ctx,
  );
  // --device-file: the disk is a real file, never overwritten without --force.
  if (spec.devices![0].file) checkOutputFile('device-file', spec.devices![0].file, !!ctx?.common.force);
  const m = new Machine(spec);
  const d0 = resolveDevice(spec.devices![0], 0);
  new Oracle(m.arena, 0, d0).formatMedium();
  // After format every block is version 1 on the device, which is what the cache expects to read.
  new Int32Array(m.arena.sab, m.arena.region('bufcache.expect').offset, d0.blocks).fill(1);
  const bcctl = new BootCacheControl(m);
  const swapctl = new Swapctl(m.arena, m.sync, spec);
  const rampMs = o.rampMs ?? 0;
  const { binMs } = recorderOptions(ctx, rampMs + o.durationMs);
  try {
    await bcctl.start(playlist);
    const callerArgs = (i: number): MixedCallerArgs => ({ boot: perCaller[i], ncallers: o.callers, ndaemons, seed: o.seed, binMs, rampMs, ...(plan ? { replay: replayArgs(plan, i, G.bsize) } : {}) });
    const pagerArgs = (i: number): PagerArgs => ({ first: i * G.pagesPerPager, count: G.pagesPerPager, resident: G.residentPerPager, until: 'released', seed: o.seed * 7919 + i + 1, faultAll: true, binMs, rampMs });
    const roles = [
      ...Array.from({ length: o.callers }, (_, i) => ({ role: 'mixed:caller', args: callerArgs(i) })),
      ...Array.from({ length: o.pagers }, (_, i) => ({ role: 'swap:pager', args: pagerArgs(i) })),
      { role: 'bufcache:buf_daemon', daemon: true },
      { role: 'bufcache:buf_daemon_hw', daemon: true },
      { role: 'bootcache:reader', daemon: true },
      { role: 'swap:device', args: { unit: 0 }, daemon: true, io: true, count: ndevworkers },
    ];
    const run = swapctl.watch(runMachine(m, roles, ctx, { label: 'mixed', timeoutMs: rampMs + o.durationMs + 180_000 }));
    let failed = false;
    run.catch(() => (failed = true));
    // The load's clock starts when the first strategy call reaches BootCache (the workers are up).
    const up = performance.now();
    // (Or when the cache is gone before any: a short --cache-timeout can end it while workers start.)
    while (!failed && bcctl.bc.S.load(bcctl.bc.st, 'ss_strategy_calls') === 0 && bcctl.bc.cflags() & BC_FLAG_CACHEACTIVE && performance.now() - up < 60_000) await sleep(10);
    const tUp = m.arena.now();
    const t0 = performance.now();
    // The load ends at --duration, or (a recorded workload) once every caller has replayed its share.
    const bcg = BufCache.of(m.sync);
    const replayed = () => plan !== undefined && bcg.gl('load_done') >= o.callers;
    while (!failed && !replayed() && performance.now() - t0 < rampMs + o.durationMs) await sleep(Math.min(50, o.durationMs));
    swapctl.release();
    const results = await run;
    const runtimeMs = performance.now() - t0;
    const activeBeforeStop = (bcctl.bc.cflags() & BC_FLAG_CACHEACTIVE) !== 0;
    const stop = await bcctl.stop();
    // STATS after STOP, final (ss_spurious_blocks, ss_cache_stop), as the seed's tool takes them.
    const stats = await bcctl.stats();
    // ss_batch_time: [b + 1] the end of batch b, [STAT_BATCHMAX] the reader's end (timevals since
    // the machine's epoch); shown from the first request that reached BootCache.
    const bt = stats.ss_batch_time.map((tv) => timevalUs(tv) / 1000);
    // A batch the reader never finished (the cache ended first) has no time: 0.
    const since = (t: number) => (t > 0 ? Math.max(0, t - tUp) : 0);
    const readahead = { ms: since(bt[bt.length - 1]), batchMs: [1, 2].map((b) => since(bt[b])) };
    const bcInvariants = bcctl.checkInvariants();
    const history = await bcctl.history();

    const of = <T>(role: string) => results.filter((r) => r.role === role).map((r) => r.value as T);
    const callers = of<MixedCallerResult>('mixed:caller');
    const pagers = of<PagerResult>('swap:pager');
    const flushed = Object.fromEntries([...of<{ daemon: string; flushed: number }>('bufcache:buf_daemon'), ...of<{ daemon: string; flushed: number }>('bufcache:buf_daemon_hw')].map((d) => [d.daemon, d.flushed]));
    const reader = of<{ reads: number }>('bootcache:reader')[0];
    const devs = of<{ served: number }>('swap:device').map((d) => d.served);
    const final = callers.find((c) => c.final)?.final;
    const mismatches = callers.flatMap((c) => c.mismatches);
    const hits = callers.reduce((s, c) => s + c.hits, 0);
    const vmHits = callers.reduce((s, c) => s + c.vmHits, 0);
    const misses = callers.reduce((s, c) => s + c.misses, 0);
    const psum = (k: keyof PagerResult) => pagers.reduce((s, p) => s + (p[k] as number), 0);
    const sw = Swap.of(m.sync, spec);
    const SG = m.arena.view(SwapGlobalsLayout);
    const sg = m.arena.pool('swap.globals', SwapGlobalsLayout).addr(0);
    const swapInvariants = sw.checkInvariants();
    const pagerIo = pagerIoStats(sw);
    const bufInv = bufInvariants(m.arena);
    const callerErrors = callers.reduce((s, c) => s + c.errors, 0);
    const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);
    const list = (xs: string[]) => (xs.length ? `${xs.length}: ${xs.slice(0, 3).join('; ')}` : undefined);
    const checks: Check[] = [
      { name: 'oracle: every read through the buffer cache and BootCache returned the latest data', ok: mismatches.length === 0, detail: list(mismatches) },
      { name: 'oracle: every write through the buffer cache reached the disk', ok: !!final && final.lostWrites.length === 0, detail: final ? (list(final.lostWrites) ?? `${final.checkedBlocks} blocks checked`) : 'the final sync did not run' },
      { name: 'bufcache: invariants hold', ok: bufInv.length === 0, detail: list(bufInv) },
      { name: 'bufcache: no I/O error', ok: callerErrors === 0, detail: callerErrors ? `${callerErrors} errors` : undefined },
      { name: 'swap: every page faulted back carries its last version', ok: psum('mismatches') === 0 && SG.load(sg, 'sg_mismatch') === 0, detail: psum('mismatches') ? `${psum('mismatches')} wrong pages` : undefined },
      { name: 'swap: no I/O error', ok: psum('getErrors') === 0, detail: psum('getErrors') ? `${psum('getErrors')} failed swap-ins` : undefined },
      { name: 'swap: invariants hold', ok: swapInvariants.length === 0, detail: list(swapInvariants) },
      // BC_terminate_cache answers ENXIO when the cache is gone already: the seed's 120 s cache
      // timeout or its hit-rate cutoff ended it during a long run. Any other error is a failure.
      {
        name: 'bootcache: STOP drained readahead, cache and history',
        ok: stop.errors.readahead === 0 && stop.errors.history === 0 && (stop.errors.cache === 0 || (stop.errors.cache === ENXIO && !activeBeforeStop)),
        detail: `${JSON.stringify(stop.errors)}${stop.errors.cache === ENXIO ? (activeBeforeStop ? ' (ENXIO although the cache was active)' : ' (the cache had already ended: timeout or hit-rate cutoff)') : ''}`,
      },
      { name: 'bootcache: invariants hold', ok: bcInvariants.length === 0, detail: list(bcInvariants) },
    ];
    const section = Object.fromEntries(Object.entries(statsSection(stats)).filter(([k]) => !['ss_batch_size', 'ss_batch_time'].includes(k)));
    const scalar = Object.fromEntries(Object.entries(stats).filter(([, v]) => typeof v === 'number')) as Record<string, number>;
    const flagsAtEnd = `${cflagsToString(stats.ss_cache_flags)} after STOP`;
    const report = buildRunReport({
      scenario: 'mixed',
      machine: m,
      results,
      ctx,
      options: { ...workloadOptions(plan), duration: o.durationMs / 1000, ramp: rampMs / 1000 || undefined, callers: o.callers, pagers: o.pagers, seed: o.seed },
      jobName: (role) => (role === 'mixed:caller' ? 'bufcache caller' : role === 'swap:pager' ? 'swap pager' : role),
      hits: { 'mixed:caller': { bufcache: hitStats(hits - vmHits, misses + vmHits), 'vm pages': hitStats(vmHits, misses) } },
      sysctl: sysctlSnapshot(m.arena),
      bootcache: section,
      uvmexp: { nswapdev: sw.uvmexp('nswapdev'), swpages: sw.uvmexp('swpages'), swpginuse: sw.uvmexp('swpginuse'), swpgonly: sw.uvmexp('swpgonly'), nswget: sw.uvmexp('nswget') },
      checks,
    });
    const mixed: MixedReport['mixed'] = {
      playlist: { extents: playlist.entries.length, bytes: playlistBytes, batches: 2 },
      boot: { reads: callers.reduce((s, c) => s + c.bootReads, 0), maxMs: Math.max(0, ...callers.map((c) => c.bootMs)) },
      bootcache: {
        hitRatioBlocks: ratio(scalar.ss_hit_blocks, scalar.ss_requested_blocks),
        hitRatioLookups: ratio(scalar.ss_extent_hits, scalar.ss_extent_lookups),
        readaheadUsed: ratio(scalar.ss_hit_blocks, scalar.ss_read_blocks),
        readahead,
        stop: { entries: stop.entries, errors: stop.errors },
        history: history.length,
        flagsAtEnd,
      },
      bufcache: { hits, vmHits, misses, hitRatio: ratio(hits - vmHits, hits + misses), vmHitRatio: ratio(vmHits, vmHits + misses), vm: vmLine(sysctlSnapshot(m.arena)) },
      swap: { touches: psum('ops'), faults: psum('faults'), finalFaults: psum('finalFaults'), puts: psum('puts'), transfers: psum('transfers'), nospace: psum('nospace'), again: psum('again'), againPbuf: pagerIo.again.pbuf, againMap: pagerIo.again.pagerMap, pools: pagerIo.pools },
      daemons: { flushed, readerReads: reader?.reads ?? 0, deviceServed: devs },
      runtimeMs,
    };
    const summary = mixedSummary(mixed, scalar);
    if (plan) {
      const done = callers.reduce((s, c) => s + (c.replayed ?? 0), 0);
      summary.push(`  ${plan.describe}${done < plan.requests ? `; --duration ended it after ${done.toLocaleString('en-US')} of them` : ''}`);
    }
    return { ...report, summary, mixed };
  } finally {
    bcctl.untimeout();
  }
}

/** The headline: the boot, BootCache, the buffer cache, swap, readahead and the devices. */
export function mixedSummary(x: MixedReport['mixed'], b: Record<string, number>): string[] {
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  return [
    `mixed: a machine booting and working for ${(x.runtimeMs / 1000).toFixed(1)} s — buffer cache over BootCache over disk0, swap on disk0b`,
    `  boot        ${x.boot.reads} boot reads done in ${(x.boot.maxMs / 1000).toFixed(2)} s; playlist ${x.playlist.extents} extents, ${(x.playlist.bytes / 1048576).toFixed(1)} MiB in ${x.playlist.batches} batches`,
    `  BootCache   hit ratio ${pct(x.bootcache.hitRatioBlocks)} of requested blocks (${b.ss_hit_blocks}/${b.ss_requested_blocks}), ${pct(x.bootcache.hitRatioLookups)} of lookups found an extent; ${pct(x.bootcache.readaheadUsed)} of the readahead was used (${b.ss_hit_blocks}/${b.ss_read_blocks} blocks); ${b.ss_write_discards} blocks discarded by writes; at the end ${x.bootcache.flagsAtEnd}; history ${x.bootcache.history} entries`,
    `  bufcache    hit ratio ${pct(x.bufcache.hitRatio)} in buffers, and ${pct(x.bufcache.vmHitRatio)} of the misses served by VM pages (${x.bufcache.hits - x.bufcache.vmHits} + ${x.bufcache.vmHits} hits, ${x.bufcache.misses} device reads); daemons flushed ${Object.entries(x.daemons.flushed).map(([k, v]) => `${k} ${v} (${Math.round((v * 1000) / x.runtimeMs)}/s)`).join(', ')}`,
    `  VM          ${x.bufcache.vm}`,
    `  swap        ${x.swap.touches} touches, ${x.swap.faults} faults (+${x.swap.finalFaults} at the end), ${x.swap.puts} pages out in ${x.swap.transfers} transfers${x.swap.nospace ? `, swap full ${x.swap.nospace} times` : ''}; VM_PAGER_AGAIN ${x.swap.again} pageouts (no pbuf ${x.swap.againPbuf}, no pager map ${x.swap.againMap})`,
    `  readahead   ${x.daemons.readerReads} reads, ${((b.ss_read_blocks * b.ss_blocksize) / 1048576).toFixed(1)} MiB, batch 0 done ${x.bootcache.readahead.batchMs[0].toFixed(0)} ms and batch 1 ${x.bootcache.readahead.batchMs[1].toFixed(0)} ms after the first request; ${b.ss_strategy_blocked} strategy calls waited for it`,
    `  devices     device workers served ${x.daemons.deviceServed.join(' + ')} requests`,
  ];
}

/** The whole text report (as `kiolab bench mixed` prints it). */
export function formatMixed(r: MixedReport): string {
  return formatRunReport(r);
}

export function parseMixed(o: OptionValues, ctx?: RunContext): MixedOptions {
  const duration = ctx?.common.duration ?? numOpt('duration', o.duration, 0.001) ?? 20;
  return {
    durationMs: duration * 1000,
    rampMs: (ctx?.common.ramp ?? 0) * 1000,
    callers: numOpt('callers', o.callers, 1, { integer: true, max: 32 }) ?? 2,
    pagers: numOpt('pagers', o.pagers, 1, { integer: true, max: 32 }) ?? 2,
    seed: ctx?.common.seed ?? numOpt('seed', o.seed, 0, { integer: true }) ?? 1,
    cacheTimeoutMs: (numOpt('cache-timeout', o['cache-timeout'], 0.1, { max: 86_400 }) ?? 120) * 1000,
  };
}

registerScenario({
  name: 'mixed',
  description: 'the whole stack booting and working (~20 s): buffer-cache callers over BootCache, buf daemons, swap pagers on one disk (npm start)',
  options: {
    callers: { type: 'string', help: 'buffer-cache caller workers (default 2)', number: { min: 1, max: 32, integer: true } },
    pagers: { type: 'string', help: 'swap pager workers (default 2)', number: { min: 1, max: 32, integer: true } },
    'cache-timeout': { type: 'string', help: "BootCache's cache timeout: START ends the cache this long after (default 120, the seed's)", number: { min: 0.1, max: 86_400 }, arg: 'S' },
  },
  honours: ['seed', 'duration', 'ramp', 'device', 'device-file', 'trace', 'check', 'as-seed', 'workload'],
  refuses: {
    ops: 'the stack runs for --duration: its callers and pagers have no operation count',
    cpus: 'its load roles are set by --callers and --pagers',
  },
  run: (o, _progress, ctx) => {
    const opts = parseMixed(o, ctx);
    const plan = planWorkload(o, opts.callers);
    // A workload runs to its end unless --duration caps it.
    if (plan && ctx?.common.duration === undefined && o.duration === undefined) opts.durationMs = 3_600_000;
    return benchMixed(opts, ctx, plan);
  },
});
