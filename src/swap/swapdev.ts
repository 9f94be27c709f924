/**
 * Swap devices on the priority list, the /dev/drum slot space, per-device extents of page slots,
 * and slot allocation (uvm_swap_alloc / uvm_swap_free / uvm_swap_markbad), after NetBSD's
 * uvm_swap.c. A `Swap` is one cpu's view (`Swap.of(sync, spec)`); the state is in the arena.
 *
 * A swapdev is named by its index (= the index of its candidate file, the "vnode"); list links
 * hold index + 1 so that 0 means "none". The drum ranges are allocated best fit from slot 1
 * (slot 0 means "no slot"), so they are disjoint by construction; `checkInvariants` verifies it.
 */
import type { Arena } from '../shm/arena.js';
import type { Field, StructView } from '../shm/view.js';
import { ContractError } from '../sync/errno.js';
import type { Sync } from '../sync/sync.js';
import {
  type ResolvedSwap,
  SWF_ENABLE,
  SWSLOT_BAD,
  SwapExLayout,
  SwapGlobalsLayout,
  type SwapGlobalsField,
  type SwapSpec,
  SwapdevLayout,
  type SwapdevField,
  SwappriLayout,
  type SwappriField,
  filePages,
  resolveSwap,
} from './layout.js';
import { type DeviceTotals, checkSwapInvariants, deviceTotals, swapStats } from './report.js';

type SpecLike = { swap?: SwapSpec; devices?: { name: string; blocks: number; blockSize?: number }[] };

const attached = new WeakMap<Sync, Swap>();

/** The last slot of swapmap (extent_create(swapmap, 1, INT_MAX)). */
const SWAPMAP_END = 0x7fffffff;

export interface SwapentInfo {
  path: string;
  vp: number;
  flags: string;
  priority: number;
  /** ose_nblks: size in DEV_BSIZE blocks. */
  nblks: number;
  /** ose_inuse: in-use in DEV_BSIZE blocks. */
  inuse: number;
  npages: number;
  npginuse: number;
  npgbad: number;
  drumoffset: number;
  drumsize: number;
  puts: number;
  gets: number;
  errors: number;
  children: number;
  maxactiveSeen: number;
  maxactive: number;
}

export class Swap {
  readonly conf: ResolvedSwap;
  readonly G: StructView<SwapGlobalsField>;
  readonly S: StructView<SwapdevField>;
  readonly P: StructView<SwappriField>;
  readonly g: number;
  readonly dataLock: number;
  private readonly sdBase: number;
  private readonly spBase: number;
  /** A word of an extent bitmap (SwapExLayout). */
  private readonly ex_word: Field;

  static of(sync: Sync, spec: SpecLike): Swap {
    let s = attached.get(sync);
    if (!s) {
      s = new Swap(sync, spec);
      attached.set(sync, s);
    }
    return s;
  }

  private constructor(
    readonly sync: Sync,
    spec: SpecLike,
  ) {
    if (!spec.swap) throw new ContractError('swap: the machine spec has no swap section');
    this.conf = resolveSwap(spec.swap, spec.devices ?? []);
    const a = sync.arena;
    this.G = a.view(SwapGlobalsLayout);
    this.S = a.view(SwapdevLayout);
    this.P = a.view(SwappriLayout);
    this.g = a.pool('swap.globals', SwapGlobalsLayout).addr(0);
    this.dataLock = this.G.addrOf(this.g, 'swap_data_lock');
    this.sdBase = this.conf.files.length ? a.pool('swap.swapdev', SwapdevLayout).addr(0) : 0;
    this.spBase = a.pool('swap.swappri', SwappriLayout).addr(0);
    this.ex_word = a.view(SwapExLayout).field('ex_word');
  }

  get arena(): Arena {
    return this.sync.arena;
  }
  /** Address of swapdev `i`. */
  sdp(i: number): number {
    return this.sdBase + i * SwapdevLayout.bytes;
  }
  private spp(i: number): number {
    return this.spBase + i * SwappriLayout.bytes;
  }
  /** The vnode (candidate index) of a path, or -1 (namei). */
  namei(path: string): number {
    return this.conf.files.findIndex((f) => f.path === path);
  }

