/**
 * The BootCache as one cpu sees it: the extent table, blockmaps and page buffer in the arena,
 * history recording and the funnel; the strategy path built on it is in strategy.ts. One
 * instance per worker (`BootCache.of(sync)`); the main thread has its own (cpu -1), which never
 * sleeps and never takes the funnel.
 *
 * Locking modes. `funnel` is the reference: every strategy and reader path runs under one giant
 * sleep lock (kernel_flock), which a thread drops whenever it blocks (a sleep, a biowait, a
 * contended extent lock) and takes back afterwards, as thread_funnel_set does. `fine` is the later
 * BootCache: extent locks and atomic counters only. Counters are atomic in both modes.
 *
 * Drain order: a strategy caller counts itself in c_strategycalls *before* it tests
 * BC_FLAG_CACHEACTIVE (the reference relies on the funnel for this; the main-thread commands here
 * do not hold the funnel, so the order itself must be safe — RACES.md `bc-drain-order`).
 *
 * The hit path is hot (a 4 KiB hit costs about as much as copying it a few times): the fields it
 * touches are bound once (`Field`s: `c_*`, `t_*`, `s_*`, `p_*`), the blockmaps are tested and
 * cleared a word at a time, and nothing on it allocates.
 */
import type { Arena, Pool } from '../shm/arena.js';
import type { Field, StructView } from '../shm/view.js';
import { BioLayout, IoBufLayout } from '../device/buf.js';
import type { Devices } from '../device/disk.js';
import { assertLive, POISON } from '../sync/poison.js';
import { ContractError, ETIMEDOUT, KernelError } from '../sync/errno.js';
import { LockLayout } from '../sync/layouts.js';
import { PINTERLOCKED, type Sync } from '../sync/sync.js';
import {
  BCBlockmapLayout,
  BCControlLayout,
  type BCControlField,
  BCExtentLayout,
  type BCExtentField,
  BCHistClusterLayout,
  BCHistEntryLayout,
  BCPcpuStatsLayout,
  type BCPcpuStatsField,
  BCStatsLayout,
  type BCStatsField,
  BC_CALLS_MASK,
  BC_FLAG_CACHEACTIVE,
  CE_ABORTED,
  PAGE_SIZE,
  R_CLUSTERS,
  R_CONTROL,
  R_EXTENTS,
  R_HISTORY,
  R_PCPU,
  R_STATS,
  ceflagsToString,
} from './defs.js';
import { add_history } from './history.js';

/** What a freed page is filled with: a hit served from it would fail the oracle as corrupt. */
export const BC_POISON = 0xdeadbeef | 0;
/** One page of poison, copied over a freed page (a copy is about twice as fast as a fill here). */
const POISON_PAGE = new Uint8Array(new Int32Array(PAGE_SIZE / 4).fill(BC_POISON).buffer);

/** Poison `bytes` bytes of pages at `addr` (BC_free_pagebuffer: the whole buffer), a page at a time. */
export function poison_pages(arena: Arena, addr: number, bytes: number): void {
  for (let p = 0; p < bytes; p += PAGE_SIZE) arena.writeBytes(addr + p, bytes - p >= PAGE_SIZE ? POISON_PAGE : POISON_PAGE.subarray(0, bytes - p));
}

/** The longest a command waits for the funnel (ms). */
const FUNNEL_WAIT_MS = 30_000;

const attached = new WeakMap<Sync, BootCache>();
let lastSync: Sync | null = null;
let lastBc: BootCache | null = null;

/** Bits set in a 32-bit word. */
function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Mask of `n` (1..32) bits from bit `sh` of a blockmap word. */
function bits(sh: number, n: number): number {
  return n === 32 ? -1 : ((1 << n) - 1) << sh;
}

