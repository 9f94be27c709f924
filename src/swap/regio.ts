/**
 * Regular-file swap: sw_reg_strategy / sw_reg_start / sw_reg_iodone (NetBSD uvm_swap.c, itself
 * "more or less a copy of vnd.c"), the swap file's vnode lock, and the drain SWAP_OFF waits on.
 *
 * A transfer on a regular file is split into child vndbufs along the file's bmap runs, queued
 * on swd_tab in block order, and issued by sw_reg_start while fewer than swd_maxactive are
 * active. The parent's vndxfer is VX_BUSY while children are still being created, so that the
 * first fast completion cannot finish it early: whoever sees (not VX_BUSY, nothing pending)
 * under swd_tablock completes it, once.
 *
 * The vnode lock (swd_vlock, a sleep mutex; kiolab's own, standing for a file system whose
 * VOP_BMAP / VOP_STRATEGY may sleep): VOP_BMAP reads the block map under it and VOP_STRATEGY
 * issues a child under it. So issuing a child may sleep, which makes the seed's sw_reg_start
 * from sw_reg_iodone a bug (switch swap-iodone-inline), and sw_reg_iodone, which runs in the completion context of the device cpu, must never
 * issue one that way (NetBSD moved sw_reg_iodone to the "swapiod" workqueue thread for this).
 * Here a completion only *tries* the lock (sw_reg_kick): it sets swd_restart, then try-locks;
 * every holder checks swd_restart after it unlocks (vn_unlock) and starts the queue itself.
 * Set-then-trylock against unlock-then-check: one of the two always starts the queue.
 *
 * Contexts: sw_reg_strategy runs on a pager cpu and may sleep (getvndxfer, getvndbuf, the vnode
 * lock). sw_reg_iodone runs on the completing cpu with SwapIO.intr > 0; a sleep there is a
 * broken contract ("sleep in a completion context"), thrown where the sleep would happen.
 *
 * Vnodes: a child is bgetvp'd to the disk's device vnode (what VOP_BMAP returns), counted in
 * its v_numoutput when a write starts (sw_reg_start), vwakeup'd at its biodone and brelvp'd in
 * sw_reg_iodone. The parent stays on the drum vnode.
 *
 * Teardown: a child counts in swd_inflight from the moment it is queued until its
 * sw_reg_iodone has touched the swapdev for the last time. SWAP_OFF drains it (sw_reg_drain)
 * before it frees the device and poisons the device's I/O state, which every swd_tablock
 * section here checks first: a late touch is a use after free.
 */
import { registerBioDone } from '../device/bio.js';
import { BUF_CMD_DONE, BUF_CMD_WRITE, B_ERROR, b_bio1 } from '../device/buf.js';
import { isPoisoned } from '../sync/poison.js';
import { registerWakeCondition } from '../sync/wakecond.js';
import { bugs } from '../sync/switches.js';
import { ContractError, EIO } from '../sync/errno.js';
import { BmapLayout, SwapdevLayout, VX_BUSY } from './layout.js';
import type { SwapIO } from './io.js';

// SWAP_OFF's drain sleeps on swd_inflight until it is 0 (the channel is that field's address).
registerWakeCondition('swdrain', (arena, ident) => arena.view(SwapdevLayout).load(ident - SwapdevLayout.off.swd_inflight * 4, 'swd_inflight') === 0);

export class SwapRegIO {
  constructor(private readonly sio: SwapIO) {}

  // ------------------------------------------------------------- the vnode lock

  /**
   * vn_lock: take swap file `sd`'s vnode lock for `fn`. May sleep; in a completion context a
   * contended lock throws ("sleep in a completion context") instead of blocking.
   */
  vn_lock(sd: number, fn: string): void {
    const s = this.sio.sync;
    const lk = this.sio.swap.S.addrOf(this.sio.swap.sdp(sd), 'swd_vlock');
    if (this.sio.intr > 0) {
      if (s.trylock(lk)) return;
      // The owner is read after the failed try-lock: it may have let go in between.
      const owner = s.lock_owner(lk);
      const by = owner >= 0 ? `held by cpu ${owner}` : s.lock_busy(lk) ? 'held by the main thread' : 'held by another cpu, released since';
      this.sio.assertSleepable(fn, `${s.lockName(lk)}, the vnode lock of ${this.sio.swap.conf.files[sd].path} (${by})`);
    }
    s.lock(lk);
  }

