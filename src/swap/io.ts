/**
 * Swap I/O: uvm_swap_put / uvm_swap_get / uvm_swap_io, swstrategy (drum slot → device block),
 * the vndbuf / vndxfer pools, and the completion context (NetBSD uvm_swap.c). The regular-file
 * path (sw_reg_strategy / sw_reg_start / sw_reg_iodone) is in regio.ts.
 *
 * A transfer uses a pbuf as the parent buffer (the kernel's bufpool buf). A block-device swap
 * pushes one bio and goes straight to the device. A regular file splits the parent into child
 * vndbufs (regio.ts).
 *
 * uvm_swap_io maps the pages into the pager map (uvm_pagermapin) and takes a pbuf. An async
 * caller never sleeps for either, the pagedaemon never for the pbuf: they get VM_PAGER_AGAIN. Vnode
 * bookkeeping (vnode.ts): the parent is held on the drum vnode; swstrategy moves a block-device
 * transfer to the swap vnode; a regular file's children are held on the disk's device vnode.
 *
 * Contexts: uvm_swap_io / swstrategy run on a pager cpu and may sleep (uvm_pagermapin, getpbuf,
 * getvndbuf, getvndxfer, the vnode lock, biowait). Completions (sw_reg_iodone, swap.aio_biodone) run on the
 * cpu that completed the I/O with `intr` > 0 and must never sleep: where one would, this layer
 * throws "sleep in a completion context" (assertSleepable) instead.
 */
import { type BioLayer, registerBioDone } from '../device/bio.js';
import { BUF_CMD_READ, BUF_CMD_WRITE, B_ERROR, B_PAGING, b_bio1 } from '../device/buf.js';
import { Devices } from '../device/disk.js';
import type { Pool } from '../shm/arena.js';
import type { Field, StructView } from '../shm/view.js';
import { ContractError, EINVAL } from '../sync/errno.js';
import { PINTERLOCKED, type Sync } from '../sync/sync.js';
import { PAGE_SIZE, type SwapSpec, SWSLOT_BAD, VBLK, VndbufLayout, type VndbufField, VndxferLayout, type VndxferField } from './layout.js';
import { Swap } from './swapdev.js';
import { SwapRegIO } from './regio.js';
import { BufVp, SwapVnodes } from './vnode.js';
import { poolPageItems } from './init.js';

/** Pager return values (NetBSD uvm_pager.h). */
export const VM_PAGER_OK = 0;
export const VM_PAGER_BAD = 1;
export const VM_PAGER_FAIL = 2;
export const VM_PAGER_PEND = 3;
export const VM_PAGER_ERROR = 4;
export const VM_PAGER_AGAIN = 5;

/** A vnd pool: its items and free-list links, and its swapglobals words bound once (vnd_* or vnx_*). */
type PoolDesc = {
  count: number;
  perPage: number;
  addr: (i: number) => number;
  index: (a: number) => number;
  next: (a: number) => number;
  setNext: (a: number, v: number) => void;
  fn: string;
  wmesg: string;
  free: Field;
  nitems: Field;
  npages: Field;
  inuse: Field;
  gets: Field;
  puts: Field;
  hiwat: Field;
  sleeps: Field;
};

type SpecLike = { swap?: SwapSpec; devices?: { name: string; blocks: number; blockSize?: number }[] };
const attached = new WeakMap<Sync, SwapIO>();

export class SwapIO {
  readonly swap: Swap;
  readonly dev: Devices;
  readonly io: BioLayer;
  readonly X: StructView<VndxferField>;
  readonly V: StructView<VndbufField>;
  private readonly xp: Pool<VndxferField>;
  /** The vndbuf pool (swd_tab links are indices + 1 into it). */
  readonly vp: Pool<VndbufField>;
  private readonly vndLock: number;
  /** The regular-file path. */
  readonly reg: SwapRegIO;
  /** The vnode counters, and the b_vp of pbufs and vndbufs. */
  readonly vn: SwapVnodes;
  private readonly pbvp: BufVp;
  private readonly vbvp: BufVp;
  private readonly pmLock: number;
  private readonly vndPool: PoolDesc;
  private readonly vnxPool: PoolDesc;
  /** errno of the last failed uvm_swap_io on this cpu. */
  lastError = 0;
  /** This cpu's completion-context depth: > 0 while a swap completion runs here (it must not sleep). */
  intr = 0;

