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
 */
import type { Arena, Pool } from '../shm/arena.js';
import type { Field, StructView } from '../shm/view.js';
import type { Devices } from '../device/disk.js';
import { bugs } from '../race/switch.js';
import { ContractError } from '../sync/errno.js';
import { PINTERLOCKED, type Sync } from '../sync/sync.js';
import {
  BCControlLayout,
  type BCControlField,
  BCExtentLayout,
  type BCExtentField,
  BCHistClusterLayout,
  BCStatsLayout,
  type BCStatsField,
  BC_FLAG_CACHEACTIVE,
  BC_FLAG_HTRUNCATED,
  BC_FLAG_RECORDING,
  CB_MAPFIELDBITS,
  CE_ABORTED,
  HE_WORDS,
  PAGE_SIZE,
  R_CLUSTERS,
  R_CONTROL,
  R_EXTENTS,
  R_HISTORY,
  R_STATS,
  ceflagsToString,
} from './defs.js';

/** What a freed page is filled with: a hit served from it would fail the oracle as corrupt. */
export const BC_POISON = 0xdeadbeef | 0;

const attached = new WeakMap<Sync, BootCache>();

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
  readonly pt: { strategyCounted: number; writeFound: number; readerDone: number; terminateSleep: number; historyAlloc: number };
  private readonly i32: Int32Array;
  private readonly flags: Field;
  private readonly ce_flags: Field;
  private gen = -1;
  /** This cpu's copy of the (read-only while active) extent table: offsets, lengths, addresses. */
  n = 0;
  eoff = new Float64Array(0);
  elen = new Float64Array(0);
  eaddr = new Int32Array(0);
  edata = new Int32Array(0);
  emap = new Int32Array(0);
  bs = 512;

  static of(sync: Sync): BootCache {
    let bc = attached.get(sync);
    if (!bc) {
      bc = new BootCache(sync.arena, sync);
      attached.set(sync, bc);
    }
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
    this.flags = this.C.field('c_flags');
    this.ce_flags = this.E.field('ce_flags');
    this.funnelMode = this.C.load(this.c, 't_funnel') === 1;
    this.funnelLk = this.C.addrOf(this.c, 'c_funnel');
    this.hlock = this.C.addrOf(this.c, 'c_hlock');
    this.pt = {
      strategyCounted: sync.intern('BC_strategy.counted'),
      writeFound: sync.intern('BC_handle_write.found'),
      readerDone: sync.intern('BC_reader.extent_done'),
      terminateSleep: sync.intern('BC_terminate.sleep'),
      historyAlloc: sync.intern('BC_add_history.alloc'),
    };
  }

  get isMain(): boolean {
    return this.sync.cpu < 0;
  }
  cflags(): number {
    return this.flags.load(this.c);
  }
  setFlag(f: number): number {
    return this.flags.or(this.c, f);
  }
  clearFlag(f: number): number {
    return this.flags.and(this.c, ~f);
  }
  stat(f: BCStatsField, n = 1): void {
    this.S.add(this.st, f, n);
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

  /** Reload this cpu's copy of the extent table if BC_init_cache rebuilt it. */
  sync_extents(): void {
    const g = this.C.load(this.c, 'c_gen');
    if (g === this.gen) return;
    this.gen = g;
    const n = this.C.load(this.c, 'c_extent_count');
    this.n = n;
    this.bs = this.C.load(this.c, 'c_blocksize') || 512;
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
   * msleep(ce, &ce->ce_lock, ...), dropping the funnel too; returns 0 at once when `until()` holds
   * once interlocked. Entry and exit: the extent lock held. May sleep.
   */
  msleep_extent(i: number, wmesg: string, ms: number, until?: () => boolean): number {
    const s = this.sync;
    const ident = this.eaddr[i];
    s.tsleep_interlock(ident);
    // Recheck after the interlock: BC_handle_write sets CE_ABORTED (and wakes) without the extent
    // lock when its try-lock fails, so a test made under the lock alone can miss that wakeup
    // (found by the race lab's bc-write scenario).
    if (until?.()) {
      s.tsleep_remove();
      return 0;
    }
    s.unlock(this.ceLock(i));
    const held = this.funnel_drop();
    const r = s.tsleep(ident, PINTERLOCKED, wmesg, ms);
    s.lock(this.ceLock(i));
    this.funnel_reacquire(held);
    return r;
  }

  // ------------------------------------------------------------- extents and blockmaps

  static check_intersection(eoff: number, elen: number, offset: number, length: number): boolean {
    return offset < eoff + elen && offset + length > eoff;
  }

  /**
   * BC_find_extent: index of an extent intersecting (or, with `contained`, containing) the range,
   * or -1. Binary search over the sorted table. Caller is counted in c_strategycalls.
   */
  BC_find_extent(offset: number, length: number, contained: boolean): number {
    if (!(this.cflags() & BC_FLAG_CACHEACTIVE)) return -1;
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

  private present(i: number, blk: number): boolean {
    return (this.i32[(this.emap[i] >> 2) + ((blk / CB_MAPFIELDBITS) | 0)] & (1 << blk % CB_MAPFIELDBITS)) !== 0;
  }

  /**
   * BC_discard_blocks: mark the blocks of [offset, offset+length) vacant in extent `i` and free
   * every page left without a block. Returns how many blocks it discarded (0: no overlap, or
   * the extent is aborted). Entry and exit: the extent lock held. Never sleeps.
   */
  BC_discard_blocks(i: number, offset: number, length: number): number {
    if (!this.sync.lock_held(this.ceLock(i))) throw new ContractError(`BC_discard_blocks: extent ${i} (${ceflagsToString(this.ceFlags(i))}) is not locked by cpu ${this.sync.cpu}`);
    if (this.ceFlags(i) & CE_ABORTED) return 0;
    const estart = this.eoff[i];
    const eend = estart + this.elen[i];
    let dstart = offset;
    let dend = offset + length;
    if (dend <= estart || eend <= dstart) return 0;
    if (dstart < estart) dstart = estart;
    if (dend > eend) dend = eend;
    const bs = this.bs;
    const nblk = Math.floor((dend - dstart) / bs);
    const base = Math.floor((dstart - estart) / bs);
    const map = this.emap[i] >> 2;
    const ppb = PAGE_SIZE / bs;
    let discarded = 0;
    for (let k = 0; k < nblk; k++) {
      const b = base + k;
      const w = map + ((b / CB_MAPFIELDBITS) | 0);
      const bit = 1 << b % CB_MAPFIELDBITS;
      if (this.i32[w] & bit) {
        this.i32[w] &= ~bit;
        discarded++;
        const page = (b / ppb) | 0;
        const first = page * ppb;
        const mask = (ppb === 32 ? -1 : (1 << ppb) - 1) << first % CB_MAPFIELDBITS;
        if ((this.i32[map + ((first / CB_MAPFIELDBITS) | 0)] & mask) === 0) this.BC_free_page(i, page);
      }
    }
    return discarded;
  }

  /** BC_free_page: give page `page` of extent `i` back (poisoned, so a stale use shows). Extent lock held. */
  BC_free_page(i: number, page: number): void {
    const w = (this.edata[i] + page * PAGE_SIZE) >> 2;
    this.i32.fill(BC_POISON, w, w + PAGE_SIZE / 4);
    this.C.add(this.c, 'c_pages_freed', 1);
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
    for (let b = 0; b < nblk; b++) {
      if (!this.present(i, base + b)) {
        this.stat('ss_hit_blkmissing');
        return false;
      }
    }
    return true;
  }

  /** Count the blocks still present in extent `i` (ss_spurious_blocks at teardown). */
  presentCount(i: number): number {
    let n = 0;
    const nblks = Math.ceil(this.elen[i] / this.bs);
    for (let b = 0; b < nblks; b++) if (this.present(i, b)) n++;
    return n;
  }

  // ------------------------------------------------------------- history

  /**
   * BC_add_history: append an entry to the current cluster, allocating a new cluster when it is
   * full; stop (HTRUNCATED) at the cluster limit; ignore reads past half of the configured memory.
   * Takes c_hlock (a spinlock: the reference's "not reentrant", which the funnel covered). Never sleeps.
   */
  BC_add_history(offset: number, length: number, flags: number): void {
    const C = this.C;
    const c = this.c;
    if (!(this.cflags() & BC_FLAG_RECORDING)) return;
    this.sync.spin_lock(this.hlock);
    try {
      if (this.cflags() & BC_FLAG_HTRUNCATED || !(this.cflags() & BC_FLAG_RECORDING)) return;
      const bytes = C.load64(c, 'c_history_bytes');
      if (bytes + length > (C.load(c, 't_mem_mb') * 1024 * 1024) / 2) return;
      C.store64(c, 'c_history_bytes', bytes + length);
      const H = this.arena.view(BCHistClusterLayout);
      const clusters = this.arena.pool(R_CLUSTERS, BCHistClusterLayout);
      const per = C.load(c, 't_hist_entries');
      let cur = C.load(c, 'c_history');
      if (cur === 0 || H.load(clusters.addr(cur - 1), 'hc_entries') >= per) {
        if (bugs.any && bugs.enabled('bc-history-no-recheck')) {
          // BootCache <= 64: drop the lock to allocate, then link the new cluster to the head seen
          // before (`cur`, now stale) without rechecking: a cluster added meanwhile is lost.
          this.sync.spin_unlock(this.hlock);
          this.sync.point(this.pt.historyAlloc, this.c);
          this.sync.spin_lock(this.hlock);
        }
        const n = this.S.add(this.st, 'ss_history_clusters', 1) + 1;
        if (n > C.load(c, 't_hist_maxclusters')) {
          this.message(`too many history clusters (${n}, limit ${C.load(c, 't_hist_maxclusters')})`);
          this.setFlag(BC_FLAG_HTRUNCATED);
          this.S.sub(this.st, 'ss_history_clusters', 1);
          return;
        }
        const hc = clusters.addr(n - 1);
        H.store(hc, 'hc_entries', 0);
        H.store(hc, 'hc_link', cur);
        cur = n;
        C.store(c, 'c_history', cur);
      }
      const hc = clusters.addr(cur - 1);
      const k = H.load(hc, 'hc_entries');
      const w = (this.arena.region(R_HISTORY).offset >> 2) + ((cur - 1) * per + k) * HE_WORDS;
      this.i32[w] = offset % 4294967296 | 0;
      this.i32[w + 1] = Math.floor(offset / 4294967296);
      this.i32[w + 2] = length;
      this.i32[w + 3] = flags;
      H.store(hc, 'hc_entries', k + 1);
    } finally {
      this.sync.spin_unlock(this.hlock);
    }
  }

  /** message(): what the reference prints, kept per cpu (the first 100). */
  message(m: string): void {
    if (this.messages.length < 100) this.messages.push(m);
  }

  /** Count this caller in c_bypasscalls, then leave c_strategycalls: a terminator never sees it in neither. */
  enter_bypass(): void {
    this.C.add(this.c, 'c_bypasscalls', 1);
    this.strategy_done();
  }

  /** Leave BC_strategy's count; the last one out wakes a terminator draining it. */
  strategy_done(): void {
    if (this.C.sub(this.c, 'c_strategycalls', 1) === 1) this.sync.wakeup(this.c);
  }
}