  /**
   * vn_unlock: release the vnode lock (held), then start the queue if a completion left it to
   * us (swd_restart). Never sleeps.
   */
  vn_unlock(sd: number): void {
    const s = this.sio.sync;
    const S = this.sio.swap.S;
    const sdp = this.sio.swap.sdp(sd);
    const lk = S.addrOf(sdp, 'swd_vlock');
    for (;;) {
      s.unlock(lk);
      if (S.load(sdp, 'swd_restart') === 0) return;
      if (!s.trylock(lk)) return; // its new holder checks swd_restart when it unlocks
      S.store(sdp, 'swd_restart', 0);
      this.startHeld(sd, lk);
    }
  }

  /** The start loop with vnode lock `lk` held by the caller; a broken contract inside releases it before it propagates. Never sleeps. */
  private startHeld(sd: number, lk: number): void {
    try {
      this.startLoop(sd, true);
    } catch (e) {
      this.sio.sync.unlock(lk);
      throw e;
    }
  }

  /** VOP_BMAP: device byte offset of file block `lbn` and how many following blocks are contiguous (nra). Takes the vnode lock: may sleep. */
  VOP_BMAP(sd: number, lbn: number): { nbn: number; nra: number; error: number } {
    const f = this.sio.swap.conf.files[sd];
    this.vn_lock(sd, 'VOP_BMAP');
    try {
      if (lbn < 0 || lbn >= f.nfb) return { nbn: -1, nra: 0, error: EIO };
      const arena = this.sio.sync.arena;
      const BM = arena.view(BmapLayout);
      const base = arena.region(`swap.bmap.${sd}`).offset;
      const nbn = BM.get(base + 4 * lbn, 'bm_nbn');
      let nra = 0;
      while (lbn + nra + 1 < f.nfb && BM.get(base + 4 * (lbn + nra + 1), 'bm_nbn') === nbn + (nra + 1) * f.bsize) nra++;
      return { nbn, nra, error: 0 };
    } finally {
      this.vn_unlock(sd);
    }
  }

  /**
   * VOP_STRATEGY of child `bp` on file `sd`: under the vnode lock, count a write in its b_vp's
   * v_numoutput (sw_reg_start's `bp->b_vp->v_numoutput++`) and queue the child on the device. May sleep unless `held` (the caller holds the lock).
   */
  private VOP_STRATEGY(sd: number, bp: number, held: boolean): void {
    const { io, V } = this.sio;
    if (!held) this.vn_lock(sd, 'sw_reg_start');
    if (V.load(bp, 'b_cmd') === BUF_CMD_WRITE) this.sio.vn.numoutput_inc(this.sio.b_vp(bp));
    const bio2 = io.push_bio(b_bio1(bp));
    io.set_offset(bio2, V.load(bp, 'vb_off'));
    this.sio.dev.dev_dstrategy(this.sio.swap.conf.files[sd].unit, bio2);
    if (!held) this.vn_unlock(sd);
  }

  // ------------------------------------------------------------- swd_tablock and liveness

  /** Take swd_tablock of `sd`; a torn-down (poisoned) device is released and reported as a use after free. Never sleeps. */
  private tabLock(sd: number, fn: string): void {
    const S = this.sio.swap.S;
    const sdp = this.sio.swap.sdp(sd);
    const tab = S.addrOf(sdp, 'swd_tablock');
    this.sio.sync.spin_lock(tab);
    if (!isPoisoned(this.sio.sync.arena, S.addrOf(sdp, 'swd_tab'))) return;
    this.sio.sync.spin_unlock(tab);
    throw new ContractError(`use after free: ${fn} touched swapdev ${this.sio.swap.conf.files[sd].path} after SWAP_OFF tore it down (its I/O state at ${S.addrOf(sdp, 'swd_tab')} is poisoned): child I/O was still in flight`);
  }

  private tabUnlock(sd: number): void {
    this.sio.sync.spin_unlock(this.sio.swap.S.addrOf(this.sio.swap.sdp(sd), 'swd_tablock'));
  }

  // ------------------------------------------------------------- strategy