  lockData(): void {
    this.sync.spin_lock(this.dataLock);
  }
  unlockData(): void {
    this.sync.spin_unlock(this.dataLock);
  }
  private assertData(fn: string): void {
    if (!this.sync.lock_held(this.dataLock)) throw new ContractError(`${fn}: swap_data_lock is not held`);
  }
  /** uvmexp counter (atomic read). */
  uvmexp(f: 'nswapdev' | 'swpages' | 'swpginuse' | 'swpgonly' | 'nswget'): number {
    return this.G.load(this.g, f);
  }
  private bump(f: 'nswapdev' | 'swpages' | 'swpginuse' | 'swpgonly' | 'nswget', d: number): void {
    this.G.add(this.g, f, d);
  }

  // ------------------------------------------------------------- the priority list

  /** Devices in list order: priorities ascending, each circleq from its head. Caller holds swap_data_lock (or the machine is quiescent). */
  *walk(): Generator<{ spi: number; sd: number }> {
    const P = this.P;
    for (let sp = this.G.load(this.g, 'sg_prihead'); sp !== 0; sp = P.load(this.spp(sp - 1), 'spi_next')) {
      const head = P.load(this.spp(sp - 1), 'spi_swapdev');
      if (head === 0) continue;
      let sd = head;
      let guard = 0;
      do {
        yield { spi: sp - 1, sd: sd - 1 };
        sd = this.S.load(this.sdp(sd - 1), 'swd_next');
        if (++guard > this.conf.files.length) throw new ContractError(`swap list: circleq of priority ${P.load(this.spp(sp - 1), 'spi_priority')} does not close`);
      } while (sd !== head);
    }
  }

  /**
   * The seed's walk without swap_data_lock (SWAP_STATS): at most `limit` devices in list order. A
   * device is the last of its circleq when its next is the circleq's head as read now (the
   * seed's sentinel test); a concurrent rotation may make it repeat or skip a device. Caller
   * holds swap_syscall_lock (the list itself cannot change). Never sleeps.
   */
  *walkUnlocked(limit: number): Generator<number> {
    const P = this.P;
    const S = this.S;
    let left = limit;
    for (let sp = this.G.load(this.g, 'sg_prihead'); sp !== 0 && left > 0; sp = P.load(this.spp(sp - 1), 'spi_next')) {
      const at = this.spp(sp - 1);
      for (let sd = P.load(at, 'spi_swapdev'); sd !== 0 && left-- > 0; ) {
        yield sd - 1;
        const next = S.load(this.sdp(sd - 1), 'swd_next');
        if (next === P.load(at, 'spi_swapdev')) break;
        sd = next;
      }
    }
  }

  private cq_remove(spi: number, sd: number): void {
    const S = this.S;
    const sp = this.spp(spi);
    const a = this.sdp(sd);
    const next = S.load(a, 'swd_next');
    const prev = S.load(a, 'swd_prev');
    if (next === sd + 1) this.P.store(sp, 'spi_swapdev', 0);
    else {
      S.store(this.sdp(prev - 1), 'swd_next', next);
      S.store(this.sdp(next - 1), 'swd_prev', prev);
      if (this.P.load(sp, 'spi_swapdev') === sd + 1) this.P.store(sp, 'spi_swapdev', next);
    }
    S.store(a, 'swd_next', 0);
    S.store(a, 'swd_prev', 0);
    S.store(a, 'swd_onlist', 0);
  }

  private cq_insert_tail(spi: number, sd: number): void {
    const S = this.S;
    const sp = this.spp(spi);
    const a = this.sdp(sd);
    const head = this.P.load(sp, 'spi_swapdev');
    if (head === 0) {
      this.P.store(sp, 'spi_swapdev', sd + 1);
      S.store(a, 'swd_next', sd + 1);
      S.store(a, 'swd_prev', sd + 1);
    } else {
      const tail = S.load(this.sdp(head - 1), 'swd_prev');
      S.store(a, 'swd_next', head);
      S.store(a, 'swd_prev', tail);
      S.store(this.sdp(tail - 1), 'swd_next', sd + 1);
      S.store(this.sdp(head - 1), 'swd_prev', sd + 1);
    }
    S.store(a, 'swd_onlist', spi + 1);
  }

