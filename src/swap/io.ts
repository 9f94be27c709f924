/**
 * Swap I/O: uvm_swap_put / uvm_swap_get / uvm_swap_io, swstrategy (drum slot → device block),
 * the vndbuf / vndxfer pools, and the completion context (NetBSD uvm_swap.c). The regular-file
 * path (sw_reg_strategy / sw_reg_start / sw_reg_iodone) is in regio.ts.
 *
 * A transfer uses a pbuf as the parent buffer (the kernel's bufpool buf). A block-device swap
 * pushes one bio and goes straight to the device. A regular file splits the parent into child
 * vndbufs (regio.ts).
 *
 * Contexts: uvm_swap_io / swstrategy run on a pager cpu and may sleep (getpbuf, getvndbuf,
 * getvndxfer, the vnode lock, biowait). Completions (sw_reg_iodone, swap.aio_biodone) run on the
 * cpu that completed the I/O with `intr` > 0 and must never sleep: where one would, this layer
 * throws "sleep in a completion context" (assertSleepable) instead.
 */
import type { BioLayer } from '../device/bio.js';
import { BUF_CMD_READ, BUF_CMD_WRITE, B_ERROR, B_PAGING, b_bio1 } from '../device/buf.js';
import { Devices } from '../device/disk.js';
import type { Pool } from '../shm/arena.js';
import type { StructView } from '../shm/view.js';
import { ContractError, EINVAL } from '../sync/errno.js';
import { PINTERLOCKED, type Sync } from '../sync/sync.js';
import { PAGE_SIZE, type SwapSpec, SWSLOT_BAD, VBLK, VndbufLayout, type VndbufField, VndxferLayout, type VndxferField } from './layout.js';
import { Swap } from './swapdev.js';
import { SwapRegIO } from './regio.js';