  static of(sync: Sync, spec: SpecLike): SwapIO {
    let s = attached.get(sync);
    if (!s) {
      s = new SwapIO(sync, spec);
      attached.set(sync, s);
    }
    return s;
  }

  private constructor(
    readonly sync: Sync,
    spec: SpecLike,
  ) {
    this.swap = Swap.of(sync, spec);
    this.dev = Devices.of(sync, spec as never);
    this.io = this.dev.io;
    this.io.ext.set('swapio', this);
    const a = sync.arena;
    this.X = a.view(VndxferLayout);
    this.V = a.view(VndbufLayout);
    this.xp = a.pool('swap.vndxfer', VndxferLayout);
    this.vp = a.pool('swap.vndbuf', VndbufLayout);
    this.vndLock = this.swap.G.addrOf(this.swap.g, 'vnd_lock');
    this.pmLock = this.swap.G.addrOf(this.swap.g, 'pm_lock');
    this.reg = new SwapRegIO(this);
    this.vn = new SwapVnodes(a, this.swap.conf);
    this.pbvp = new BufVp(a, 'pbuf');
    this.vbvp = new BufVp(a, 'vndbuf');
    if (a.region('swap.bvp.pbuf').bytes < 4 * this.dev.pbufs.pool.count) throw new ContractError('SwapIO: swap.bvp.pbuf is smaller than the pbuf pool');
    const G = this.swap.G;
    const words = (pre: 'vnd' | 'vnx') => ({
      free: G.field(`${pre}_free`),
      nitems: G.field(`${pre}_nitems`),
      npages: G.field(`${pre}_npages`),
      inuse: G.field(`${pre}_inuse`),
      gets: G.field(`${pre}_gets`),
      puts: G.field(`${pre}_puts`),
      hiwat: G.field(`${pre}_hiwat`),
      sleeps: G.field(`${pre}_sleeps`),
    });
    const vb_next = this.V.field('vb_next');
    const vx_next = this.X.field('vx_next');
    this.vndPool = { count: this.vp.count, perPage: poolPageItems(VndbufLayout.bytes), addr: (i) => this.vp.addr(i), index: (b) => this.vp.index(b), next: (b) => vb_next.load(b), setNext: (b, v) => vb_next.store(b, v), fn: 'getvndbuf', wmesg: 'swpvnd', ...words('vnd') };
    this.vnxPool = { count: this.xp.count, perPage: poolPageItems(VndxferLayout.bytes), addr: (i) => this.xp.addr(i), index: (x) => this.xp.index(x), next: (x) => vx_next.load(x), setNext: (x, v) => vx_next.store(x, v), fn: 'getvndxfer', wmesg: 'swpvnx', ...words('vnx') };
  }

  /**
   * The kernel's ASSERT_SLEEPABLE, checked where a sleep would happen: in a completion context
   * (`intr` > 0) it throws "sleep in a completion context", naming `fn` and what it would sleep on.
   * The caller holds no spinlock.
   */
  assertSleepable(fn: string, what: string): void {
    if (this.intr > 0) throw new ContractError(`sleep in a completion context: ${fn} would sleep on ${what} (cpu ${this.sync.cpu} is completing swap I/O)`);
  }

  // ------------------------------------------------------------- vndbuf / vndxfer pools