  /**
   * swaplist_insert: put `sd` at the tail of the circleq of `priority`, creating the swappri in
   * sorted position if needed. Caller holds swap_data_lock. Never sleeps.
   */
  swaplist_insert(sd: number, priority: number): void {
    this.assertData('swaplist_insert');
    const P = this.P;
    let prev = 0;
    let sp = this.G.load(this.g, 'sg_prihead');
    while (sp !== 0 && P.load(this.spp(sp - 1), 'spi_priority') < priority) {
      prev = sp;
      sp = P.load(this.spp(sp - 1), 'spi_next');
    }
    if (sp === 0 || P.load(this.spp(sp - 1), 'spi_priority') !== priority) {
      let free = -1;
      for (let i = 0; i < this.conf.files.length + 1; i++) if (P.load(this.spp(i), 'spi_inuse') === 0) { free = i; break; }
      if (free < 0) throw new ContractError('swaplist_insert: no free swappri (the list was not trimmed)');
      const np = this.spp(free);
      P.store(np, 'spi_inuse', 1);
      P.store(np, 'spi_priority', priority);
      P.store(np, 'spi_swapdev', 0);
      P.store(np, 'spi_next', sp);
      if (prev === 0) this.G.store(this.g, 'sg_prihead', free + 1);
      else P.store(this.spp(prev - 1), 'spi_next', free + 1);
      sp = free + 1;
    }
    this.S.store(this.sdp(sd), 'swd_priority', priority);
    this.cq_insert_tail(sp - 1, sd);
    this.bump('nswapdev', 1);
  }

  /** swaplist_find: the swapdev of vnode `vp` if on the list (-1 if not), optionally removed. Caller holds swap_data_lock. */
  swaplist_find(vp: number, remove: boolean): number {
    this.assertData('swaplist_find');
    for (const { spi, sd } of this.walk()) {
      if (sd !== vp) continue;
      if (remove) {
        this.cq_remove(spi, sd);
        this.bump('nswapdev', -1);
      }
      return sd;
    }
    return -1;
  }

  /** swaplist_trim: unlink and free every swappri with an empty circleq. Caller holds swap_data_lock. */
  swaplist_trim(): void {
    this.assertData('swaplist_trim');
    const P = this.P;
    let prev = 0;
    let sp = this.G.load(this.g, 'sg_prihead');
    while (sp !== 0) {
      const a = this.spp(sp - 1);
      const next = P.load(a, 'spi_next');
      if (P.load(a, 'spi_swapdev') === 0) {
        if (prev === 0) this.G.store(this.g, 'sg_prihead', next);
        else P.store(this.spp(prev - 1), 'spi_next', next);
        P.store(a, 'spi_inuse', 0);
        P.store(a, 'spi_next', 0);
      } else prev = sp;
      sp = next;
    }
  }

  /** The priorities on the list, in order (for tests and reports). Quiescent or under the data lock. */
  priorities(): { priority: number; devices: string[] }[] {
    const out: { priority: number; devices: string[] }[] = [];
    for (let sp = this.G.load(this.g, 'sg_prihead'); sp !== 0; sp = this.P.load(this.spp(sp - 1), 'spi_next')) {
      out.push({ priority: this.P.load(this.spp(sp - 1), 'spi_priority'), devices: [] });
    }
    for (const { spi, sd } of this.walk()) {
      const pr = this.P.load(this.spp(spi), 'spi_priority');
      out.find((o) => o.priority === pr)!.devices.push(this.conf.files[sd].path);
    }
    return out;
  }

  // ------------------------------------------------------------- the drum

  /**
   * swapdrum_add: give `sd` a range of `npages` drum slots from swapmap (slots 1..INT_MAX, held
   * implicitly as the drum ranges of the other devices on the list): best fit, the range at the
   * start of the free gap with the smallest leftover, ties to the lowest address, as extent(9)
   * without EX_FAST. Caller holds swap_data_lock.
   */
  swapdrum_add(sd: number, npages: number): void {
    this.assertData('swapdrum_add');
    const ranges: [number, number][] = [];
    for (const { sd: o } of this.walk()) {
      const size = this.S.load(this.sdp(o), 'swd_drumsize');
      if (o !== sd && size > 0) ranges.push([this.S.load(this.sdp(o), 'swd_drumoffset'), size]);
    }
    ranges.sort((x, y) => x[0] - y[0]);
    ranges.push([SWAPMAP_END + 1, 0]); // the tail gap ends at INT_MAX (inclusive)
    let best = -1;
    let bestLeft = Infinity;
    let start = 1;
    for (const [off, size] of ranges) {
      const left = off - start - npages;
      if (left >= 0 && left < bestLeft) {
        best = start;
        bestLeft = left;
        if (left === 0) break;
      }
      start = Math.max(start, off + size);
    }
    if (best < 0) throw new ContractError(`swapdrum_add: /dev/drum is full (${npages} pages wanted)`);
    this.S.store(this.sdp(sd), 'swd_drumoffset', best);
    this.S.store(this.sdp(sd), 'swd_drumsize', npages);
  }

