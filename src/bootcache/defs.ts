/**
 * BootCache definitions: the reference's constants (BootCache.h / BootCache.c), the shared
 * structs of the cache (BC_cache_control, BC_statistics, BC_cache_extent, BC_history_cluster),
 * the machine-spec part that configures it, and the planner/initializer of its arena regions.
 *
 * Units: every offset and length is in bytes on the device, as in the reference. Times are ms
 * (the reference's seconds and hz ticks become tunables in ms).
 */
import type { Arena, ArenaPlan } from '../shm/arena.js';
import { defineStruct } from '../shm/layout.js';
import { LK_MTX, LK_SPIN, LockLayout } from '../sync/layouts.js';
import type { Sync } from '../sync/sync.js';

/** Playlist header magic (ph_magic). */
export const PH_MAGIC = 0xa1b2c3d4;
/** Command magic (bc_magic). */
export const BC_MAGIC = 0x10102021;
/** Largest number of playlist entries (BC_MAXENTRIES). */
export const BC_MAXENTRIES = 100000;
/** The page size of the cache's page buffer (PAGE_SIZE); a device block must not be larger. */
export const PAGE_SIZE = 4096;
/** Maximum read size of the reader (BC_MAX_READ). */
export const BC_MAX_READ = 64 * 1024;
/** Batches whose sizes and times are counted separately (STAT_BATCHMAX). */
export const STAT_BATCHMAX = 16;
/** Bits of a blockmap word (CB_MAPFIELDBITS). */
export const CB_MAPFIELDBITS = 32;

/** ce_flags: the low 8 bits are the batch. */
export const CE_BATCH_MASK = 0xff;
export const CE_ABORTED = 1 << 9;
export const CE_IODONE = 1 << 10;

/** c_flags */
export const BC_FLAG_SHUTDOWN = 1 << 0;
export const BC_FLAG_CACHEACTIVE = 1 << 1;
export const BC_FLAG_HTRUNCATED = 1 << 2;
export const BC_FLAG_IOBUSY = 1 << 3;
export const BC_FLAG_STARTED = 1 << 4;
/** The seed's c_flags bits (what STATS reports as ss_cache_flags); the rest are kiolab's. */
export const BC_SEED_FLAGS = BC_FLAG_SHUTDOWN | BC_FLAG_CACHEACTIVE | BC_FLAG_HTRUNCATED | BC_FLAG_IOBUSY | BC_FLAG_STARTED;
/** kiolab: history recording is on (cleared by BC_terminate_history once the bypasses drained). */
export const BC_FLAG_RECORDING = 1 << 5;
/** kiolab: BC_terminate_cache is tearing the extents down. */
export const BC_FLAG_TEARDOWN = 1 << 6;

/**
 * c_strategycalls and c_bypasscalls: the callers inside, in the low bits (the seed's counts);
 * above them, kiolab's count of fine-mode drains asleep on the word (BC_DRAIN_WAITER each). The
 * caller leaving sees both in the one atomic it leaves with, so it wakes the drain when it is the
 * last one out and someone waits, and pays no wakeup otherwise (funnel mode, like the seed, wakes
 * nobody: its drains poll).
 */
export const BC_CALLS_MASK = (1 << 24) - 1;
export const BC_DRAIN_WAITER = 1 << 24;

/** he_flags */
export const BC_HE_HIT = 0;
export const BC_HE_MISS = 1;
export const BC_HE_TAG = 2;
export const BC_HE_WRITE = 3;
export const HE_NAMES = ['hit', 'miss', 'tag', 'write'] as const;

/** bc_opcode */
export const BC_OP_START = 1;
export const BC_OP_STOP = 2;
export const BC_OP_HISTORY = 3;
export const BC_OP_STATS = 4;
export const BC_OP_TAG = 5;

/** Entries per history cluster: ((BC_HISTORY_ALLOC - sizeof cluster) / sizeof entry) - 1 with 16000, 16, 24. */
export const BC_HISTORY_ENTRIES = Math.floor((16000 - 16) / 24) - 1;
export const BC_HISTORY_MAXCLUSTERS = Math.floor(BC_MAXENTRIES / BC_HISTORY_ENTRIES) + 1;