export class BootCache {
  readonly C: StructView<BCControlField>;
  readonly S: StructView<BCStatsField>;
  readonly E: StructView<BCExtentField>;
  readonly c: number;
  readonly st: number;
  readonly extents: Pool<BCExtentField>;
  readonly funnelMode: boolean;
  readonly funnelLk: number;
  readonly hlock: number;
  /** Messages the reference prints (message()); kept per cpu. */
  readonly messages: string[] = [];
  /** True while this cpu holds the funnel. */
  fheld = false;
  dev: Devices | null = null;
  /** Instrumentation points for the race lab (`sync.point`), by name id. */
  readonly pt: { strategyCounted: number; writeFound: number; readerDone: number; terminateSleep: number };
  /** The arena's words, for the race lab's scenarios; BootCache itself goes through its fields. */
  readonly i32: Int32Array;
  // The control words, tunables and counters the hot paths touch, bound once (addresses: c, st, pc).
  readonly c_flags: Field;
  readonly c_strategycalls: Field;
  readonly c_bypasscalls: Field;
  readonly c_dev: Field;
  readonly c_strategy: Field;
  readonly c_blocksize: Field;
  readonly c_gen: Field;
  readonly c_history: Field;
  readonly t_mem_mb: Field;
  /** c_history_bytes (i64, lo/hi words): plain under c_hlock. */
  readonly c_history_bytes: Field;
  readonly t_hist_entries: Field;
  readonly t_hist_maxclusters: Field;
  readonly s_strategy_calls: Field;
  readonly s_hit_blkmissing: Field;
  readonly s_strategy_duringio: Field;
  readonly s_history_clusters: Field;
  /** This cpu's line of the per-cpu counters (BCPcpuStatsLayout) and its fields: plain increments (`pcount`). */
  readonly pc: number;
  readonly p_extent_lookups: Field;
  readonly p_extent_hits: Field;
  readonly p_requested_blocks: Field;
  readonly p_hit_blocks: Field;
  readonly p_strategy_calls: Field;
  private readonly p_counted_shared: Field;
  private readonly p_pages_freed: Field;
  /** Poison each page BC_free_page gives back (the machine spec's `poison`): a page copy per freed page. */
  private readonly poisonFreed: boolean;
  private readonly P: StructView<BCPcpuStatsField>;
  private readonly pcpu: Pool<BCPcpuStatsField>;
  /** History clusters: the address of cluster 1 (numbered from 1, 0 is none), their fields; the entries' address and fields. */
  readonly hc_base: number;
  readonly hc_entries: Field;
  readonly hc_link: Field;
  readonly he_base: number;
  readonly he_offset_lo: Field;
  readonly he_offset_hi: Field;
  readonly he_length: Field;
  readonly he_flags: Field;
  /** History clusters the arena holds (the spec's historyReserveEntries; see defs.ts). */
  readonly hc_reserved: number;
  /** Address of history cluster `k` (from 1). */
  cluster(k: number): number {
    return this.hc_base + (k - 1) * BCHistClusterLayout.bytes;
  }
  /** Address of entry `j` of history cluster `k` (from 1), `per` entries a cluster (t_hist_entries). */
  entry(k: number, j: number, per: number): number {
    return this.he_base + ((k - 1) * per + j) * BCHistEntryLayout.bytes;
  }
  /** A blockmap word (BCBlockmapLayout): word k of the blockmap at `map` is at map + 4k. */
  readonly cb_word: Field;
  private readonly ce_flags: Field;
  /** The extent lock's owner word (ce_lock is a sync-layer lock; only its holder writes lk_owner). */
  private readonly lk_owner: Field;
  /** The request's buf and bio words the strategy path reads and writes (device layer layouts). */
  readonly bio_buf: Field;
  readonly b_cmd: Field;
  readonly b_bcount: Field;
  readonly b_data: Field;
  readonly b_resid: Field;
  private gen = -1;
  /** This cpu's copy of the (read-only while active) extent table: offsets, lengths, addresses. */
  n = 0;
  eoff = new Float64Array(0);
  elen = new Float64Array(0);
  eaddr = new Int32Array(0);
  edata = new Int32Array(0);
  emap = new Int32Array(0);
  bs = 512;
  /** Blocks per page (PAGE_SIZE / bs). */
  ppb = PAGE_SIZE / 512;

  /** This cpu's BootCache (the strategy routine asks on every request: the last answer is kept). */
  static of(sync: Sync): BootCache {
    if (sync === lastSync) return lastBc!;
    let bc = attached.get(sync);
    if (!bc) {
      bc = new BootCache(sync.arena, sync);
      attached.set(sync, bc);
    }
    lastSync = sync;
    lastBc = bc;
    return bc;
  }