  /** swapdrum_getsdp: the swapdev whose drum range holds slot `pgno`, or -1. Caller holds swap_data_lock. */
  swapdrum_getsdp(pgno: number): number {
    this.assertData('swapdrum_getsdp');
    for (const { sd } of this.walk()) {
      const a = this.sdp(sd);
      const off = this.S.load(a, 'swd_drumoffset');
      if (pgno >= off && pgno < off + this.S.load(a, 'swd_drumsize')) return sd;
    }
    return -1;
  }

  // ------------------------------------------------------------- extents (one bitmap per swapdev)

  private exBase(sd: number): number {
    return this.arena.region(`swap.ex.${sd}`).offset;
  }
  private exBit(base: number, p: number): boolean {
    return (this.ex_word.get(base + ((p >>> 5) << 2)) & (1 << (p & 31))) !== 0;
  }
  private exSet(base: number, p: number, on: boolean): void {
    const w = base + ((p >>> 5) << 2);
    const x = this.ex_word.get(w);
    this.ex_word.set(w, on ? x | (1 << (p & 31)) : x & ~(1 << (p & 31)));
  }
  /** extent_create: every page of the device's extent free. Caller holds swap_data_lock. */
  extent_create(sd: number): void {
    const r = this.arena.region(`swap.ex.${sd}`);
    this.arena.fillBytes(r.offset, 0, r.bytes);
  }
  /** extent_alloc_region: mark [start, start+n) used (the label page). Caller holds swap_data_lock. */
  extent_alloc_region(sd: number, start: number, n: number): void {
    const b = this.exBase(sd);
    for (let p = start; p < start + n; p++) {
      if (this.exBit(b, p)) throw new ContractError(`extent_alloc_region: page ${p} of swapdev ${sd} is already allocated`);
      this.exSet(b, p, true);
    }
  }
  /**
   * extent_alloc: `n` contiguous free pages by best fit (the start of the free run with the
   * smallest leftover, ties to the lowest address, an exact fit ends the scan), as extent(9)
   * without EX_FAST; the start page, or -1. Caller holds swap_data_lock.
   */
  extent_alloc(sd: number, n: number): number {
    if (!(n >= 1)) throw new ContractError(`extent_alloc: ${n} pages wanted`);
    const b = this.exBase(sd);
    const total = filePages(this.conf.files[sd]);
    const nwords = (total + 31) >>> 5;
    let best = -1;
    let bestLeft = Infinity;
    let runStart = 0;
    let run = 0;
    // Ends the current free run; true once an exact fit is found (nothing can beat it).
    const endRun = (): boolean => {
      if (run >= n && run - n < bestLeft) {
        best = runStart;
        bestLeft = run - n;
      }
      run = 0;
      return bestLeft === 0;
    };
    scan: for (let w = 0; w < nwords; w++) {
      let x = this.ex_word.get(b + (w << 2));
      const bits = total - (w << 5);
      if (bits < 32) x |= -1 << bits; // past the extent's end counts as allocated
      if (x === 0) {
        if (run === 0) runStart = w << 5;
        run += 32;
      } else if (x === -1) {
        if (endRun()) break;
      } else {
        for (let i = 0; i < 32; i++) {
          if ((x & (1 << i)) !== 0) {
            if (endRun()) break scan;
          } else if (run++ === 0) runStart = (w << 5) + i;
        }
      }
    }
    endRun();
    if (best >= 0) for (let p = best; p < best + n; p++) this.exSet(b, p, true);
    return best;
  }
  /** extent_free. Caller holds swap_data_lock. */
  extent_free(sd: number, start: number, n: number): void {
    const b = this.exBase(sd);
    for (let p = start; p < start + n; p++) {
      if (!this.exBit(b, p)) throw new ContractError(`extent_free: page ${p} of swapdev ${this.conf.files[sd].path} is not allocated (double free of drum slot ${p + this.S.load(this.sdp(sd), 'swd_drumoffset')})`);
      this.exSet(b, p, false);
    }
  }
  /** Pages allocated in the extent (label page and bad pages included). */
  extent_used(sd: number): number {
    const b = this.exBase(sd);
    let n = 0;
    for (let p = 0; p < filePages(this.conf.files[sd]); p++) if (this.exBit(b, p)) n++;
    return n;
  }