  /**
   * sw_reg_strategy: split the parent `bp` (file byte offset `byteoff`) into children along the
   * bmap runs, each queued in block order and started by sw_reg_start. The vndxfer stays VX_BUSY
   * until every child is queued. May sleep (getvndxfer, getvndbuf, the vnode lock).
   */
  sw_reg_strategy(sd: number, bp: number, byteoff: number): void {
    const sio = this.sio;
    const { X, V, io } = sio;
    const sw = sio.swap;
    const f = sw.conf.files[sd];
    const sdp = sw.sdp(sd);
    const vnx = sio.getvndxfer();
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
    for (let resid = bcount; resid > 0; ) {
      const { nbn, nra, error } = this.VOP_BMAP(sd, Math.floor(byteoff / f.bsize));
      if (error) {
        this.tabLock(sd, 'sw_reg_strategy');
        X.set(vnx, 'vx_error', error);
        this.tabUnlock(sd);
        break;
      }
      const off = byteoff % f.bsize;
      const sz = Math.min((1 + nra) * f.bsize - off, resid);
      const nbp = sio.getvndbuf();
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
      this.tabLock(sd, 'sw_reg_strategy');
      if (X.get(vnx, 'vx_error') !== 0) {
        this.tabUnlock(sd);
        io.set_done(b_bio1(nbp), '');
        sio.putvndbuf(nbp);
        break;
      }
      X.set(vnx, 'vx_pending', X.get(vnx, 'vx_pending') + 1);
      sio.bgetvp(sio.vn.devvp(f.unit), nbp); // sw_reg_strategy: vx_pending++, bgetvp, disksort
      sw.S.add(sdp, 'swd_inflight', 1);
      this.disksort_blkno(sdp, nbp);
      this.tabUnlock(sd);
      this.sw_reg_start(sd);
      byteoff += sz;
      addr += sz;
      resid -= sz;
    }
    // out: the transfer is no longer busy; complete it here if every child already returned.
    this.tabLock(sd, 'sw_reg_strategy');
    X.set(vnx, 'vx_flags', X.get(vnx, 'vx_flags') & ~VX_BUSY);
    const finish = X.get(vnx, 'vx_pending') === 0;
    const err = X.get(vnx, 'vx_error');
    this.tabUnlock(sd);
    if (finish) this.xferdone(vnx, bp, err);
  }

  /** Insert child `nbp` into swd_tab in ascending device offset. Caller holds swd_tablock. */
  private disksort_blkno(sdp: number, nbp: number): void {
    const { V, vp } = this.sio;
    const S = this.sio.swap.S;
    const key = V.get(nbp, 'vb_off');
    let prev = 0;
    let cur = S.get(sdp, 'swd_tab');
    while (cur !== 0 && V.get(vp.addr(cur - 1), 'vb_off') <= key) {
      prev = cur;
      cur = V.get(vp.addr(cur - 1), 'vb_actnext');
    }
    V.set(nbp, 'vb_actnext', cur);
    const me = vp.index(nbp) + 1;
    if (prev === 0) S.set(sdp, 'swd_tab', me);
    else V.set(vp.addr(prev - 1), 'vb_actnext', me);
    S.set(sdp, 'swd_qlen', S.get(sdp, 'swd_qlen') + 1);
  }

  // ------------------------------------------------------------- start

  /** sw_reg_start: issue queued children while swd_active < swd_maxactive. May sleep (the vnode lock): never from a completion. */
  sw_reg_start(sd: number): void {
    this.startLoop(sd, false);
  }

  /**
   * sw_reg_kick: a completion's start of the queue. Leaves it to the vnode lock's holder when
   * the lock is taken (swd_restart, see vn_unlock). Never sleeps.
   */
  sw_reg_kick(sd: number): void {
    const s = this.sio.sync;
    const S = this.sio.swap.S;
    const sdp = this.sio.swap.sdp(sd);
    const lk = S.addrOf(sdp, 'swd_vlock');
    S.store(sdp, 'swd_restart', 1);
    if (!s.trylock(lk)) return;
    S.store(sdp, 'swd_restart', 0);
    this.startHeld(sd, lk);
    this.vn_unlock(sd);
  }