const FLAG_NAMES: [number, string][] = [
  [BC_FLAG_SHUTDOWN, 'SHUTDOWN'],
  [BC_FLAG_CACHEACTIVE, 'CACHEACTIVE'],
  [BC_FLAG_HTRUNCATED, 'HTRUNCATED'],
  [BC_FLAG_IOBUSY, 'IOBUSY'],
  [BC_FLAG_STARTED, 'STARTED'],
  [BC_FLAG_RECORDING, 'RECORDING'],
  [BC_FLAG_TEARDOWN, 'TEARDOWN'],
];

/** `CACHEACTIVE|IOBUSY` rendering of c_flags. */
export function cflagsToString(f: number): string {
  const out = FLAG_NAMES.filter(([b]) => f & b).map(([, n]) => n);
  return out.length ? out.join('|') : '0';
}

/** `batch 2|CE_IODONE` rendering of ce_flags. */
export function ceflagsToString(f: number): string {
  const out = [`batch ${f & CE_BATCH_MASK}`];
  if (f & CE_ABORTED) out.push('CE_ABORTED');
  if (f & CE_IODONE) out.push('CE_IODONE');
  return out.join('|');
}

/** BootCache configuration in the machine spec (`spec.bootcache`). Every timeout is a tunable. */
export interface BootCacheSpec {
  /** The device covered (index or name); the root device, unit 0, by default. */
  device?: number | string;
  /** Extents the arena has room for (playlist entries at most). Default 4096. */
  maxExtents?: number;
  /** Bytes of the page buffer in the arena. Default 16 MiB. */
  bufferBytes?: number;
  /** Configured physical memory (mem_size), MiB. Default 1024. */
  memSizeMB?: number;
  /** BC_minimum_mem_size, MiB. Default 256. */
  minimumMemMB?: number;
  /** BC_wait_for_readahead, ms. Default 10 000. */
  waitForReadaheadMs?: number;
  /** The strategy's sleep slice while it waits for an extent (1/10 s). Default 100. */
  strategySliceMs?: number;
  /** BC_chit_check_start: lookups before the hit rate is watched. Default 500. */
  chitCheckStart?: number;
  /** BC_chit_low_level: percent. Default 50. */
  chitLowLevel?: number;
  /** BC_cache_timeout, ms. Default 120 000. */
  cacheTimeoutMs?: number;
  /** BC_MAX_READ, bytes (a multiple of the device block size). Default 65536. */
  maxRead?: number;
  /** How long BC_terminate_readahead waits for the reader (hz * 10). Default 10 000. */
  terminateReadaheadMs?: number;
  /** The drains' sleep slice (hz / 10). Default 100. */
  drainSliceMs?: number;
  /** The drains' retries before EBUSY (50). */
  drainRetries?: number;
  /** Entries per history cluster (BC_HISTORY_ENTRIES). */
  historyClusterEntries?: number;
  /** BC_HISTORY_MAXCLUSTERS. */
  historyMaxClusters?: number;
  /**
   * History entries the arena reserves room for. The seed allocates its clusters on demand (up to
   * BC_HISTORY_MAXCLUSTERS); kiolab's arena cannot grow, so it reserves them when the machine is
   * built: enough clusters for this many entries, at most historyMaxClusters. Default: all of
   * them (1.5 MiB). A scenario that knows how many requests it can record (a boot replayed once
   * records at most one entry a request) passes that count; recording past it is a ContractError.
   */
  historyReserveEntries?: number;
  /** `funnel`: one giant sleep lock over strategy and reader, dropped across sleeps; `fine`: extent locks and atomics. */
  locking?: 'funnel' | 'fine';
  /** Bytes of per-cpu request buffers for the caller roles. Default 256 KiB. */
  callerSliceBytes?: number;
}

export type ResolvedBootCache = Required<Omit<BootCacheSpec, 'device'>> & { device: number | string };

/**
 * History clusters the arena reserves: enough for historyReserveEntries plus one of slack (for
 * TAGs a user adds from the control side), never more than the seed could allocate
 * (historyMaxClusters - 1, as its `>=` test stops there; at least 1 so that the pool exists).
 */