  /**
   * pool_get(PR_WAITOK|PR_MALLOCOK) on a vnd pool: take a free item; on an empty free list add
   * the next pool page of items (pr_npagealloc++) while the reservation (nvndbuf / nvndxfer)
   * lasts. Only at the reservation does it sleep, on "swpvnd" / "swpvnx" (kiolab's limit: the
   * arena cannot grow). Takes vnd_lock; may sleep (never in a completion context).
   */
  private poolGet(d: PoolDesc): number {
    const { G, g } = this.swap;
    const s = this.sync;
    s.spin_lock(this.vndLock);
    for (;;) {
      let h = d.free.get(g);
      const have = d.nitems.get(g);
      if (h === 0 && have < d.count) {
        const end = Math.min(d.count, have + d.perPage);
        for (let i = have; i < end; i++) d.setNext(d.addr(i), i + 1 < end ? i + 2 : 0);
        d.nitems.store(g, end);
        d.npages.add(g, 1);
        h = have + 1;
      }
      if (h !== 0) {
        const a = d.addr(h - 1);
        d.free.set(g, d.next(a));
        const inuse = d.inuse.add(g, 1) + 1;
        d.gets.add(g, 1);
        if (inuse > d.hiwat.get(g)) d.hiwat.store(g, inuse);
        s.spin_unlock(this.vndLock);
        return a;
      }
      if (this.intr > 0) {
        s.spin_unlock(this.vndLock);
        this.assertSleepable(d.fn, 'an empty pool');
      }
      d.sleeps.add(g, 1);
      G.set(g, 'vnd_wanted', 1);
      const ch = G.addrOf(g, 'vnd_wanted');
      s.tsleep_interlock(ch);
      s.spin_unlock(this.vndLock);
      s.tsleep(ch, PINTERLOCKED, d.wmesg, 100);
      s.spin_lock(this.vndLock);
    }
  }

  /** pool_put: back on the free list; wakes sleepers. Takes vnd_lock; never sleeps. */
  private poolPut(d: PoolDesc, item: number): void {
    const { G, g } = this.swap;
    const s = this.sync;
    s.spin_lock(this.vndLock);
    d.setNext(item, d.free.get(g));
    d.free.set(g, d.index(item) + 1);
    d.inuse.add(g, -1);
    d.puts.add(g, 1);
    const wanted = G.get(g, 'vnd_wanted');
    if (wanted) G.set(g, 'vnd_wanted', 0);
    s.spin_unlock(this.vndLock);
    if (wanted) s.wakeup(G.addrOf(g, 'vnd_wanted'));
  }

  /** getvndxfer: may sleep (at the reservation). */
  getvndxfer(): number {
    return this.poolGet(this.vnxPool);
  }
  /** putvndxfer: never sleeps. */
  putvndxfer(vnx: number): void {
    this.poolPut(this.vnxPool, vnx);
  }
  /** getvndbuf: may sleep (at the reservation). Its b_vp is NULL. */
  getvndbuf(): number {
    const bp = this.poolGet(this.vndPool);
    if (this.vbvp.get(this.vp.index(bp)) >= 0) throw new ContractError(`getvndbuf: vndbuf ${this.vp.index(bp)} still has a b_vp`);
    return bp;
  }
  /** putvndbuf: never sleeps. */
  putvndbuf(bp: number): void {
    this.poolPut(this.vndPool, bp);
  }

  // ------------------------------------------------------------- the pager map

  /**
   * uvm_pagermapin: take `npages` of the pager map. Without `waitok` it never sleeps and returns
   * false when they are not free; with it, it sleeps on "pager_map" until uvm_pagermapout frees
   * them. kiolab models only the map's page budget (no addresses). Takes pm_lock; may sleep.
   */
  uvm_pagermapin(npages: number, waitok: boolean): boolean {
    const { G, g } = this.swap;
    const s = this.sync;
    // More than the whole map: a waitok caller would sleep forever; the others just fail.
    if (npages > G.load(g, 'pm_size')) {
      if (!waitok) return false;
      throw new ContractError(`uvm_pagermapin: ${npages} pages can never fit the pager map (${G.load(g, 'pm_size')} pages, spec swap.pagerMap)`);
    }
    s.spin_lock(this.pmLock);
    for (;;) {
      const free = G.get(g, 'pm_free');
      if (free >= npages) {
        G.store(g, 'pm_free', free - npages);
        s.spin_unlock(this.pmLock);
        return true;
      }
      if (!waitok) {
        s.spin_unlock(this.pmLock);
        return false;
      }
      if (this.intr > 0) {
        s.spin_unlock(this.pmLock);
        this.assertSleepable('uvm_pagermapin', 'the pager map');
      }
      G.add(g, 'pm_sleeps', 1);
      G.set(g, 'pm_wanted', 1);
      const ch = G.addrOf(g, 'pm_free');
      s.tsleep_interlock(ch);
      s.spin_unlock(this.pmLock);
      s.tsleep(ch, PINTERLOCKED, 'pager_map', 0);
      s.spin_lock(this.pmLock);
    }
  }