  private constructor(
    readonly arena: Arena,
    readonly sync: Sync,
  ) {
    this.C = arena.view(BCControlLayout);
    this.S = arena.view(BCStatsLayout);
    this.E = arena.view(BCExtentLayout);
    this.c = arena.pool(R_CONTROL, BCControlLayout).addr(0);
    this.st = arena.pool(R_STATS, BCStatsLayout).addr(0);
    this.extents = arena.pool(R_EXTENTS, BCExtentLayout);
    this.i32 = arena.i32;
    const C = this.C;
    this.c_flags = C.field('c_flags');
    this.c_strategycalls = C.field('c_strategycalls');
    this.c_bypasscalls = C.field('c_bypasscalls');
    this.c_dev = C.field('c_dev');
    this.c_strategy = C.field('c_strategy');
    this.c_blocksize = C.field('c_blocksize');
    this.c_gen = C.field('c_gen');
    this.c_history = C.field('c_history');
    this.t_mem_mb = C.field('t_mem_mb');
    this.c_history_bytes = C.field64('c_history_bytes');
    this.t_hist_entries = C.field('t_hist_entries');
    this.t_hist_maxclusters = C.field('t_hist_maxclusters');
    this.poisonFreed = C.load(this.c, 't_poison') !== 0;
    const S = this.S;
    this.s_strategy_calls = S.field('ss_strategy_calls');
    this.s_hit_blkmissing = S.field('ss_hit_blkmissing');
    this.s_strategy_duringio = S.field('ss_strategy_duringio');
    this.s_history_clusters = S.field('ss_history_clusters');
    this.pcpu = arena.pool(R_PCPU, BCPcpuStatsLayout);
    this.pc = this.pcpu.addr(sync.cpu < 0 ? this.pcpu.count - 1 : sync.cpu);
    const P = arena.view(BCPcpuStatsLayout);
    this.P = P;
    this.p_extent_lookups = P.field('ss_extent_lookups');
    this.p_extent_hits = P.field('ss_extent_hits');
    this.p_requested_blocks = P.field('ss_requested_blocks');
    this.p_hit_blocks = P.field('ss_hit_blocks');
    this.p_strategy_calls = P.field('ss_strategy_calls');
    this.p_counted_shared = P.field('ps_counted_shared');
    this.p_pages_freed = P.field('ps_pages_freed');
    const clusters = arena.pool(R_CLUSTERS, BCHistClusterLayout);
    this.hc_base = clusters.addr(0);
    this.hc_reserved = clusters.count;
    const H = arena.view(BCHistClusterLayout);
    this.hc_entries = H.field('hc_entries');
    this.hc_link = H.field('hc_link');
    this.he_base = arena.region(R_HISTORY).offset;
    const HE = arena.view(BCHistEntryLayout);
    this.he_offset_lo = HE.field('he_offset_lo');
    this.he_offset_hi = HE.field('he_offset_hi');
    this.he_length = HE.field('he_length');
    this.he_flags = HE.field('he_flags');
    this.cb_word = arena.view(BCBlockmapLayout).field('cb_word');
    this.ce_flags = this.E.field('ce_flags');
    this.lk_owner = arena.view(LockLayout).field('lk_owner');
    const O = arena.view(BioLayout);
    const IB = arena.view(IoBufLayout);
    this.bio_buf = O.field('bio_buf');
    this.b_cmd = IB.field('b_cmd');
    this.b_bcount = IB.field('b_bcount');
    this.b_data = IB.field('b_data');
    this.b_resid = IB.field('b_resid');
    this.funnelMode = this.C.load(this.c, 't_funnel') === 1;
    this.funnelLk = this.C.addrOf(this.c, 'c_funnel');
    this.hlock = this.C.addrOf(this.c, 'c_hlock');
    this.pt = {
      strategyCounted: sync.intern('BC_strategy.counted'),
      writeFound: sync.intern('BC_handle_write.found'),
      readerDone: sync.intern('BC_reader.extent_done'),
      terminateSleep: sync.intern('BC_terminate.sleep'),
    };
  }