  /** Dequeue the head child under swd_tablock (held) and count it active; 0 when none may start. */
  private dequeue(sdp: number): number {
    const S = this.sio.swap.S;
    if (S.get(sdp, 'swd_active') >= S.get(sdp, 'swd_maxactive')) return 0;
    const head = S.get(sdp, 'swd_tab');
    if (head === 0) return 0;
    const bp = this.sio.vp.addr(head - 1);
    S.set(sdp, 'swd_tab', this.sio.V.get(bp, 'vb_actnext'));
    S.set(sdp, 'swd_qlen', S.get(sdp, 'swd_qlen') - 1);
    const active = S.get(sdp, 'swd_active') + 1;
    S.set(sdp, 'swd_active', active);
    if (active > S.load(sdp, 'swd_maxseen')) S.store(sdp, 'swd_maxseen', active);
    S.add(sdp, 'swd_children', 1);
    return bp;
  }

  /**
   * The start loop. SWF_BUSY (swd_busy, under swd_tablock) keeps one starter at a time; the
   * starter re-checks after every issue, so a caller that finds it busy leaves nothing
   * stranded. Takes swd_tablock; may sleep unless `held` (the caller holds the vnode lock).
   */
  private startLoop(sd: number, held: boolean): void {
    if (bugs.any && bugs.enabled('swap-busy-flag-race')) return this.startLoopRacy(sd, held);
    const S = this.sio.swap.S;
    const sdp = this.sio.swap.sdp(sd);
    this.tabLock(sd, 'sw_reg_start');
    if (S.get(sdp, 'swd_busy')) {
      this.tabUnlock(sd);
      return;
    }
    S.set(sdp, 'swd_busy', 1);
    for (let bp = this.dequeue(sdp); bp !== 0; bp = this.dequeue(sdp)) {
      this.tabUnlock(sd);
      this.VOP_STRATEGY(sd, bp, held);
      this.tabLock(sd, 'sw_reg_start');
    }
    S.set(sdp, 'swd_busy', 0);
    this.tabUnlock(sd);
  }

  /**
   * Bug switch swap-busy-flag-race (NetBSD uvm_swap "XXXAD locking"): the SWF_BUSY recursion flag
   * is a plain read-test-set outside swd_tablock, and it is cleared after the lock is dropped. A
   * starter that found the queue empty and has not cleared the flag yet makes a new child's
   * starter return at once: that child stays queued with nobody to start it.
   */
  private startLoopRacy(sd: number, held: boolean): void {
    const S = this.sio.swap.S;
    const sdp = this.sio.swap.sdp(sd);
    const s = this.sio.sync;
    if (S.load(sdp, 'swd_busy')) return;
    S.store(sdp, 'swd_busy', 1);
    this.tabLock(sd, 'sw_reg_start');
    for (let bp = this.dequeue(sdp); bp !== 0; bp = this.dequeue(sdp)) {
      this.tabUnlock(sd);
      this.VOP_STRATEGY(sd, bp, held);
      this.tabLock(sd, 'sw_reg_start');
    }
    this.tabUnlock(sd);
    S.store(sdp, 'swd_busy', 0);
  }

  // ------------------------------------------------------------- completion

