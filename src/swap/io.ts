/**
 * Swap I/O: uvm_swap_put / uvm_swap_get / uvm_swap_io, swstrategy (drum slot → device block) and
 * the regular-file path sw_reg_strategy / sw_reg_start / sw_reg_iodone (NetBSD uvm_swap.c, itself
 * "more or less a copy of vnd.c").
 *
 * A transfer uses a pbuf as the parent buffer (the kernel's bufpool buf). A block-device swap
 * pushes one bio and goes straight to the device. A regular file splits the parent into child
 * vndbufs along the file's bmap runs, queues them on swd_tab in block order, and sw_reg_start
 * issues them while fewer than swd_maxactive are active. The parent's vndxfer is marked VX_BUSY
 * while children are still being created, so that the first fast completion cannot finish the
 * parent early: whoever sees (not VX_BUSY, nothing pending) under swd_tablock completes it, once.
 *
 * Contexts: uvm_swap_io / sw_reg_strategy run on a pager cpu and may sleep (getpbuf, getvndbuf,
 * getvndxfer, biowait). sw_reg_iodone runs on the device worker that completed the child and
 * never sleeps: it takes spinlocks only and calls sw_reg_start, which only queues requests on the
 * device (disk_strategy never sleeps).
 */
import { type BioLayer, registerBioDone } from '../device/bio.js';
import { BUF_CMD_DONE, BUF_CMD_READ, BUF_CMD_WRITE, B_ERROR, B_PAGING, b_bio1 } from '../device/buf.js';
import { Devices } from '../device/disk.js';
import type { Pool } from '../shm/arena.js';
import type { StructView } from '../shm/view.js';
import { ContractError, EINVAL, EIO } from '../sync/errno.js';
import { PINTERLOCKED, type Sync } from '../sync/sync.js';
import { PAGE_SIZE, type SwapSpec, SWSLOT_BAD, VBLK, VX_BUSY, VndbufLayout, type VndbufField, VndxferLayout, type VndxferField } from './layout.js';
import { Swap } from './swapdev.js';
import { bugs } from '../race/switch.js';

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
  private readonly vp: Pool<VndbufField>;
  private readonly vndLock: number;
  /** errno of the last failed uvm_swap_io on this cpu. */
  lastError = 0;

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
  }

  // ------------------------------------------------------------- vndbuf / vndxfer pools

  /** Take an element off a free list (head field in swapglobals), sleeping on "swpvnd" while empty. May sleep. */
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
    this.sw_reg_strategy(m.sd, bp, m.page * PAGE_SIZE);
  }

  /** VOP_BMAP: device byte offset of file block `lbn` and how many following blocks are contiguous (nra). */
  VOP_BMAP(sd: number, lbn: number): { nbn: number; nra: number; error: number } {
    const f = this.swap.conf.files[sd];
    if (lbn < 0 || lbn >= f.nfb) return { nbn: -1, nra: 0, error: EIO };
    const i32 = this.sync.arena.i32;
    const base = this.sync.arena.region(`swap.bmap.${sd}`).offset >>> 2;
    const nbn = i32[base + lbn];
    let nra = 0;
    while (lbn + nra + 1 < f.nfb && i32[base + lbn + nra + 1] === nbn + (nra + 1) * f.bsize) nra++;
    return { nbn, nra, error: 0 };
  }

  /**
   * sw_reg_strategy: split the parent `bp` (file byte offset `byteoff`) into children along the
   * bmap runs, each queued in block order and started by sw_reg_start. The vndxfer stays VX_BUSY
   * until every child is queued. May sleep (getvndxfer, getvndbuf).
   */
  sw_reg_strategy(sd: number, bp: number, byteoff: number): void {
    const { X, V, io } = this;
    const sw = this.swap;
    const f = sw.conf.files[sd];
    const sdp = sw.sdp(sd);
    const tab = sw.S.addrOf(sdp, 'swd_tablock');
    const vnx = this.getvndxfer();
    // Bug switch swap-vx-busy-missing: the transfer is not marked busy while its children are
    // issued, so a child completing before the loop ends can finish the parent, and "out" again.
    X.store(vnx, 'vx_flags', bugs.any && bugs.enabled('swap-vx-busy-missing') ? 0 : VX_BUSY);
    X.store(vnx, 'vx_error', 0);
    X.store(vnx, 'vx_pending', 0);
    X.store(vnx, 'vx_bp', bp);
    X.store(vnx, 'vx_sdp', sd);
    X.store(vnx, 'vx_done', 0);
    const bcount = io.B.load(bp, 'b_bcount');
    io.B.store(bp, 'b_resid', bcount);
    let addr = io.B.load(bp, 'b_data');
    const cmd = io.B.load(bp, 'b_cmd');
    let done = false;
    for (let resid = bcount; resid > 0 && !done; ) {
      const { nbn, nra, error } = this.VOP_BMAP(sd, Math.floor(byteoff / f.bsize));
      if (error) {
        this.sync.spin_lock(tab);
        X.set(vnx, 'vx_error', error);
        this.sync.spin_unlock(tab);
        break;
      }
      const off = byteoff % f.bsize;
      const sz = Math.min((1 + nra) * f.bsize - off, resid);
      const nbp = this.getvndbuf();
      V.store(nbp, 'b_cmd', cmd);
      V.store(nbp, 'b_flags', 0);
      V.store(nbp, 'b_bcount', sz);
      V.store(nbp, 'b_bufsize', sz);
      V.store(nbp, 'b_resid', sz);
      V.store(nbp, 'b_error', 0);
      V.store(nbp, 'b_data', addr);
      V.store(nbp, 'b_dev', f.unit);
      V.store(nbp, 'b_ops', 0);
      V.store(nbp, 'vb_off', nbn + off);
      V.store(nbp, 'vb_xfer', vnx);
      V.store(nbp, 'vb_sdp', sd);
      io.reinitbufbio(nbp);
      io.set_done(b_bio1(nbp), 'swap.sw_reg_iodone');
      this.sync.spin_lock(tab);
      if (X.get(vnx, 'vx_error') !== 0) {
        this.sync.spin_unlock(tab);
        io.set_done(b_bio1(nbp), '');
        this.putvndbuf(nbp);
        done = true;
        break;
      }
      X.set(vnx, 'vx_pending', X.get(vnx, 'vx_pending') + 1);
      this.disksort_blkno(sdp, nbp);
      this.sync.spin_unlock(tab);
      this.sw_reg_start(sd);
      byteoff += sz;
      addr += sz;
      resid -= sz;
    }
    // out: the transfer is no longer busy; complete it here if every child already returned.
    this.sync.spin_lock(tab);
    X.set(vnx, 'vx_flags', X.get(vnx, 'vx_flags') & ~VX_BUSY);
    const finish = X.get(vnx, 'vx_pending') === 0;
    const err = X.get(vnx, 'vx_error');
    this.sync.spin_unlock(tab);
    if (finish) this.xferdone(vnx, bp, err);
  }

  /** Insert child `nbp` into swd_tab in ascending device offset. Caller holds swd_tablock. */
  private disksort_blkno(sdp: number, nbp: number): void {
    const { V } = this;
    const S = this.swap.S;
    const key = V.get(nbp, 'vb_off');
    let prev = 0;
    let cur = S.get(sdp, 'swd_tab');
    while (cur !== 0 && V.get(this.vp.addr(cur - 1), 'vb_off') <= key) {
      prev = cur;
      cur = V.get(this.vp.addr(cur - 1), 'vb_actnext');
    }
    V.set(nbp, 'vb_actnext', cur);
    const me = this.vp.index(nbp) + 1;
    if (prev === 0) S.set(sdp, 'swd_tab', me);
    else V.set(this.vp.addr(prev - 1), 'vb_actnext', me);
    S.set(sdp, 'swd_qlen', S.get(sdp, 'swd_qlen') + 1);
  }

  /**
   * sw_reg_start: issue queued children while swd_active < swd_maxactive. SWF_BUSY (swd_busy,
   * under swd_tablock) keeps one starter at a time; the starter re-checks after every issue, so
   * a completion that finds it busy leaves nothing stranded. Takes swd_tablock; never sleeps.
   */
  sw_reg_start(sd: number): void {
    const S = this.swap.S;
    const sdp = this.swap.sdp(sd);
    const tab = S.addrOf(sdp, 'swd_tablock');
    const s = this.sync;
    const unit = this.swap.conf.files[sd].unit;
    if (bugs.any && bugs.enabled('swap-busy-flag-race')) return this.sw_reg_start_racy(sd);
    s.spin_lock(tab);
    if (S.get(sdp, 'swd_busy')) {
      s.spin_unlock(tab);
      return;
    }
    S.set(sdp, 'swd_busy', 1);
    while (S.get(sdp, 'swd_active') < S.get(sdp, 'swd_maxactive')) {
      const head = S.get(sdp, 'swd_tab');
      if (head === 0) break;
      const bp = this.vp.addr(head - 1);
      S.set(sdp, 'swd_tab', this.V.get(bp, 'vb_actnext'));
      S.set(sdp, 'swd_qlen', S.get(sdp, 'swd_qlen') - 1);
      const active = S.get(sdp, 'swd_active') + 1;
      S.set(sdp, 'swd_active', active);
      if (active > S.load(sdp, 'swd_maxseen')) S.store(sdp, 'swd_maxseen', active);
      s.spin_unlock(tab);
      S.add(sdp, 'swd_children', 1);
      const bio2 = this.io.push_bio(b_bio1(bp));
      this.io.set_offset(bio2, this.V.load(bp, 'vb_off'));
      this.dev.dev_dstrategy(unit, bio2);
      s.spin_lock(tab);
    }
    S.set(sdp, 'swd_busy', 0);
    s.spin_unlock(tab);
  }

  /**
   * Bug switch swap-busy-flag-race (NetBSD uvm_swap "XXXAD locking"): the SWF_BUSY recursion flag
   * is a plain read-test-set outside swd_tablock, and it is cleared after the lock is dropped. A
   * starter that found the queue empty and has not cleared the flag yet makes a new child's
   * starter return at once: that child stays queued with nobody to start it. Never sleeps.
   */
  private sw_reg_start_racy(sd: number): void {
    const S = this.swap.S;
    const sdp = this.swap.sdp(sd);
    const tab = S.addrOf(sdp, 'swd_tablock');
    const s = this.sync;
    const unit = this.swap.conf.files[sd].unit;
    if (S.load(sdp, 'swd_busy')) return;
    s.point(s.intern('sw_reg_start.tested'), sdp);
    S.store(sdp, 'swd_busy', 1);
    s.spin_lock(tab);
    while (S.get(sdp, 'swd_active') < S.get(sdp, 'swd_maxactive')) {
      const head = S.get(sdp, 'swd_tab');
      if (head === 0) break;
      const bp = this.vp.addr(head - 1);
      S.set(sdp, 'swd_tab', this.V.get(bp, 'vb_actnext'));
      S.set(sdp, 'swd_qlen', S.get(sdp, 'swd_qlen') - 1);
      const active = S.get(sdp, 'swd_active') + 1;
      S.set(sdp, 'swd_active', active);
      if (active > S.load(sdp, 'swd_maxseen')) S.store(sdp, 'swd_maxseen', active);
      s.spin_unlock(tab);
      S.add(sdp, 'swd_children', 1);
      const bio2 = this.io.push_bio(b_bio1(bp));
      this.io.set_offset(bio2, this.V.load(bp, 'vb_off'));
      this.dev.dev_dstrategy(unit, bio2);
      s.spin_lock(tab);
    }
    s.spin_unlock(tab);
    s.point(s.intern('sw_reg_start.clearing'), sdp);
    S.store(sdp, 'swd_busy', 0);
  }

  /**
   * sw_reg_iodone: a child finished. Under swd_tablock: account its bytes and error to the
   * transfer, decide whether the parent is complete (not VX_BUSY and nothing pending), drop
   * swd_active. Then free the child, complete the parent (once), and start the next child.
   * Runs on the completing cpu; never sleeps. A short child without an error counts as EIO
   * (otherwise the parent's resid would never reach 0).
   */
  sw_reg_iodone(bio: number): void {
    const { V, X, io } = this;
    const S = this.swap.S;
    const bp = io.O.load(bio, 'bio_buf');
    const vnx = V.load(bp, 'vb_xfer');
    const sd = V.load(bp, 'vb_sdp');
    const sdp = this.swap.sdp(sd);
    const pbp = X.load(vnx, 'vx_bp');
    const bcount = V.load(bp, 'b_bcount');
    const cresid = V.load(bp, 'b_resid');
    let error = V.load(bp, 'b_flags') & B_ERROR ? V.load(bp, 'b_error') || EIO : 0;
    if (!error && cresid > 0) error = EIO;
    if (error) S.add(sdp, 'swd_errors', 1);
    V.store(bp, 'b_cmd', BUF_CMD_DONE);
    const tab = S.addrOf(sdp, 'swd_tablock');
    const s = this.sync;
    s.spin_lock(tab);
    io.B.store(pbp, 'b_resid', io.B.load(pbp, 'b_resid') - (bcount - cresid));
    const pending = X.get(vnx, 'vx_pending') - 1;
    X.set(vnx, 'vx_pending', pending);
    if (error) X.set(vnx, 'vx_error', error);
    const vxerr = X.get(vnx, 'vx_error');
    const busy = (X.get(vnx, 'vx_flags') & VX_BUSY) !== 0;
    let finish = false;
    if (vxerr !== 0) finish = !busy && pending === 0;
    else if (io.B.load(pbp, 'b_resid') === 0) {
      if (pending !== 0) {
        s.spin_unlock(tab);
        throw new ContractError(`sw_reg_iodone: parent transfer done with ${pending} children still pending`);
      }
      finish = !busy;
    }
    S.set(sdp, 'swd_active', S.get(sdp, 'swd_active') - 1);
    s.spin_unlock(tab);
    this.putvndbuf(bp);
    if (finish) this.xferdone(vnx, pbp, vxerr);
    this.sw_reg_start(sd);
  }

  /** Complete the parent of transfer `vnx` (exactly once: a second completion is counted as a violation). */
  private xferdone(vnx: number, pbp: number, error: number): void {
    const { G, g } = this.swap;
    if (this.X.add(vnx, 'vx_done', 1) !== 0) {
      G.add(g, 'sg_xfer_double', 1);
      return;
    }
    G.add(g, 'sg_xfer_done', 1);
    if (error) {
      this.io.B.store(pbp, 'b_error', error);
      this.io.B.or(pbp, 'b_flags', B_ERROR);
    }
    this.putvndxfer(vnx);
    this.io.biodone(b_bio1(pbp));
  }
}

registerBioDone('swap.sw_reg_iodone', (io, bio) => {
  const sio = io.ext.get('swapio') as SwapIO | undefined;
  if (!sio) throw new ContractError('sw_reg_iodone: this cpu never attached the swap I/O layer (SwapIO.of)');
  sio.sw_reg_iodone(bio);
});