export const VM_PAGER_OK = 0;
export const VM_PAGER_PEND = 3;
export const VM_PAGER_ERROR = 4;

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
    this.reg = new SwapRegIO(this);
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

  /** Take an element off a free list (head field in swapglobals), sleeping on "swpvnd" while empty. May sleep (never in a completion context). */
  private poolGet(head: 'vnd_free' | 'vnx_free', inuse: 'vnd_inuse' | 'vnx_inuse', addr: (i: number) => number, next: (a: number) => number): number {
    const { G, g } = this.swap;
    const s = this.sync;
    s.spin_lock(this.vndLock);
    for (;;) {
      const h = G.get(g, head);
      if (h !== 0) {
        const a = addr(h - 1);
        G.set(g, head, next(a));
        G.add(g, inuse, 1);
        s.spin_unlock(this.vndLock);
        return a;
      }
      if (this.intr > 0) {
        s.spin_unlock(this.vndLock);
        this.assertSleepable(head === 'vnd_free' ? 'getvndbuf' : 'getvndxfer', 'an empty pool');
      }
      G.set(g, 'vnd_wanted', 1);
      const ch = G.addrOf(g, 'vnd_wanted');
      s.tsleep_interlock(ch);
      s.spin_unlock(this.vndLock);
      s.tsleep(ch, PINTERLOCKED, head === 'vnd_free' ? 'swpvnd' : 'swpvnx', 100);
      s.spin_lock(this.vndLock);
    }
  }

  private poolPut(head: 'vnd_free' | 'vnx_free', inuse: 'vnd_inuse' | 'vnx_inuse', index: number, setNext: (h: number) => void): void {
    const { G, g } = this.swap;
    const s = this.sync;
    s.spin_lock(this.vndLock);
    setNext(G.get(g, head));
    G.set(g, head, index + 1);
    G.add(g, inuse, -1);
    const wanted = G.get(g, 'vnd_wanted');
    G.set(g, 'vnd_wanted', 0);
    s.spin_unlock(this.vndLock);
    if (wanted) s.wakeup(G.addrOf(g, 'vnd_wanted'));
  }

  /** getvndxfer: may sleep. */
  getvndxfer(): number {
    return this.poolGet('vnx_free', 'vnx_inuse', (i) => this.xp.addr(i), (a) => this.X.load(a, 'vx_next'));
  }
  /** putvndxfer: never sleeps. */
  putvndxfer(vnx: number): void {
    this.poolPut('vnx_free', 'vnx_inuse', this.xp.index(vnx), (h) => this.X.store(vnx, 'vx_next', h));
  }
  /** getvndbuf: may sleep. */
  getvndbuf(): number {
    return this.poolGet('vnd_free', 'vnd_inuse', (i) => this.vp.addr(i), (a) => this.V.load(a, 'vb_next'));
  }
  /** putvndbuf: never sleeps. */
  putvndbuf(bp: number): void {
    this.poolPut('vnd_free', 'vnd_inuse', this.vp.index(bp), (h) => this.V.store(bp, 'vb_next', h));
  }

  // ------------------------------------------------------------- put / get

  /**
   * uvm_swap_put: write `npages` pages at arena address `data` to the drum slots from `swslot`.
   * Synchronous (returns VM_PAGER_OK or VM_PAGER_ERROR) or asynchronous (VM_PAGER_PEND; the
   * registered bio_done `aioDone` runs on the completing cpu with b_bio1 and must relpbuf; its
   * bio_caller1 is `cookie`, bio_caller2 the slot). May sleep.
   */
  uvm_swap_put(swslot: number, data: number, npages: number, sync: boolean, aioDone = '', cookie = 0): number {
    return this.uvm_swap_io(data, swslot, npages, true, sync ? '' : aioDone, cookie);
  }

  /**
   * uvm_swap_get: read one page from `swslot` into `data`, synchronously; the page is no longer
   * only in swap (swpgonly--), unless the read fails. May sleep.
   */
  uvm_swap_get(data: number, swslot: number): number {
    const sw = this.swap;
    sw.G.add(sw.g, 'nswget', 1);
    if (swslot === SWSLOT_BAD) return VM_PAGER_ERROR;
    sw.lockData();
    sw.G.add(sw.g, 'swpgonly', -1);
    sw.unlockData();
    const result = this.uvm_swap_io(data, swslot, 1, false, '', 0);
    if (result !== VM_PAGER_OK && result !== VM_PAGER_PEND) {
      sw.lockData();
      sw.G.add(sw.g, 'swpgonly', 1);
      sw.unlockData();
    }
    return result;
  }

  /** uvm_swap_io: one transfer through /dev/drum. Async when `aioDone` names a completion. May sleep. */
  uvm_swap_io(data: number, startslot: number, npages: number, write: boolean, aioDone: string, cookie: number): number {
    const dev = this.dev;
    const io = this.io;
    const bp = dev.pbufs.getpbuf();
    if (bp === null) throw new ContractError('uvm_swap_io: no pbuf');
    const B = io.B;
    B.store(bp, 'b_cmd', write ? BUF_CMD_WRITE : BUF_CMD_READ);
    B.store(bp, 'b_data', data);
    B.store(bp, 'b_bcount', npages * PAGE_SIZE);
    B.store(bp, 'b_bufsize', npages * PAGE_SIZE);
    B.store(bp, 'b_resid', npages * PAGE_SIZE);
    B.store(bp, 'b_error', 0);
    B.store(bp, 'b_flags', B_PAGING);
    const bio1 = b_bio1(bp);
    if (aioDone) {
      io.O.store(bio1, 'bio_caller1', cookie);
      io.O.store(bio1, 'bio_caller2', startslot);
      io.set_done(bio1, aioDone);
      this.swstrategy(bp, startslot);
      return VM_PAGER_PEND;
    }
    io.setup_sync(bp);
    this.swstrategy(bp, startslot);
    const error = io.biowait(bio1, write ? 'swpout' : 'swpin');
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
      io.biodone(b_bio1(bp));
      return;
    }
    const f = this.swap.conf.files[m.sd];
    const sdp = this.swap.sdp(m.sd);
    this.swap.S.add(sdp, io.B.load(bp, 'b_cmd') === BUF_CMD_WRITE ? 'swd_puts' : 'swd_gets', 1);
    io.B.store(bp, 'b_dev', f.unit);
    if (f.type === VBLK) {
      const bio2 = io.push_bio(b_bio1(bp));
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