  /**
   * sw_reg_iodone: a child finished. Under swd_tablock: account its bytes and error to the
   * transfer, decide whether the parent is complete (not VX_BUSY and nothing pending), drop
   * swd_active. Then free the child, complete the parent (once), start the next child
   * (sw_reg_kick), and leave swd_inflight: the last touch of the swapdev. Runs in a completion
   * context; never sleeps. A short child without an error counts as EIO (otherwise the parent's
   * resid would never reach 0).
   */
  sw_reg_iodone(bio: number): void {
    const { V, X, io } = this.sio;
    const S = this.sio.swap.S;
    const s = this.sio.sync;
    const bp = io.O.load(bio, 'bio_buf');
    const vnx = V.load(bp, 'vb_xfer');
    const sd = V.load(bp, 'vb_sdp');
    const sdp = this.sio.swap.sdp(sd);
    const pbp = X.load(vnx, 'vx_bp');
    const bcount = V.load(bp, 'b_bcount');
    const cresid = V.load(bp, 'b_resid');
    const wrote = V.load(bp, 'b_cmd') === BUF_CMD_WRITE;
    let error = V.load(bp, 'b_flags') & B_ERROR ? V.load(bp, 'b_error') || EIO : 0;
    if (!error && cresid > 0) error = EIO;
    // NetBSD 1.4's biodone: vwakeup of a write before the B_CALL iodone.
    if (wrote) this.sio.vwakeup(bp);
    V.store(bp, 'b_cmd', BUF_CMD_DONE);
    this.tabLock(sd, 'sw_reg_iodone');
    if (error) S.add(sdp, 'swd_errors', 1);
    io.B.store(pbp, 'b_resid', io.B.load(pbp, 'b_resid') - (bcount - cresid));
    const pending = X.get(vnx, 'vx_pending') - 1;
    X.set(vnx, 'vx_pending', pending);
    if (error) X.set(vnx, 'vx_error', error);
    // sw_reg_iodone: brelvp before the parent may be completed (the seed does it at splbio, before
    // deciding): once the parent's biodone has run, nothing of the transfer may still hold a vnode.
    try {
      this.sio.brelvp(bp);
    } catch (e) {
      this.tabUnlock(sd);
      throw e;
    }
    const vxerr = X.get(vnx, 'vx_error');
    const busy = (X.get(vnx, 'vx_flags') & VX_BUSY) !== 0;
    let finish = false;
    if (vxerr !== 0) finish = !busy && pending === 0;
    else if (io.B.load(pbp, 'b_resid') === 0) {
      if (pending !== 0) {
        this.tabUnlock(sd);
        throw new ContractError(`sw_reg_iodone: parent transfer done with ${pending} children still pending`);
      }
      finish = !busy;
    }
    S.set(sdp, 'swd_active', S.get(sdp, 'swd_active') - 1);
    this.tabUnlock(sd);
    this.sio.putvndbuf(bp);
    if (finish) this.xferdone(vnx, pbp, vxerr);
    // Bug switch swap-iodone-inline: start the next child with sw_reg_start itself, which may
    // sleep on the vnode lock, here in the completion context (NetBSD's 1.x sw_reg_iodone).
    if (bugs.any && bugs.enabled('swap-iodone-inline')) this.sw_reg_start(sd);
    else this.sw_reg_kick(sd);
    if (S.sub(sdp, 'swd_inflight', 1) === 1) s.wakeup(S.addrOf(sdp, 'swd_inflight'));
  }

  /** Complete the parent of transfer `vnx` (exactly once: a second completion is counted as a violation). Never sleeps. */
  xferdone(vnx: number, pbp: number, error: number): void {
    const { G, g } = this.sio.swap;
    const { io } = this.sio;
    if (this.sio.X.add(vnx, 'vx_done', 1) !== 0) {
      G.add(g, 'sg_xfer_double', 1);
      return;
    }
    G.add(g, 'sg_xfer_done', 1);
    if (error) {
      io.B.store(pbp, 'b_error', error);
      io.B.or(pbp, 'b_flags', B_ERROR);
    }
    this.sio.putvndxfer(vnx);
    this.sio.swbiodone(pbp);
  }

  // ------------------------------------------------------------- drain

  /**
   * sw_reg_drain: wait until no child of device `sd` is queued, active, or still in its
   * completion (swd_inflight 0), so that the swapdev may be freed. Sleeps on "swdrain" (woken by
   * the last sw_reg_iodone). May sleep; no lock held.
   */
  sw_reg_drain(sd: number): void {
    const S = this.sio.swap.S;
    const sdp = this.sio.swap.sdp(sd);
    this.sio.assertSleepable('sw_reg_drain', 'swd_inflight');
    if (S.load(sdp, 'swd_inflight') !== 0) this.sio.swap.G.add(this.sio.swap.g, 'sg_drain_waits', 1);
    this.sio.sync.tsleep_until(S.addrOf(sdp, 'swd_inflight'), 'swdrain', () => S.load(sdp, 'swd_inflight') === 0);
  }
}

registerBioDone('swap.sw_reg_iodone', (io, bio) => {
  const sio = io.ext.get('swapio') as SwapIO | undefined;
  if (!sio) throw new ContractError('sw_reg_iodone: this cpu never attached the swap I/O layer (SwapIO.of)');
  sio.intr++;
  try {
    sio.reg.sw_reg_iodone(bio);
  } finally {
    sio.intr--;
  }
});
