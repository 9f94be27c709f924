/**
 * The command interface (BC_sysctl) on the main thread: START(playlist), STOP, HISTORY, STATS,
 * TAG(param), serialized with async-mutex as the kernel serializes them under the funnel. The
 * main thread never sleeps on a shared word: terminations are driven by `runAsync`.
 *
 * Errors are thrown as `KernelError` with the reference's errno: EBUSY (already running), ENOMEM
 * (too little memory, too many extents, buffer too small), EINVAL (bad magic/opcode, playlist
 * block size below the device's), ENXIO (no such device).
 */
import { Mutex } from 'async-mutex';
import { Devices } from '../device/disk.js';
import type { Arena } from '../shm/arena.js';
import { EBUSY, EINVAL, ENOMEM, ENXIO, KernelError } from '../sync/errno.js';
import type { Sync } from '../sync/sync.js';
import { BootCache } from './cache.js';
import {
  BCHistClusterLayout,
  BCStatsLayout,
  BC_CALLS_MASK,
  BC_FLAG_CACHEACTIVE,
  BC_FLAG_HTRUNCATED,
  BC_FLAG_IOBUSY,
  BC_FLAG_RECORDING,
  BC_FLAG_STARTED,
  BC_SEED_FLAGS,
  BC_FLAG_TEARDOWN,
  CE_ABORTED,
  CE_IODONE,
  ceflagsToString,
  BC_HE_TAG,
  BC_MAGIC,
  BC_OP_HISTORY,
  BC_OP_START,
  BC_OP_STATS,
  BC_OP_STOP,
  BC_OP_TAG,
  type BootCacheSpec,
  CB_MAPFIELDBITS,
  CE_BATCH_MASK,
  PAGE_SIZE,
  PCPU_STATS,
  R_BLOCKMAPS,
  R_BUFFER,
  R_CLUSTERS,
  STAT_BATCHMAX,
  cflagsToString,
  resolveBootCache,
} from './defs.js';
import type { BC_history_entry, Playlist } from './playlist.js';
import { BC_terminate_cache, BC_terminate_history, BC_terminate_readahead, runAsync } from './terminate.js';

/** sizeof(struct BC_history_entry) in the reference (two u_int64_t and an int, padded). */
export const BC_HISTORY_ENTRY_SIZE = 24;

export interface BC_command {
  bc_magic: number;
  bc_opcode: number;
  bc_param?: number;
  bc_data?: Playlist | null;
  /** HISTORY: room the caller has, bytes (ENOMEM when the history is larger); STATS: must be the statistics' size when given. */
  bc_length?: number;
}

/** sizeof(struct BC_statistics) as kiolab lays it out (what STATS's bc_length must say when given). */
export const BC_STATISTICS_SIZE = BCStatsLayout.bytes;

/** struct timeval. */
export interface timeval {
  tv_sec: number;
  tv_usec: number;
}

/** A timeval of `us` microseconds. */
export function timeval(us: number): timeval {
  const t = Math.max(0, Math.round(us));
  return { tv_sec: Math.floor(t / 1e6), tv_usec: t % 1e6 };
}

/** Microseconds of a timeval. */
export const timevalUs = (tv: timeval): number => tv.tv_sec * 1e6 + tv.tv_usec;

/** A timeval as a report shows it: seconds with six decimals. */
export const timevalString = (tv: timeval): string => `${tv.tv_sec}.${String(tv.tv_usec).padStart(6, '0')} s`;

/**
 * STATS as a report section: counters as they are, per-batch arrays joined with '/', timevals
 * as seconds, ss_cache_flags and kiolab_flags as their names with the hex value.
 */
export function statsSection(st: BC_statistics): Record<string, number | string> {
  const isTv = (v: unknown): v is timeval => typeof v === 'object' && v !== null && 'tv_sec' in v;
  const out: Record<string, number | string> = {};
  for (const [k, v] of Object.entries(st)) {
    if (k === 'ss_cache_flags' || k === 'kiolab_flags') out[k] = `${cflagsToString(v as number)} (0x${(v as number).toString(16)})`;
    else if (Array.isArray(v)) out[k] = (v as (number | timeval)[]).map((x) => (isTv(x) ? timevalString(x) : x)).join('/');
    else out[k] = isTv(v) ? timevalString(v) : (v as number);
  }
  return out;
}