export function historyReserveClusters(r: ResolvedBootCache): number {
  const most = Math.max(1, r.historyMaxClusters - 1);
  return Math.min(most, Math.ceil(r.historyReserveEntries / r.historyClusterEntries) + 1);
}

function check(cond: boolean, what: string, v: unknown): void {
  if (!cond) throw new RangeError(`bootcache: ${what}, got ${JSON.stringify(v)}`);
}

/** Options → resolved options, each validated with its name and the bad value. */
export function resolveBootCache(s: BootCacheSpec): ResolvedBootCache {
  if (typeof s !== 'object' || s === null) throw new TypeError(`bootcache: the spec must be an object, got ${JSON.stringify(s)}`);
  const r: ResolvedBootCache = {
    device: s.device ?? 0,
    maxExtents: s.maxExtents ?? 4096,
    bufferBytes: s.bufferBytes ?? 16 * 1024 * 1024,
    memSizeMB: s.memSizeMB ?? 1024,
    minimumMemMB: s.minimumMemMB ?? 256,
    waitForReadaheadMs: s.waitForReadaheadMs ?? 10_000,
    strategySliceMs: s.strategySliceMs ?? 100,
    chitCheckStart: s.chitCheckStart ?? 500,
    chitLowLevel: s.chitLowLevel ?? 50,
    cacheTimeoutMs: s.cacheTimeoutMs ?? 120_000,
    maxRead: s.maxRead ?? BC_MAX_READ,
    terminateReadaheadMs: s.terminateReadaheadMs ?? 10_000,
    drainSliceMs: s.drainSliceMs ?? 100,
    drainRetries: s.drainRetries ?? 50,
    historyClusterEntries: s.historyClusterEntries ?? BC_HISTORY_ENTRIES,
    historyMaxClusters: s.historyMaxClusters ?? BC_HISTORY_MAXCLUSTERS,
    historyReserveEntries: s.historyReserveEntries ?? (s.historyClusterEntries ?? BC_HISTORY_ENTRIES) * (s.historyMaxClusters ?? BC_HISTORY_MAXCLUSTERS),
    locking: s.locking ?? 'fine',
    callerSliceBytes: s.callerSliceBytes ?? 256 * 1024,
  };
  const posInt = (k: keyof ResolvedBootCache, min = 1) => check(Number.isInteger(r[k]) && (r[k] as number) >= min, `${k} must be an integer >= ${min}`, r[k]);
  for (const k of ['maxExtents', 'memSizeMB', 'historyClusterEntries', 'historyMaxClusters', 'maxRead', 'strategySliceMs', 'drainSliceMs'] as const) posInt(k);
  posInt('historyReserveEntries', 0);
  for (const k of ['minimumMemMB', 'waitForReadaheadMs', 'chitCheckStart', 'cacheTimeoutMs', 'terminateReadaheadMs', 'drainRetries'] as const) posInt(k, 0);
  check(Number.isInteger(r.bufferBytes) && r.bufferBytes >= PAGE_SIZE && r.bufferBytes % PAGE_SIZE === 0, `bufferBytes must be a positive multiple of ${PAGE_SIZE}`, r.bufferBytes);
  check(Number.isInteger(r.callerSliceBytes) && r.callerSliceBytes >= PAGE_SIZE && r.callerSliceBytes % PAGE_SIZE === 0, `callerSliceBytes must be a positive multiple of ${PAGE_SIZE}`, r.callerSliceBytes);
  check(Number.isInteger(r.chitLowLevel) && r.chitLowLevel >= 0 && r.chitLowLevel <= 100, 'chitLowLevel must be a percentage in [0, 100]', r.chitLowLevel);
  check(r.locking === 'funnel' || r.locking === 'fine', 'locking must be "funnel" or "fine"', r.locking);
  check(typeof r.device === 'string' || (Number.isInteger(r.device) && r.device >= 0), 'device must be a device index or name', r.device);
  return r;
}