  // ------------------------------------------------------------- slots

  /**
   * uvm_swap_alloc: `nslots` contiguous drum slots, round robin within the first priority that
   * has room (the chosen device rotates to its circleq's tail); with `lessok`, falls back to one
   * slot. Returns { slot, nslots } (slot 0 = failure). Takes swap_data_lock; never sleeps.
   */
  uvm_swap_alloc(nslots: number, lessok: boolean): { slot: number; nslots: number } {
    if (this.uvmexp('nswapdev') < 1) return { slot: 0, nslots };
    const S = this.S;
    this.lockData();
    try {
      for (;;) {
        for (const { spi, sd } of this.walk()) {
          const a = this.sdp(sd);
          if ((S.load(a, 'swd_flags') & SWF_ENABLE) === 0) continue;
          if (S.load(a, 'swd_npginuse') + nslots > S.load(a, 'swd_npages')) continue;
          const r = this.extent_alloc(sd, nslots);
          if (r < 0) continue;
          this.cq_remove(spi, sd);
          this.cq_insert_tail(spi, sd);
          S.store(a, 'swd_npginuse', S.load(a, 'swd_npginuse') + nslots);
          this.bump('swpginuse', nslots);
          return { slot: r + S.load(a, 'swd_drumoffset'), nslots };
        }
        if (nslots > 1 && lessok) {
          nslots = 1;
          continue;
        }
        return { slot: 0, nslots };
      }
    } finally {
      this.unlockData();
    }
  }

  /** uvm_swap_markbad: count `nslots` bad pages on the device holding `startslot`. Takes swap_data_lock. */
  uvm_swap_markbad(startslot: number, nslots: number): void {
    this.lockData();
    try {
      const sd = this.swapdrum_getsdp(startslot);
      if (sd < 0) throw new ContractError(`uvm_swap_markbad: drum slot ${startslot} is on no swap device`);
      this.S.store(this.sdp(sd), 'swd_npgbad', this.S.load(this.sdp(sd), 'swd_npgbad') + nslots);
    } finally {
      this.unlockData();
    }
  }

  /** uvm_swap_free: return slots to their device's extent (SWSLOT_BAD is ignored). Takes swap_data_lock. */
  uvm_swap_free(startslot: number, nslots: number): void {
    if (startslot === SWSLOT_BAD) return;
    this.lockData();
    try {
      if (this.uvmexp('nswapdev') < 1) throw new ContractError('uvm_swap_free: no swap devices');
      const sd = this.swapdrum_getsdp(startslot);
      if (sd < 0) throw new ContractError(`uvm_swap_free: drum slot ${startslot} (+${nslots}) is unmapped`);
      const a = this.sdp(sd);
      this.extent_free(sd, startslot - this.S.load(a, 'swd_drumoffset'), nslots);
      const inuse = this.S.load(a, 'swd_npginuse') - nslots;
      if (inuse < 0) throw new ContractError(`uvm_swap_free: swd_npginuse of ${this.conf.files[sd].path} went negative`);
      this.S.store(a, 'swd_npginuse', inuse);
      this.bump('swpginuse', -nslots);
    } finally {
      this.unlockData();
    }
  }

  /** Device index and device page of a drum slot. Takes swap_data_lock. */
  slotToDev(slot: number): { sd: number; page: number } | null {
    this.lockData();
    try {
      const sd = this.swapdrum_getsdp(slot);
      return sd < 0 ? null : { sd, page: slot - this.S.load(this.sdp(sd), 'swd_drumoffset') };
    } finally {
      this.unlockData();
    }
  }

  // ------------------------------------------------------------- reports and invariants (report.ts)

  /** SWAP_STATS entries in list order (in-use in DEV_BSIZE blocks). Caller holds swap_data_lock or the machine is quiescent. */
  stats(): SwapentInfo[] {
    return swapStats(this);
  }
  /** Cumulative figures of every candidate device, on the list or not (quiescent). */
  deviceTotals(): DeviceTotals[] {
    return deviceTotals(this);
  }
  /** The swap invariants of RACES.md at a quiescent point; the violations (empty when all hold). */
  checkInvariants(): string[] {
    return checkSwapInvariants(this);
  }
}