/** STATS: struct BC_statistics under its field names, plus `kiolab_flags` (see readStats). */
export type BC_statistics = Record<string, number | number[] | timeval | timeval[]> & {
  ss_wait_time: timeval;
  ss_batch_time: timeval[];
  ss_cache_stop: timeval;
  ss_batch_size: number[];
  ss_cache_flags: number;
  kiolab_flags: number;
};

const roundup = (x: number, m: number) => Math.ceil(x / m) * m;

export class BootCacheControl {
  readonly bc: BootCache;
  readonly dev: Devices;
  readonly mutex = new Mutex();
  readonly unit: number;
  private timer: NodeJS.Timeout | null = null;
  private readonly cacheTimeoutMs: number;

  constructor(m: { arena: Arena; sync: Sync; spec: { bootcache?: BootCacheSpec; devices?: unknown[] } }) {
    if (!m.spec.bootcache) throw new KernelError(ENXIO, 'BootCache: the machine spec has no "bootcache" part');
    const r = resolveBootCache(m.spec.bootcache);
    this.dev = Devices.of(m.sync, m.spec as never);
    this.bc = BootCache.of(m.sync);
    this.bc.dev = this.dev;
    this.unit = typeof r.device === 'string' ? this.dev.unit(r.device) : r.device;
    if (this.unit >= this.dev.conf.length) throw new KernelError(ENXIO, `BootCache: no device ${this.unit} (the machine has ${this.dev.conf.length})`);
    this.cacheTimeoutMs = r.cacheTimeoutMs;
  }

  /**
   * Run a command as BC_sysctl (and BC_timeout_cache) does: one at a time (the command mutex),
   * and in funnel mode under kernel_flock, which the terminations drop across their waits.
   */
  private command<T>(fn: () => T | Promise<T>): Promise<T> {
    return this.mutex.runExclusive(async () => {
      const prev = await this.bc.funnel_enter_async();
      try {
        return await fn();
      } finally {
        this.bc.funnel_exit(prev);
      }
    });
  }

  /** BC_sysctl: validate the command and run it under the command mutex (and the funnel). */
  async sysctl(cmd: BC_command): Promise<unknown> {
    if (cmd.bc_magic !== BC_MAGIC) throw new KernelError(EINVAL, `BC_sysctl: bad command magic 0x${(cmd.bc_magic >>> 0).toString(16)}`);
    switch (cmd.bc_opcode) {
      case BC_OP_START:
        return this.start(cmd.bc_data ?? null);
      case BC_OP_STOP:
        return this.stop();
      case BC_OP_HISTORY:
        return this.history(cmd.bc_length);
      case BC_OP_STATS:
        if (cmd.bc_length !== undefined && cmd.bc_length !== BC_STATISTICS_SIZE) {
          throw new KernelError(ENOMEM, `BC_OP_STATS: stats structure wrong size (${cmd.bc_length}, expected ${BC_STATISTICS_SIZE})`);
        }
        return this.stats();
      case BC_OP_TAG:
        return this.tag(cmd.bc_param ?? 0);
      default:
        throw new KernelError(EINVAL, `BC_sysctl: unknown opcode ${cmd.bc_opcode}`);
    }
  }

  /** START: BC_init_cache, then the cache timeout and BC_FLAG_STARTED. */
  start(playlist: Playlist | null): Promise<{ extents: number; recordOnly: boolean }> {
    return this.command(() => {
      const r = this.BC_init_cache(playlist);
      this.timer = setTimeout(() => void this.command(() => this.BC_timeout_cache()), this.cacheTimeoutMs);
      this.timer.unref();
      this.bc.setFlag(BC_FLAG_STARTED);
      return r;
    });
  }