/**
 * struct BC_cache_control (one). Protection:
 *  c_funnel          the kernel funnel (funnel mode): a sleep lock held through strategy and reader paths.
 *  c_hlock           spinlock: the history list (c_history, clusters, c_history_bytes, HTRUNCATED set).
 *  c_flags           atomic (or/and); BC_FLAG_*.
 *  c_strategycalls   atomic: callers inside BC_strategy (counted before CACHEACTIVE is tested),
 *                    BC_CALLS_MASK bits; BC_DRAIN_WAITER per fine-mode drain waiting above them.
 *  c_bypasscalls     atomic: callers inside BC_strategy_bypass; its drains as c_strategycalls.
 *  c_reader_go       atomic: bumped by BC_init_cache to start the reader (kernel_thread_start).
 *  c_gen             atomic: bumped each time the extent table is (re)built; workers reload on change.
 *  c_history, c_history_bytes  c_hlock (their own line: every hit writes them).
 *  the rest          written by BC_init_cache on the main thread before CACHEACTIVE is set; read-only after.
 *  t_*               tunables copied from the spec at initialization.
 */
export const BCControlLayout = defineStruct(
  'BC_cache_control',
  {
    c_funnel: { struct: LockLayout },
    c_hlock: { struct: LockLayout },
    c_flags: { line: 'i32' },
    c_strategycalls: { line: 'i32' },
    c_bypasscalls: { line: 'i32' },
    c_reader_go: { line: 'i32' },
    c_gen: { line: 'i32' },
    c_dev: 'i32',
    c_strategy: 'i32',
    c_self: 'i32',
    c_blocksize: 'i32',
    c_devsize: 'i64',
    c_extent_count: 'i32',
    c_batch_count: 'i32',
    c_buffer: 'i32',
    c_mapsize: 'i32',
    c_history: { line: 'i32' },
    c_history_bytes: 'i64',
    t_funnel: { line: 'i32' },
    t_wait_ms: 'i32',
    t_slice_ms: 'i32',
    t_chit_check_start: 'i32',
    t_chit_low_level: 'i32',
    t_max_read: 'i32',
    t_poison: 'i32', // kiolab: poison freed pages (the machine spec's `poison`: race lab, --check)
    t_terminate_ms: 'i32',
    t_drain_slice_ms: 'i32',
    t_drain_retries: 'i32',
    t_hist_entries: 'i32',
    t_hist_maxclusters: 'i32',
    t_mem_mb: 'i32',
    t_min_mem_mb: 'i32',
    t_max_extents: 'i32',
    t_buffer_bytes: 'i32',
  },
  { align: 64 },
);
export type BCControlField = keyof typeof BCControlLayout.off;

/**
 * struct BC_statistics: every counter atomic (the funnel protects them in the kernel). Times in
 * ms since the arena epoch. The strategy path's counters share one line: every caller writes
 * all of them, so one line moving between cpus per request beats five; the reader's start a
 * line of their own.
 */
export const BCStatsLayout = defineStruct(
  'BC_statistics',
  {
    ss_strategy_calls: { line: 'i32' },
    ss_extent_lookups: 'i32',
    ss_extent_hits: 'i32',
    ss_requested_blocks: 'i32',
    ss_hit_blocks: 'i32',
    ss_strategy_bypassed: 'i32',
    ss_strategy_bypass_active: 'i32',
    ss_strategy_nonread: 'i32',
    ss_strategy_blocked: 'i32',
    ss_strategy_duringio: 'i32',
    ss_hit_blkmissing: 'i32',
    ss_write_discards: 'i32',
    ss_wait_time: 'i64',
    ss_blocksize: { line: 'i32' },
    ss_initiated_reads: 'i32',
    ss_read_blocks: 'i32',
    ss_read_errors: 'i32',
    ss_error_discards: 'i32',
    ss_spurious_blocks: 'i32',
    ss_total_extents: 'i32',
    ss_history_clusters: 'i32',
    ss_cache_flags: 'i32',
    ss_cache_stop: 'i32',
    ss_batch_size: { i32: STAT_BATCHMAX, line: true },
    ss_batch_time: { i32: STAT_BATCHMAX + 1, line: true },
  },
  { align: 64 },
);
export type BCStatsField = keyof typeof BCStatsLayout.off;