  get isMain(): boolean {
    return this.sync.cpu < 0;
  }
  cflags(): number {
    return this.c_flags.load(this.c);
  }
  setFlag(f: number): number {
    return this.c_flags.or(this.c, f);
  }
  clearFlag(f: number): number {
    return this.c_flags.and(this.c, ~f);
  }
  stat(f: BCStatsField, n = 1): void {
    this.S.add(this.st, f, n);
  }
  /** A per-cpu counter summed over every cpu (what BC_statistics' field of that name would hold). */
  pcpu_sum(f: BCPcpuStatsField): number {
    let n = 0;
    for (let k = 0; k < this.pcpu.count; k++) n += this.P.load(this.pcpu.addr(k), f);
    return n;
  }
  /**
   * Add `n` to this cpu's counter `f` (one of the `p_*` fields): only this cpu writes its line, so
   * a plain increment (STATS sums the lines racily: the fields are quiet, see defs.ts).
   */
  pcount(f: Field, n: number): void {
    f.set(this.pc, f.get(this.pc) + n);
  }
  /**
   * ss_strategy_calls++: this cpu's first call since BC_init_cache on the shared counter
   * (atomic), the others on its own line (plain). STATS adds both. Never sleeps.
   */
  count_strategy_call(): void {
    if (this.p_counted_shared.get(this.pc) !== 0) this.pcount(this.p_strategy_calls, 1);
    else {
      this.p_counted_shared.set(this.pc, 1);
      this.s_strategy_calls.add(this.st, 1);
    }
  }

  /** Pages given back by BC_free_page since BC_init_cache, over every cpu (kiolab's counter). */
  pages_freed(): number {
    return this.pcpu_sum('ps_pages_freed');
  }

  /** Zero every cpu's counters (BC_init_cache, nobody in the strategy path). */
  pcpu_clear(): void {
    this.arena.fillBytes(this.pcpu.addr(0), 0, this.pcpu.count * BCPcpuStatsLayout.bytes);
  }
  tun(f: BCControlField): number {
    return this.C.load(this.c, f);
  }
  ceFlags(i: number): number {
    return this.ce_flags.load(this.eaddr[i]);
  }
  setExtentFlag(i: number, f: number): void {
    this.ce_flags.or(this.eaddr[i], f);
  }
  ceLock(i: number): number {
    return this.eaddr[i] + BCExtentLayout.off.ce_lock * 4;
  }
  /**
   * ce_flags for a holder of the extent lock. Writers without the lock only add CE_ABORTED, and
   * they do it atomically, so the holder's read is a relaxed one (peek: the lock orders the rest).
   */
  ceFlagsLocked(i: number): number {
    return this.ce_flags.peek(this.eaddr[i]);
  }
  /** This cpu holds extent `i`'s lock (its owner word, which only the holder writes, names this cpu). */
  extentOwned(i: number): boolean {
    return this.lk_owner.get(this.ceLock(i)) === this.sync.cpu + 1;
  }

  /**
   * Use-after-free check: BC_free_pagebuffer poisons the extents it frees (all but the lock), so
   * a caller that was not counted in c_strategycalls when the cache was torn down finds its
   * extent poisoned (RACES.md `bc-drain-order`). Throws a ContractError naming the extent.
   */
  assertExtentLive(i: number): void {
    if (this.ce_flags.peek(this.eaddr[i]) === POISON) this.extentPoisoned(i);
  }
  private extentPoisoned(i: number): void {
    assertLive(this.arena, this.eaddr[i] + BCExtentLayout.off.ce_flags * 4, `BC_cache_extent ${i} (touched by cpu ${this.sync.cpu})`, 1);
  }

  /** Reload this cpu's copy of the extent table if BC_init_cache rebuilt it. */
  sync_extents(): void {
    // A plain read: c_gen changes only with the table, before CACHEACTIVE is set (BC_init_cache,
    // whose atomic flag the caller has read) or after the callers drained (BC_free_pagebuffer).
    const g = this.c_gen.get(this.c);
    if (g !== this.gen) this.reload_extents(g);
  }