  /** STOP: cancel the timeout, terminate readahead, cache and history; the history size in bytes (0 when truncated). */
  stop(): Promise<{ bc_length: number; entries: number; errors: { readahead: number; cache: number; history: number } }> {
    return this.command(async () => {
      this.untimeout();
      const errors = await this.terminateAll();
      const entries = this.bc.cflags() & BC_FLAG_HTRUNCATED ? 0 : this.BC_size_history();
      return { bc_length: entries * BC_HISTORY_ENTRY_SIZE, entries, errors };
    });
  }

  /**
   * HISTORY: the entries in order, then release the history and clear every flag. ENOMEM when
   * `room` (bytes) is given and too small; EBUSY while the cache still records (kiolab: the
   * reference copies out regardless, racing the recorder).
   */
  history(room?: number): Promise<BC_history_entry[]> {
    return this.command(() => {
      const f = this.bc.cflags();
      if (f & (BC_FLAG_RECORDING | BC_FLAG_CACHEACTIVE | BC_FLAG_IOBUSY)) {
        throw new KernelError(EBUSY, `BC_OP_HISTORY: the cache is still running (${cflagsToString(f)}); STOP it first`);
      }
      const need = this.BC_size_history() * BC_HISTORY_ENTRY_SIZE;
      if (room !== undefined && room < need) throw new KernelError(ENOMEM, `BC_OP_HISTORY: supplied history buffer too small (${room} bytes, ${need} needed)`);
      const out = this.BC_copyout_history();
      this.bc.sync.spin_lock(this.bc.hlock);
      this.BC_discard_history();
      this.bc.C.store(this.bc.c, 'c_flags', 0);
      this.bc.sync.spin_unlock(this.bc.hlock);
      return out;
    });
  }

  /** STATS: the seed's statistics, complete (readStats). */
  stats(): Promise<BC_statistics> {
    return this.command(() => this.readStats());
  }

  /** TAG: a BC_HE_TAG history entry carrying `param`. */
  tag(param: number): Promise<void> {
    return this.command(() => this.bc.BC_add_history(param, 0, BC_HE_TAG));
  }