/**
 * kiolab: the hit path's counters kept per cpu (one line each, the main thread's last), so that
 * a hit counts them with plain increments instead of atomics on a line every caller writes.
 * Written only by their cpu; STATS and the hit-rate cutoff read the sum (BootCache.pcpu_sum)
 * plus the BC_statistics field of the same name. ss_strategy_calls is split: each cpu's first
 * call goes to the shared counter (so a reader of BC_statistics alone sees that BootCache is in
 * use), the rest to its own line; the sum is exact.
 */
export const BCPcpuStatsLayout = defineStruct(
  'BC_pcpu_statistics',
  {
    ss_extent_lookups: { line: 'i32' },
    ss_extent_hits: 'i32',
    ss_requested_blocks: 'i32',
    ss_hit_blocks: 'i32',
    ss_strategy_calls: 'i32',
    /** kiolab: pages this cpu gave back (BC_free_page); BootCache.pages_freed() sums them. */
    ps_pages_freed: 'i32',
    /** 1 once this cpu's first strategy call went to the shared ss_strategy_calls (see BootCache.count_strategy_call). */
    ps_counted_shared: 'i32',
  },
  // Statistics: each cpu adds to its own line with plain writes and STATS sums the lines racily,
  // as the kernel's per-cpu counters are; nothing decides on them, so they are no scheduling
  // points and no data-race detector input (layout.ts, quiet).
  { align: 64, quiet: ['ss_extent_lookups', 'ss_extent_hits', 'ss_requested_blocks', 'ss_hit_blocks', 'ss_strategy_calls', 'ps_pages_freed'] },
);
export type BCPcpuStatsField = keyof typeof BCPcpuStatsLayout.off;
/** The per-cpu counters that stand in for (or add to) the BC_statistics field of the same name. */
export const PCPU_STATS = ['ss_extent_lookups', 'ss_extent_hits', 'ss_requested_blocks', 'ss_hit_blocks', 'ss_strategy_calls'] as const;

/**
 * struct BC_cache_extent. ce_lock protects ce_flags changes that readers test with it held and
 * the extent's blockmap words and data pages. ce_flags: atomic or (SET_EXTENT_FLAG). The rest is
 * written by BC_init_cache before the cache is active and read-only after.
 *  ce_data      arena byte address of the extent's pages (page-aligned), 0 when none.
 *  ce_blockmap  arena byte address of its blockmap words.
 */
export const BCExtentLayout = defineStruct(
  'BC_cache_extent',
  {
    ce_lock: { struct: LockLayout },
    ce_flags: { line: 'i32' },
    ce_offset: 'i64',
    ce_length: 'i64',
    ce_data: 'i32',
    ce_blockmap: 'i32',
  },
  { align: 64 },
);
export type BCExtentField = keyof typeof BCExtentLayout.off;

/** struct BC_history_cluster header; its entries live in `bootcache.history` (BCHistEntryLayout). */
export const BCHistClusterLayout = defineStruct('BC_history_cluster', { hc_link: 'i32', hc_entries: 'i32' }, { align: 8 });

/**
 * struct BC_history_entry: he_offset (its lo/hi words), he_length, he_flags. Cluster k (from 1)
 * owns entries [(k - 1) * t_hist_entries, k * t_hist_entries) of `bootcache.history`; c_hlock
 * protects them.
 */
export const BCHistEntryLayout = defineStruct('BC_history_entry', { he_offset_lo: 'i32', he_offset_hi: 'i32', he_length: 'i32', he_flags: 'i32' });
export type BCHistEntryField = keyof typeof BCHistEntryLayout.off;
export const HE_WORDS = BCHistEntryLayout.words;

/**
 * One word of an extent's blockmap: CB_MAPFIELDBITS blocks, a bit each (CB_BLOCK_PRESENT). A
 * blockmap is an array of these words in `bootcache.blockmaps`, 4 bytes apart: word k of the
 * blockmap at ce_blockmap is at ce_blockmap + 4k. The extent's ce_lock protects them.
 */
export const BCBlockmapLayout = defineStruct('BC_blockmap', { cb_word: 'i32' });