  /** sync_extents' reload of generation `g` (rare: the lookup's inlined check stays small). */
  private reload_extents(g: number): void {
    this.gen = g;
    const n = this.C.load(this.c, 'c_extent_count');
    this.n = n;
    this.bs = this.C.load(this.c, 'c_blocksize') || 512;
    this.ppb = Math.max(1, PAGE_SIZE / this.bs);
    this.eoff = new Float64Array(n);
    this.elen = new Float64Array(n);
    this.eaddr = new Int32Array(n);
    this.edata = new Int32Array(n);
    this.emap = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const a = this.extents.addr(i);
      this.eaddr[i] = a;
      this.eoff[i] = this.E.load64(a, 'ce_offset');
      this.elen[i] = this.E.load64(a, 'ce_length');
      this.edata[i] = this.E.load(a, 'ce_data');
      this.emap[i] = this.E.load(a, 'ce_blockmap');
    }
  }

  // ------------------------------------------------------------- the funnel

  /** thread_funnel_set(kernel_flock, TRUE): returns the previous state. May sleep (takes the funnel). */
  funnel_enter(): boolean {
    const prev = this.fheld;
    if (this.funnelMode && !prev && !this.isMain) {
      this.sync.lock(this.funnelLk);
      this.fheld = true;
    }
    return prev;
  }

  /** thread_funnel_set(kernel_flock, prev). */
  funnel_exit(prev: boolean): void {
    if (this.fheld && !prev) {
      this.fheld = false;
      this.sync.unlock(this.funnelLk);
    }
  }

  /** Drop the funnel before blocking; returns whether it was held (give it to `funnel_reacquire`). */
  funnel_drop(): boolean {
    if (!this.fheld) return false;
    this.fheld = false;
    this.sync.unlock(this.funnelLk);
    return true;
  }
  funnel_reacquire(held: boolean): void {
    if (held) {
      this.sync.lock(this.funnelLk);
      this.fheld = true;
    }
  }

  /**
   * The main thread's thread_funnel_set(kernel_flock, TRUE), for the commands (BC_sysctl,
   * BC_timeout_cache run under the funnel in the seed): taken as a waiter of the lock, without
   * blocking the event loop. Returns the previous state. ETIMEDOUT when a holder never lets go.
   */
  async funnel_enter_async(): Promise<boolean> {
    const prev = this.fheld;
    if (this.funnelMode && !prev) await this.funnel_reacquire_async(true);
    return prev;
  }
  async funnel_reacquire_async(held: boolean): Promise<void> {
    if (!held) return;
    if ((await this.sync.lock_async(this.funnelLk, FUNNEL_WAIT_MS)) !== 0) {
      throw new KernelError(ETIMEDOUT, `BootCache: kernel_flock (the funnel) still held after ${FUNNEL_WAIT_MS / 1000} s (its holder is stuck or gone)`);
    }
    this.fheld = true;
  }

  /**
   * A wakeup the seed does not do, made in fine mode only: fine locking is kiolab's, and there
   * these wakeups end a drain or an aborted extent's sleep at once instead of at the next slice.
   * In funnel mode (the seed) those sleepers poll, as in kext.c.
   */
  fine_wakeup(ident: number): void {
    if (!this.funnelMode) this.sync.wakeup(ident);
  }

  /** LOCK_EXTENT: a contended extent lock blocks, so the funnel is dropped across it. May sleep. */
  LOCK_EXTENT(i: number): void {
    const lk = this.ceLock(i);
    if (this.sync.trylock(lk)) return;
    const held = this.funnel_drop();
    this.sync.lock(lk);
    this.funnel_reacquire(held);
  }
  TRY_LOCK_EXTENT(i: number): boolean {
    return this.sync.trylock(this.ceLock(i));
  }
  UNLOCK_EXTENT(i: number): void {
    this.sync.unlock(this.ceLock(i));
  }

  /**
   * msleep(ce, &ce->ce_lock, ...), dropping the funnel too; returns 0 at once when the extent has
   * any of the flags `until` once interlocked. Entry and exit: the extent lock held. May sleep.
   */
  msleep_extent(i: number, wmesg: string, ms: number, until = 0): number {
    const s = this.sync;
    const ident = this.eaddr[i];
    s.tsleep_interlock(ident);
    // Recheck after the interlock: BC_handle_write sets CE_ABORTED (and wakes) without the extent
    // lock when its try-lock fails, so a test made under the lock alone can miss that wakeup
    // (found by the race lab's bc-write scenario).
    if (this.ceFlags(i) & until) {
      s.tsleep_remove();
      return 0;
    }
    s.unlock(this.ceLock(i));
    const held = this.funnel_drop();
    const r = s.tsleep(ident, PINTERLOCKED, wmesg, ms);
    // The funnel first, then the extent lock (dropping the funnel again if that one is busy):
    // xnu gives a thread its funnel back as it resumes, before msleep retakes the mutex.
    this.funnel_reacquire(held);
    this.LOCK_EXTENT(i);
    return r;
  }

  // ------------------------------------------------------------- extents and blockmaps

  static check_intersection(eoff: number, elen: number, offset: number, length: number): boolean {
    return offset < eoff + elen && offset + length > eoff;
  }
  /**
   * BC_find_extent: index of an extent intersecting (or, with `contained`, containing) the range,
   * or -1. Binary search over the sorted table. Caller is counted in c_strategycalls (which keeps
   * the extents from being freed under it).
   */
  BC_find_extent(offset: number, length: number, contained: boolean): number {
    // The reference's second look at CACHEACTIVE (the strategy path tested it atomically after
    // counting itself, which ordered the extent table before us): a relaxed read, since other
    // bits of the word change atomically under other locks meanwhile.
    if (!(this.c_flags.peek(this.c) & BC_FLAG_CACHEACTIVE)) return -1;
    this.sync_extents();
    const n = this.n;
    if (n === 0) return -1;
    const eoff = this.eoff;
    const elen = this.elen;
    if (offset + length <= eoff[0] || offset >= eoff[n - 1] + elen[n - 1]) return -1;
    let base = 0;
    for (let lim = n; lim !== 0; lim >>= 1) {
      const p = base + (lim >> 1);
      if (BootCache.check_intersection(eoff[p], elen[p], offset, length)) {
        if (contained && (offset < eoff[p] || offset + length > eoff[p] + elen[p])) return -1;
        return p;
      }
      if (offset > eoff[p]) {
        base = p + 1;
        lim--;
      }
    }
    return -1;
  }

  /** CB_BLOCK_PRESENT. Extent lock held. */
  private present(i: number, blk: number): boolean {
    return (this.cb_word.get(this.emap[i] + ((blk >>> 5) << 2)) & (1 << (blk & 31))) !== 0;
  }

  /**
   * BC_discard_blocks: mark the blocks of [offset, offset+length) vacant in extent `i` and free
   * every page left without a block. Returns how many blocks it discarded (0: no overlap, or
   * the extent is aborted). Entry and exit: the extent lock held. Never sleeps.
   *
   * A blockmap word at a time: the present blocks of the range are cleared at once, and a page
   * (ppb bits of the same word) is freed when it lost blocks and has none left — exactly the
   * pages the reference's block-by-block loop frees.
   */
  BC_discard_blocks(i: number, offset: number, length: number): number {
    if (!this.extentOwned(i)) this.notOwned('BC_discard_blocks', i);
    if (this.ceFlagsLocked(i) & CE_ABORTED) return 0;
    const estart = this.eoff[i];
    const eend = estart + this.elen[i];
    let dstart = offset;
    let dend = offset + length;
    if (dend <= estart || eend <= dstart) return 0;
    if (dstart < estart) dstart = estart;
    if (dend > eend) dend = eend;
    const bs = this.bs;
    const first = Math.floor((dstart - estart) / bs);
    const end = first + Math.floor((dend - dstart) / bs);
    const map = this.emap[i];
    const ppb = this.ppb;
    const pmask = bits(0, ppb);
    const cb = this.cb_word;
    let discarded = 0;
    for (let b = first; b < end; ) {
      const sh = b & 31;
      const n = Math.min(32 - sh, end - b);
      const w = map + ((b >>> 5) << 2);
      const old = cb.get(w);
      const gone = old & bits(sh, n);
      if (gone !== 0) {
        const now = old & ~gone;
        cb.set(w, now);
        discarded += popcount32(gone);
        for (let p = sh - (sh % ppb); p < sh + n; p += ppb) {
          const pm = pmask << p;
          if ((gone & pm) !== 0 && (now & pm) === 0) this.BC_free_page(i, ((b - sh + p) / ppb) | 0);
        }
      }
      b += n;
    }
    return discarded;
  }

  private notOwned(fn: string, i: number): never {
    throw new ContractError(`${fn}: extent ${i} (${ceflagsToString(this.ceFlags(i))}) is not locked by cpu ${this.sync.cpu}`);
  }

  /** BC_free_page: give page `page` of extent `i` back (poisoned when the spec asks, so a stale use shows). Extent lock held. */
  BC_free_page(i: number, page: number): void {
    if (this.poisonFreed) this.arena.writeBytes(this.edata[i] + page * PAGE_SIZE, POISON_PAGE);
    this.pcount(this.p_pages_freed, 1);
  }

  /** BC_next_valid_block_range: first run of present blocks at or after `from`: [next, bytes], next -1 if none. Extent lock held. */
  BC_next_valid_block_range(i: number, from: number): [number, number] {
    const nblks = Math.ceil(this.elen[i] / this.bs);
    let next = -1;
    let nfound = 0;
    for (let b = from; b < nblks; b++) {
      if (this.present(i, b)) {
        if (nfound === 0) next = b;
        nfound++;
      } else if (nfound !== 0) break;
    }
    return [next, nfound * this.bs];
  }

  /** BC_blocks_present: all of [base, base+nblk) present? Counts ss_hit_blkmissing. Extent lock held. */
  BC_blocks_present(i: number, base: number, nblk: number): boolean {
    const map = this.emap[i];
    const cb = this.cb_word;
    const end = base + nblk;
    for (let b = base; b < end; ) {
      const sh = b & 31;
      const n = Math.min(32 - sh, end - b);
      const m = bits(sh, n);
      if ((cb.get(map + ((b >>> 5) << 2)) & m) !== m) {
        this.s_hit_blkmissing.add(this.st, 1);
        return false;
      }
      b += n;
    }
    return true;
  }

  /** Count the blocks still present in extent `i` (ss_spurious_blocks at teardown). */
  presentCount(i: number): number {
    const nblks = Math.ceil(this.elen[i] / this.bs);
    const map = this.emap[i];
    let n = 0;
    for (let b = 0; b < nblks; b += 32) n += popcount32(this.cb_word.get(map + ((b >>> 5) << 2)) & bits(0, Math.min(32, nblks - b)));
    return n;
  }

  // ------------------------------------------------------------- history

  /** BC_add_history (history.ts): record a request. Takes c_hlock; never sleeps. */
  BC_add_history(offset: number, length: number, flags: number): void {
    add_history(this, offset, length, flags);
  }

  /** message(): what the reference prints, kept per cpu (the first 100). */
  message(m: string): void {
    if (this.messages.length < 100) this.messages.push(m);
  }

  /** Count this caller in c_bypasscalls, then leave c_strategycalls: a terminator never sees it in neither. */
  enter_bypass(): void {
    this.c_bypasscalls.add(this.c, 1);
    this.strategy_done();
  }

  /** Leave BC_strategy's count (c_strategycalls). Never sleeps. */
  strategy_done(): void {
    this.leave(this.c_strategycalls);
  }

  /** Leave BC_strategy_bypass's count (c_bypasscalls). Never sleeps. */
  bypass_done(): void {
    this.leave(this.c_bypasscalls);
  }

  /**
   * Leave the count `f` (c_strategycalls or c_bypasscalls): the last caller out wakes the
   * fine-mode drains asleep on it (kiolab's wakeup), which its one atomic operation tells it of
   * (BC_DRAIN_WAITER). Never sleeps.
   */
  private leave(f: Field): void {
    const old = f.sub(this.c, 1);
    if ((old & BC_CALLS_MASK) === 1 && old > BC_CALLS_MASK) this.fine_wakeup(this.c);
  }

  /** The callers inside count `f` (c_strategycalls or c_bypasscalls), without the drains' bits. */
  calls(f: 'c_strategycalls' | 'c_bypasscalls'): number {
    return this.C.load(this.c, f) & BC_CALLS_MASK;
  }
}