  /** uvm_pagermapout: give back `npages` of the pager map and wake its sleepers. Takes pm_lock; never sleeps. */
  uvm_pagermapout(npages: number): void {
    const { G, g } = this.swap;
    const s = this.sync;
    s.spin_lock(this.pmLock);
    const free = G.get(g, 'pm_free') + npages;
    if (free > G.get(g, 'pm_size')) {
      s.spin_unlock(this.pmLock);
      throw new ContractError(`uvm_pagermapout: ${npages} pages returned but only ${G.get(g, 'pm_size') - free + npages} were mapped`);
    }
    G.store(g, 'pm_free', free);
    const wanted = G.get(g, 'pm_wanted');
    G.set(g, 'pm_wanted', 0);
    s.spin_unlock(this.pmLock);
    if (wanted) s.wakeup(G.addrOf(g, 'pm_free'));
  }

  // ------------------------------------------------------------- b_vp

  /** Which b_vp table holds `bp` (pbufs or vndbufs), and its index there: two lookups, no allocation (every transfer passes here). */
  private bvpTable(bp: number): BufVp {
    if (this.dev.pbufs.owns(bp)) return this.pbvp;
    if (this.vp.contains(bp)) return this.vbvp;
    throw new ContractError(`swap: buffer ${bp} is neither a pbuf nor a vndbuf`);
  }
  private bvpIndex(bp: number): number {
    return this.dev.pbufs.owns(bp) ? this.dev.pbufs.pool.index(bp) : this.vp.index(bp);
  }
  /** b_vp of `bp`: a vnode index, or -1 for NULL. */
  b_vp(bp: number): number {
    return this.bvpTable(bp).get(this.bvpIndex(bp));
  }
  /** bgetvp: associate `bp` (b_vp NULL) with vnode `vp` and hold it. Never sleeps. */
  bgetvp(vp: number, bp: number): void {
    const t = this.bvpTable(bp);
    const i = this.bvpIndex(bp);
    if (t.get(i) >= 0) throw new ContractError(`bgetvp: buffer ${bp} already has b_vp ${t.get(i)} (not free)`);
    this.vn.VHOLD(vp);
    t.set(i, vp);
  }
  /** b_vp = vp for a vnode the caller already holds (swstrategy's VHOLD). */
  private setvp(bp: number, vp: number): void {
    this.bvpTable(bp).set(this.bvpIndex(bp), vp);
  }
  /** brelvp: disassociate `bp` from its vnode and drop the hold. Never sleeps. */
  brelvp(bp: number): void {
    const t = this.bvpTable(bp);
    const i = this.bvpIndex(bp);
    const vp = t.get(i);
    if (vp < 0) throw new ContractError(`brelvp: buffer ${bp} has no b_vp (NULL)`);
    t.set(i, -1);
    this.vn.HOLDRELE(vp);
  }
  /** vwakeup: a write of `bp` finished: drop its vnode's v_numoutput (nothing when b_vp is NULL). Never sleeps. */
  vwakeup(bp: number): void {
    const vp = this.b_vp(bp);
    if (vp >= 0) this.vn.numoutput_dec(this.sync, vp);
  }

  /** biodone of a parent buffer: NetBSD 1.4's biodone does vwakeup for a write, then the completion. Never sleeps. */
  swbiodone(bp: number): void {
    if (this.io.B.load(bp, 'b_cmd') === BUF_CMD_WRITE) this.vwakeup(bp);
    this.io.biodone(b_bio1(bp));
  }