/** Region names. */
export const R_CONTROL = 'bootcache.control';
export const R_STATS = 'bootcache.stats';
export const R_EXTENTS = 'bootcache.extents';
export const R_BLOCKMAPS = 'bootcache.blockmaps';
export const R_BUFFER = 'bootcache.buffer';
export const R_CLUSTERS = 'bootcache.clusters';
export const R_HISTORY = 'bootcache.history';
export const R_CALLERS = 'bootcache.callers';
export const R_PCPU = 'bootcache.pcpu';

/** Blockmap words the arena holds: one bit per 512-byte block of the buffer, plus rounding per extent. */
export function blockmapWords(r: ResolvedBootCache): number {
  return Math.ceil(r.bufferBytes / 512 / CB_MAPFIELDBITS) + r.maxExtents + 1;
}

export function planBootCache(plan: ArenaPlan, spec: { bootcache?: BootCacheSpec; ncpu: number }): void {
  if (!spec.bootcache) return;
  const r = resolveBootCache(spec.bootcache);
  plan.pool(R_CONTROL, BCControlLayout, 1);
  plan.pool(R_STATS, BCStatsLayout, 1);
  plan.pool(R_PCPU, BCPcpuStatsLayout, spec.ncpu + 1);
  plan.pool(R_EXTENTS, BCExtentLayout, r.maxExtents);
  plan.bytes(R_BLOCKMAPS, 4 * blockmapWords(r), 64);
  plan.bytes(R_BUFFER, r.bufferBytes, PAGE_SIZE, 'pages');
  const clusters = historyReserveClusters(r);
  plan.pool(R_CLUSTERS, BCHistClusterLayout, clusters);
  plan.bytes(R_HISTORY, 4 * HE_WORDS * r.historyClusterEntries * clusters, 64);
  plan.bytes(R_CALLERS, r.callerSliceBytes * (spec.ncpu + 1), PAGE_SIZE, 'pages'); // the callers' I/O buffers: data, not metadata
}

/** Main thread, once: locks, tunables and every extent lock (lck_mtx_init at setup time in the reference). */
export function initBootCache(arena: Arena, sync: Sync, spec: { bootcache?: BootCacheSpec; poison?: boolean }): void {
  if (!spec.bootcache) return;
  const r = resolveBootCache(spec.bootcache);
  const C = arena.view(BCControlLayout);
  const c = arena.pool(R_CONTROL, BCControlLayout).addr(0);
  sync.lock_init(C.addrOf(c, 'c_funnel'), 'kernel_flock', LK_MTX);
  sync.lock_init(C.addrOf(c, 'c_hlock'), 'BC_history', LK_SPIN);
  C.store(c, 't_funnel', r.locking === 'funnel' ? 1 : 0);
  C.store(c, 't_wait_ms', r.waitForReadaheadMs);
  C.store(c, 't_slice_ms', r.strategySliceMs);
  C.store(c, 't_chit_check_start', r.chitCheckStart);
  C.store(c, 't_chit_low_level', r.chitLowLevel);
  C.store(c, 't_max_read', r.maxRead);
  C.store(c, 't_poison', spec.poison ? 1 : 0);
  C.store(c, 't_terminate_ms', r.terminateReadaheadMs);
  C.store(c, 't_drain_slice_ms', r.drainSliceMs);
  C.store(c, 't_drain_retries', r.drainRetries);
  C.store(c, 't_hist_entries', r.historyClusterEntries);
  C.store(c, 't_hist_maxclusters', r.historyMaxClusters);
  C.store(c, 't_mem_mb', r.memSizeMB);
  C.store(c, 't_min_mem_mb', r.minimumMemMB);
  C.store(c, 't_max_extents', r.maxExtents);
  C.store(c, 't_buffer_bytes', r.bufferBytes);
  C.store(c, 'c_self', sync.intern('bootcache'));
  const E = arena.pool(R_EXTENTS, BCExtentLayout);
  for (let i = 0; i < r.maxExtents; i++) sync.lock_init(BCExtentLayout.addrOf(E.addr(i), 'ce_lock'), 'BC_extent', LK_MTX);
}