  /** Cancel the cache timeout (the machine's owner calls this when done). */
  untimeout(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /**
   * The statistics as the seed's STATS copies them out: every ss_* counter (the per-cpu ones
   * summed), ss_wait_time, ss_batch_time and ss_cache_stop as timevals (the times since the
   * machine's epoch, ms resolution), ss_cache_flags = c_flags with the seed's bits only; kiolab's
   * own flags (RECORDING, TEARDOWN) beside it as `kiolab_flags`.
   */
  readStats(): BC_statistics {
    const S = this.bc.S;
    const st = this.bc.st;
    const out = {} as BC_statistics;
    const ms = (t: number) => timeval(t * 1000);
    for (const f of Object.keys(BCStatsLayout.off) as (keyof typeof BCStatsLayout.off)[]) {
      if (f === 'ss_batch_size') out[f] = Array.from({ length: STAT_BATCHMAX }, (_, k) => S.loadAt(st, f, k));
      else if (f === 'ss_batch_time') out[f] = Array.from({ length: STAT_BATCHMAX + 1 }, (_, k) => ms(S.loadAt(st, f, k)));
      else if (f === 'ss_wait_time') out[f] = timeval(S.load64(st, f));
      else if (f === 'ss_cache_stop') out[f] = ms(S.load(st, f));
      else if ((PCPU_STATS as readonly string[]).includes(f)) out[f] = S.load(st, f) + this.bc.pcpu_sum(f as (typeof PCPU_STATS)[number]);
      else out[f] = S.load(st, f);
    }
    const f = this.bc.cflags();
    out.ss_cache_flags = f & BC_SEED_FLAGS;
    out.kiolab_flags = f & ~BC_SEED_FLAGS;
    return out;
  }

  /**
   * The invariants of RACES.md, checked from the main thread (any time; exact when no caller
   * runs): counts never negative, hits within lookups and within what was read, a stopped reader
   * left every extent done or aborted, an inactive cache owns no extents, history within bounds.
   * Returns the violations (empty when all hold).
   */
  checkInvariants(): string[] {
    const bc = this.bc;
    const C = bc.C;
    const c = bc.c;
    const s = this.readStats() as Record<string, number>;
    const out: string[] = [];
    const f = bc.cflags();
    for (const f of ['c_strategycalls', 'c_bypasscalls'] as const) {
      // A count that went below zero wraps into the drains' bits, or below zero altogether.
      const v = C.load(c, f);
      if (v < 0 || bc.calls(f) > BC_CALLS_MASK >> 1) out.push(`${f} is ${v < 0 ? v : `${bc.calls(f)} (${v})`}: it went below zero`);
    }
    if (s.ss_extent_hits > s.ss_extent_lookups) out.push(`ss_extent_hits ${s.ss_extent_hits} > ss_extent_lookups ${s.ss_extent_lookups}`);
    if (s.ss_hit_blocks > s.ss_read_blocks) out.push(`ss_hit_blocks ${s.ss_hit_blocks} > ss_read_blocks ${s.ss_read_blocks}`);
    bc.sync_extents();
    if (!(f & BC_FLAG_IOBUSY)) {
      for (let i = 0; i < bc.n; i++) {
        if (!(bc.ceFlags(i) & (CE_IODONE | CE_ABORTED))) out.push(`extent ${i} is ${ceflagsToString(bc.ceFlags(i))} with the reader stopped`);
      }
    }
    if (!(f & (BC_FLAG_CACHEACTIVE | BC_FLAG_TEARDOWN)) && C.load(c, 'c_extent_count') !== 0) out.push(`the cache is inactive (${cflagsToString(f)}) but owns ${C.load(c, 'c_extent_count')} extents`);
    if (s.ss_history_clusters >= C.load(c, 't_hist_maxclusters')) out.push(`ss_history_clusters ${s.ss_history_clusters} >= the limit ${C.load(c, 't_hist_maxclusters')}`);
    if (this.BC_size_history() > s.ss_history_clusters * C.load(c, 't_hist_entries')) out.push('more history entries than the clusters hold');
    return out;
  }

  private async terminateAll(): Promise<{ readahead: number; cache: number; history: number }> {
    const readahead = await runAsync(this.bc, BC_terminate_readahead(this.bc));
    const cache = await runAsync(this.bc, BC_terminate_cache(this.bc));
    const history = await runAsync(this.bc, BC_terminate_history(this.bc));
    return { readahead, cache, history };
  }

  /** BC_timeout_cache: release the cache but keep the history. */
  private async BC_timeout_cache(): Promise<void> {
    this.timer = null;
    await this.terminateAll();
  }

  /**
   * BC_init_cache + BC_copyin_playlist: refuse when running (EBUSY) or short of memory (ENOMEM);
   * set up extents, blockmaps and the page buffer; record-only when the cache would exceed half
   * of the configured memory; start the reader; take over the device's strategy; go active.
   */
  private BC_init_cache(pl: Playlist | null): { extents: number; recordOnly: boolean } {
    const bc = this.bc;
    const C = bc.C;
    const c = bc.c;
    if (C.load(c, 'c_flags') !== 0) throw new KernelError(EBUSY, `BC_init_cache: the cache is already running (${cflagsToString(C.load(c, 'c_flags'))})`);
    if (bc.calls('c_strategycalls') !== 0 || bc.calls('c_bypasscalls') !== 0) throw new KernelError(EBUSY, 'BC_init_cache: callers are still inside the previous cache');
    // bzero the control structure (not its locks and tunables) and the statistics.
    for (const f of ['c_extent_count', 'c_batch_count', 'c_buffer', 'c_mapsize', 'c_history'] as const) C.store(c, f, 0);
    C.store64(c, 'c_history_bytes', 0);
    const sr = bc.arena.pool('bootcache.stats', BCStatsLayout);
    bc.arena.fillBytes(sr.addr(0), 0, BCStatsLayout.bytes);
    bc.pcpu_clear();
    const mem = C.load(c, 't_mem_mb');
    if (mem < C.load(c, 't_min_mem_mb')) throw new KernelError(ENOMEM, `BC_init_cache: insufficient physical memory (${mem}MB < ${C.load(c, 't_min_mem_mb')}MB required)`);
    const d = this.dev.conf[this.unit];
    const bs = d.blockSize;
    if (bs > PAGE_SIZE) throw new KernelError(ENXIO, `BC_init_cache: device ${d.name} block size ${bs} is larger than a page (${PAGE_SIZE})`);
    C.store(c, 'c_dev', this.unit);
    C.store(c, 'c_blocksize', bs);
    C.store64(c, 'c_devsize', bs * d.blocks);
    bc.S.store(bc.st, 'ss_blocksize', bs);
    let recordOnly = false;
    let n = 0;
    if (pl && pl.entries.length > 0) {
      if (bs > pl.ph_blocksize) throw new KernelError(EINVAL, `BC_init_cache: playlist blocksize ${pl.ph_blocksize} not compatible with device ${d.name}'s ${bs}`);
      const r = this.BC_copyin_playlist(pl, bs, mem);
      n = r.n;
      recordOnly = r.recordOnly;
    }
    C.store(c, 'c_extent_count', n);
    C.add(c, 'c_gen', 1);
    bc.S.storeAt(bc.st, 'ss_batch_time', 0, bc.arena.now());
    // c_strategy = d_strategy first (the seed's order): a caller that enters BC_strategy as soon
    // as the routine is published must find the device's own routine to pass requests to.
    const old = this.dev.D.load(this.dev.disk(this.unit), 'd_strategy');
    if (old === C.load(c, 'c_self')) throw new KernelError(EBUSY, `BC_init_cache: device ${d.name} is already covered by BootCache`);
    C.store(c, 'c_strategy', old);
    if (n > 0) {
      bc.setFlag(BC_FLAG_IOBUSY);
      C.add(c, 'c_reader_go', 1);
      bc.sync.wakeup(C.addrOf(c, 'c_reader_go'));
    }
    this.dev.interpose(this.unit, 'bootcache', old);
    bc.setFlag(BC_FLAG_CACHEACTIVE | BC_FLAG_RECORDING);
    return { extents: n, recordOnly };
  }

  private BC_copyin_playlist(pl: Playlist, bs: number, memMB: number): { n: number; recordOnly: boolean } {
    const bc = this.bc;
    const C = bc.C;
    const c = bc.c;
    const n = pl.entries.length;
    if (n > C.load(c, 't_max_extents')) throw new KernelError(ENOMEM, `BC_copyin_playlist: can't allocate memory for ${n} extents (the arena holds ${C.load(c, 't_max_extents')})`);
    bc.S.store(bc.st, 'ss_total_extents', n);
    // BC_setup_extent's blockmaps (_MALLOC M_WAITOK | M_ZERO): here the arena's blockmap region.
    const mapWords = pl.entries.map((e) => Math.ceil(Math.ceil(e.pce_length / bs) / CB_MAPFIELDBITS));
    const room = bc.arena.region(R_BLOCKMAPS).bytes / 4;
    if (mapWords.reduce((a, w) => a + w, 0) > room) {
      bc.S.store(bc.st, 'ss_total_extents', 0);
      throw new KernelError(ENOMEM, `BC_setup_extent: can't allocate the blockmaps of ${n} extents (the arena holds ${room} blockmap words)`);
    }
    let size = 0;
    for (const e of pl.entries) size += roundup(e.pce_length, PAGE_SIZE);
    size = roundup(size, PAGE_SIZE * CB_MAPFIELDBITS);
    // The seed's record-only mode ("goto out" with error 0): the extents stay, with empty
    // blockmaps and no page buffer; the reader still runs through them (reading nothing), and
    // lookups find them and miss their blocks (ss_hit_blkmissing).
    const recordOnly = size > (memMB * 1024 * 1024) / 2;
    if (recordOnly) bc.message(`cache size (${size} bytes) too large for physical memory (${memMB * 1024 * 1024} bytes)`);
    else if (size > C.load(c, 't_buffer_bytes')) {
      bc.S.store(bc.st, 'ss_total_extents', 0);
      throw new KernelError(ENOMEM, `BC_alloc_pagebuffer: can't allocate ${size} bytes for cache buffer (the arena holds ${C.load(c, 't_buffer_bytes')})`);
    }
    const buffer = bc.arena.region(R_BUFFER).offset;
    let map = bc.arena.region(R_BLOCKMAPS).offset;
    const cb = bc.cb_word;
    let p = buffer;
    let batches = 0;
    pl.entries.forEach((e, i) => {
      const a = bc.extents.addr(i);
      const nblk = Math.ceil(e.pce_length / bs);
      const words = mapWords[i];
      bc.E.store64(a, 'ce_offset', e.pce_offset);
      bc.E.store64(a, 'ce_length', e.pce_length);
      bc.E.store(a, 'ce_flags', e.pce_batch & CE_BATCH_MASK);
      bc.E.store(a, 'ce_data', recordOnly ? 0 : p);
      bc.E.store(a, 'ce_blockmap', map);
      bc.arena.fillBytes(map, 0, 4 * words);
      if (!recordOnly) {
        for (let b = 0; b < nblk; b++) {
          const w = map + 4 * ((b / CB_MAPFIELDBITS) | 0);
          cb.set(w, cb.get(w) | (1 << b % CB_MAPFIELDBITS));
        }
      }
      batches = Math.max(batches, e.pce_batch & CE_BATCH_MASK);
      p += roundup(e.pce_length, PAGE_SIZE);
      map += 4 * words;
    });
    C.store(c, 'c_batch_count', batches);
    if (!recordOnly) {
      bc.arena.fillBytes(buffer, 0, size);
      C.store(c, 'c_buffer', buffer);
      C.store(c, 'c_mapsize', size);
    }
    return { n, recordOnly };
  }

  /** Clusters oldest first (the list is kept newest first through hc_link). */
  private clustersInOrder(): number[] {
    const H = this.bc.arena.view(BCHistClusterLayout);
    const pool = this.bc.arena.pool(R_CLUSTERS, BCHistClusterLayout);
    const order: number[] = [];
    for (let k = this.bc.C.load(this.bc.c, 'c_history'); k !== 0; k = H.load(pool.addr(k - 1), 'hc_link')) order.push(k);
    return order.reverse();
  }

  BC_size_history(): number {
    const H = this.bc.arena.view(BCHistClusterLayout);
    const pool = this.bc.arena.pool(R_CLUSTERS, BCHistClusterLayout);
    return this.clustersInOrder().reduce((s, k) => s + H.load(pool.addr(k - 1), 'hc_entries'), 0);
  }

  BC_copyout_history(): BC_history_entry[] {
    const bc = this.bc;
    const H = bc.arena.view(BCHistClusterLayout);
    const pool = bc.arena.pool(R_CLUSTERS, BCHistClusterLayout);
    const per = bc.C.load(bc.c, 't_hist_entries');
    const out: BC_history_entry[] = [];
    bc.sync.spin_lock(bc.hlock);
    try {
      for (const k of this.clustersInOrder()) {
        const n = H.load(pool.addr(k - 1), 'hc_entries');
        for (let j = 0; j < n; j++) {
          const he = bc.entry(k, j, per);
          out.push({ he_offset: (bc.he_offset_lo.get(he) >>> 0) + bc.he_offset_hi.get(he) * 4294967296, he_length: bc.he_length.get(he), he_flags: bc.he_flags.get(he) });
        }
      }
    } finally {
      bc.sync.spin_unlock(bc.hlock);
    }
    return out;
  }

  BC_discard_history(): void {
    this.bc.C.store(this.bc.c, 'c_history', 0);
  }
}