  /**
   * The buf's disposal of an asynchronous transfer (uvm_aio_aiodone's part): pager map out,
   * brelvp, relpbuf. Runs in the completion context; never sleeps.
   */
  uvm_aio_release(bp: number): void {
    this.uvm_pagermapout(this.io.B.load(bp, 'b_bcount') / PAGE_SIZE);
    if (this.b_vp(bp) >= 0) this.brelvp(bp);
    this.io.B.store(bp, 'b_cmd', 0);
    this.dev.pbufs.relpbuf(bp);
  }

  // ------------------------------------------------------------- put / get

  /**
   * uvm_swap_put: write `npages` pages at arena address `data` to the drum slots from `swslot`.
   * Synchronous (VM_PAGER_OK or VM_PAGER_ERROR) or asynchronous (VM_PAGER_PEND; the registered
   * bio_done `aioDone` runs on the completing cpu with b_bio1 and must uvm_aio_release; its
   * bio_caller1 is `cookie`, bio_caller2 the slot); VM_PAGER_AGAIN when an async or `pdaemon`
   * caller could not get the pager map or a buf. May sleep (not when async or pdaemon).
   */
  uvm_swap_put(swslot: number, data: number, npages: number, sync: boolean, aioDone = '', cookie = 0, pdaemon = false): number {
    return this.uvm_swap_io(data, swslot, npages, true, sync ? '' : aioDone, cookie, pdaemon);
  }

  /**
   * uvm_swap_get: read one page from `swslot` into `data`; the page is no longer only in swap
   * (swpgonly--) unless the read fails. Synchronous by default (a fault); with `sync` false it
   * is asynchronous (VM_PAGER_PEND, completion `aioDone` with bio_caller1 `cookie`, or
   * VM_PAGER_AGAIN), which the seed reports under DIAGNOSTIC (counted in sg_async_get).
   * May sleep when synchronous.
   */
  uvm_swap_get(data: number, swslot: number, sync = true, aioDone = '', cookie = 0): number {
    const sw = this.swap;
    sw.G.add(sw.g, 'nswget', 1);
    if (!sync) sw.G.add(sw.g, 'sg_async_get', 1); // "uvm_swap_get: ASYNC get requested?"
    if (swslot === SWSLOT_BAD) return VM_PAGER_ERROR;
    sw.lockData();
    sw.G.add(sw.g, 'swpgonly', -1);
    sw.unlockData();
    const result = this.uvm_swap_io(data, swslot, 1, false, sync ? '' : aioDone, cookie, false);
    if (result !== VM_PAGER_OK && result !== VM_PAGER_PEND) {
      sw.lockData();
      sw.G.add(sw.g, 'swpgonly', 1);
      sw.unlockData();
    }
    return result;
  }

  /**
   * uvm_swap_io: one transfer through /dev/drum. Async when `aioDone` names a completion. An
   * async caller never sleeps for the pager map or a pbuf, the pagedaemon (`pdaemon`) never for a
   * pbuf: they get VM_PAGER_AGAIN when one is short. May sleep otherwise.
   */
  uvm_swap_io(data: number, startslot: number, npages: number, write: boolean, aioDone: string, cookie: number, pdaemon = false): number {
    const dev = this.dev;
    const io = this.io;
    const { G, g } = this.swap;
    const async = aioDone !== '';
    // uvm_swap_io: the map-in waits unless async; the buf below is taken without waiting by the pagedaemon too.
    if (!this.uvm_pagermapin(npages, !async)) {
      G.add(g, 'sg_again_map', 1);
      return VM_PAGER_AGAIN;
    }
    const bp = async || pdaemon ? dev.pbufs.getpbuf_nowait() : dev.pbufs.getpbuf();
    if (bp === null) {
      // The seed returns here with the pages still mapped (a pager map leak): kiolab maps them out.
      this.uvm_pagermapout(npages);
      G.add(g, 'sg_again_pbuf', 1);
      return VM_PAGER_AGAIN;
    }
    const B = io.B;
    B.store(bp, 'b_cmd', write ? BUF_CMD_WRITE : BUF_CMD_READ);
    B.store(bp, 'b_data', data);
    B.store(bp, 'b_bcount', npages * PAGE_SIZE);
    B.store(bp, 'b_bufsize', npages * PAGE_SIZE);
    B.store(bp, 'b_resid', npages * PAGE_SIZE);
    B.store(bp, 'b_error', 0);
    B.store(bp, 'b_flags', B_PAGING);
    // uvm_swap_io: VHOLD(swapdev_vp), b_vp = swapdev_vp, then a write's v_numoutput++.
    this.bgetvp(SwapVnodes.DRUM, bp);
    if (write) this.vn.numoutput_inc(SwapVnodes.DRUM);
    const bio1 = b_bio1(bp);
    if (async) {
      io.O.store(bio1, 'bio_caller1', cookie);
      io.O.store(bio1, 'bio_caller2', startslot);
      io.set_done(bio1, aioDone);
      this.swstrategy(bp, startslot);
      return VM_PAGER_PEND;
    }
    io.setup_sync(bp);
    this.swstrategy(bp, startslot);
    const error = io.biowait(bio1, write ? 'swpout' : 'swpin');
    // uvm_swap_io: map out, brelvp, then vwakeup (a no-op: b_vp is NULL by now), pool_put.
    this.uvm_pagermapout(npages);
    if (this.b_vp(bp) >= 0) this.brelvp(bp);
    if (write) this.vwakeup(bp);
    dev.pbufs.relpbuf(bp);
    this.lastError = error;
    return error ? VM_PAGER_ERROR : VM_PAGER_OK;
  }

  // ------------------------------------------------------------- strategy

  /**
   * swstrategy: map drum slot `slot` to its swap device and issue the parent buffer there. The
   * device cannot go away under us: the slots being transferred are allocated on it. An unmapped
   * slot fails the buffer with EINVAL. Takes swap_data_lock briefly; may sleep (regular files).
   */
  swstrategy(bp: number, slot: number): void {
    const io = this.io;
    const m = this.swap.slotToDev(slot);
    if (m === null) {
      io.B.store(bp, 'b_error', EINVAL);
      io.B.or(bp, 'b_flags', B_ERROR);
      this.swbiodone(bp);
      return;
    }
    const f = this.swap.conf.files[m.sd];
    const sdp = this.swap.sdp(m.sd);
    this.swap.S.add(sdp, io.B.load(bp, 'b_cmd') === BUF_CMD_WRITE ? 'swd_puts' : 'swd_gets', 1);
    io.B.store(bp, 'b_dev', f.unit);
    if (f.type === VBLK) {
      // swstrategy: VHOLD the swap vnode; a write's v_numoutput moves from the drum to it
      // (vwakeup, ++); brelvp the drum; b_vp = the swap vnode.
      const vp = this.vn.swapvp(m.sd);
      this.vn.VHOLD(vp);
      if (io.B.load(bp, 'b_cmd') === BUF_CMD_WRITE) {
        this.vwakeup(bp);
        this.vn.numoutput_inc(vp);
      }
      if (this.b_vp(bp) >= 0) this.brelvp(bp);
      this.setvp(bp, vp);
      const bio2 = io.push_bio(b_bio1(bp));
      io.set_done(bio2, 'swap.swbiodone');
      io.set_offset(bio2, f.base + m.page * PAGE_SIZE);
      this.dev.dev_dstrategy(f.unit, bio2);
      return;
    }
    this.reg.sw_reg_strategy(m.sd, bp, m.page * PAGE_SIZE);
  }

  /** VOP_BMAP of swap file `sd` (regio.ts). Takes the vnode lock: may sleep. */
  VOP_BMAP(sd: number, lbn: number): { nbn: number; nra: number; error: number } {
    return this.reg.VOP_BMAP(sd, lbn);
  }
}

// The device's completion of a block-device swap transfer (its b_bio2): biodone's vwakeup of a
// write on the swap vnode, then the parent's completion. Never sleeps.
registerBioDone('swap.swbiodone', (io, bio) => {
  const sio = io.ext.get('swapio') as SwapIO | undefined;
  if (!sio) throw new ContractError('swap.swbiodone: this cpu never attached the swap I/O layer (SwapIO.of)');
  sio.intr++;
  try {
    sio.swbiodone(io.O.load(bio, 'bio_buf'));
  } finally {
    sio.intr--;
  }
});
