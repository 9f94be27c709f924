/**
 * Buffer I/O: vn_strategy, bread/breadn/breadcb, bwrite/bawrite/bdwrite, bdirty/bundirty/bheavy,
 * brelse/bqrelse with the reference's queue placement rules, and bpdone (the buffer cache's
 * completion, registered as the "bufcache" buffer ops so a device worker can run it).
 */
import { BIO_DONE, registerBioDone, registerBufOps } from '../device/bio.js';
import {
  BUF_CMD_DONE,
  BUF_CMD_FREEBLKS,
  BUF_CMD_READ,
  BUF_CMD_WRITE,
  B_CACHE,
  B_CLUSTER,
  B_DEFERRED,
  B_DELWRI,
  B_DIRECT,
  B_EINTR,
  B_ERROR,
  B_HASHED,
  B_HEAVY,
  B_INVAL,
  B_IOISSUED,
  B_LOCKED,
  B_NOCACHE,
  B_NOTMETA,
  B_PAGING,
  B_RELBUF,
  B_VMIO,
  NOOFFSET,
  b_bio1,
  b_bio2,
} from '../device/buf.js';
import { bugs } from '../sync/switches.js';
import { ContractError } from '../sync/errno.js';
import { BufCache } from './core.js';
import { allocbuf, bmap, getblk, inmem, vfs_vmio_release } from './getblk.js';
import { VnodeLayout } from './layout.js';
import { bd_heatup, bd_signal, bsetrunningbufspace, bufcountwakeup, bufspacewakeup, runningbufwakeup } from './space.js';
import { BQUEUE_CLEAN, BQUEUE_DIRTY, BQUEUE_DIRTY_HW, BQUEUE_EMPTY, BQUEUE_LOCKED, BQUEUE_NONE } from './tunables.js';
import { brelvp, reassignbuf } from './vnode.js';

/**
 * vn_strategy: issue the I/O on b_bio1 of locked buffer `bp` (b_cmd set): B_IOISSUED, a
 * reference on the vnode's read/write bio_track, the bmap translation cached in b_bio2, then
 * the device. Never sleeps.
 */
export function vn_strategy(bc: BufCache, bp: number): void {
  const B = bc.B;
  const io = bc.io;
  const cmd = B.load(bp, 'b_cmd');
  if (cmd === BUF_CMD_DONE) throw new ContractError(`vn_strategy: ${bc.describe(bp)} has no command`);
  const vp = B.load(bp, 'b_vp');
  if (vp === 0) throw new ContractError(`vn_strategy: ${bc.describe(bp)} has no vnode`);
  bc.b_flags.or(bp, B_IOISSUED);
  const v = bc.vnode(vp);
  const bio1 = b_bio1(bp);
  if (io.O.load(bio1, 'bio_flags') & BIO_DONE) throw new ContractError(`vn_strategy: ${bc.describe(bp)} b_bio1 still has BIO_DONE set`);
  const track = VnodeLayout.addrOf(v, cmd === BUF_CMD_READ ? 'v_track_read' : 'v_track_write');
  io.bio_track_ref(track);
  io.O.store(bio1, 'bio_track', track);
  const bio2 = io.push_bio(bio1);
  if (io.offset(bio2) === NOOFFSET) io.set_offset(bio2, bmap(bc, vp, B.load(bp, 'b_loffset')));
  const unit = bc.V.load(v, 'v_unit');
  B.store(bp, 'b_dev', unit);
  B.store(bp, 'b_resid', B.load(bp, 'b_bcount'));
  bc.dev.dev_dstrategy(unit, bio2);
}

/** Prepare a getblk'd buffer without B_CACHE for a read. */
function setupRead(bc: BufCache, bp: number, bflags: number): void {
  bc.b_flags.and(bp, ~(B_ERROR | B_EINTR | B_INVAL | B_NOTMETA));
  if (bflags) bc.b_flags.or(bp, bflags);
  bc.B.store(bp, 'b_cmd', BUF_CMD_READ);
  bc.B.store(bp, 'b_error', 0);
}

export interface BreadResult {
  /** The locked buffer (the caller brelse/bqrelse's it, also after an error). */
  bp: number;
  error: number;
  /** True when the buffer was valid in the cache (no read was issued for it). */
  hit: boolean;
  /** Of the hits: the buffer was new, made valid from resident VM pages (the VM served it, not the buffer cache). */
  vm: boolean;
}

/**
 * breadnx: the buffer for (vp, loffset, size), read synchronously if not cached, plus
 * asynchronous read-ahead of the `ra` offsets (each `rasize` bytes) not already in memory.
 * Exit: the buffer locked. May sleep (getblk, "biord").
 */
export function breadnx(bc: BufCache, vp: number, loffset: number, size: number, bflags: number, ra: number[], rasize: number): BreadResult {
  const bp = getblk(bc, vp, loffset, size, 0, 0);
  const fromVm = bc.fromVm;
  let readwait = false;
  if ((bc.b_flags.load(bp) & B_CACHE) === 0) {
    setupRead(bc, bp, bflags);
    bc.io.setup_sync(bp);
    vn_strategy(bc, bp);
    readwait = true;
  }
  bc.statHit(!readwait);
  for (let i = 0; i < ra.length; i++) {
    const raoff = ra[i];
    if (inmem(bc, vp, raoff)) continue;
    const rabp = getblk(bc, vp, raoff, rasize, 0, 0);
    if ((bc.b_flags.load(rabp) & B_CACHE) === 0) {
      setupRead(bc, rabp, bflags);
      bc.BUF_KERNPROC(rabp);
      bc.stat('readahead');
      vn_strategy(bc, rabp); // completion: bpdone(elseit) releases it
    } else {
      brelse(bc, rabp);
    }
  }
  const error = readwait ? bc.io.biowait(b_bio1(bp), 'biord') : 0;
  if (fromVm && !readwait) bc.vm!.Q.add(bc.vm!.q, 'vs_bufhits', 1);
  return { bp, error, hit: !readwait, vm: fromVm && !readwait };
}

/** bread: breadnx without read-ahead. May sleep. */
export function bread(bc: BufCache, vp: number, loffset: number, size: number): BreadResult {
  return breadnx(bc, vp, loffset, size, 0, [], size);
}

/** breadn: bread plus read-ahead of `ra` (offsets of further blocks of `rasize` bytes). May sleep. */
export function breadn(bc: BufCache, vp: number, loffset: number, size: number, ra: number[], rasize: number): BreadResult {
  return breadnx(bc, vp, loffset, size, 0, ra, rasize);
}

/**
 * breadcb: issue any needed read asynchronously and call the registered bio_done `func` on
 * completion (on the completing cpu), or right away when cached (BIO_DONE set). The callback
 * must bpdone(bp, false) unless BIO_DONE is set, clear BIO_DONE and release the buffer.
 * With no `func` a cached buffer is just released. May sleep in getblk.
 */
export function breadcb(bc: BufCache, vp: number, loffset: number, size: number, bflags: number, func: string | null, arg: number): void {
  const bp = getblk(bc, vp, loffset, size, 0, 0);
  const io = bc.io;
  const bio1 = b_bio1(bp);
  if ((bc.b_flags.load(bp) & B_CACHE) === 0) {
    setupRead(bc, bp, bflags);
    if (func) io.set_done(bio1, func);
    io.O.store(bio1, 'bio_caller1', arg);
    bc.BUF_KERNPROC(bp);
    vn_strategy(bc, bp);
  } else if (func) {
    io.O.store(bio1, 'bio_caller1', arg);
    io.O.or(bio1, 'bio_flags', BIO_DONE);
    bioDoneByName(func)(io, bio1);
  } else {
    bqrelse(bc, bp);
  }
}

const breadcbFns = new Map<string, (io: BufCache['io'], bio: number) => void>();
/** Register a breadcb completion (also registered as a bio_done of the same name). */
export function registerBreadCb(name: string, fn: (io: BufCache['io'], bio: number) => void): void {
  breadcbFns.set(name, fn);
  registerBioDone(name, fn);
}
function bioDoneByName(name: string): (io: BufCache['io'], bio: number) => void {
  const f = breadcbFns.get(name);
  if (!f) throw new ContractError(`breadcb: no callback named "${name}" (register it with registerBreadCb)`);
  return f;
}

/**
 * bwrite: synchronous write; the buffer is released (brelse) when it completes. An invalid
 * buffer is just released. Entry: buffer locked. Exit: released. May sleep ("biows").
 */
export function bwrite(bc: BufCache, bp: number): number {
  if (bc.b_flags.load(bp) & B_INVAL) {
    brelse(bc, bp);
    return 0;
  }
  bc.assertLocked('bwrite', bp);
  bc.b_flags.and(bp, ~(B_ERROR | B_EINTR));
  bc.b_flags.or(bp, B_CACHE);
  bc.B.store(bp, 'b_cmd', BUF_CMD_WRITE);
  bc.B.store(bp, 'b_error', 0);
  const bio1 = bc.io.setup_sync(bp);
  bsetrunningbufspace(bc, bp, bc.B.load(bp, 'b_bufsize'));
  if (bugs.any && bugs.enabled('vfs-bundirty-at-submit')) bundirtyAtSubmit(bc, bp);
  vn_strategy(bc, bp);
  const error = bc.io.biowait(bio1, 'biows');
  brelse(bc, bp);
  return error;
}

/**
 * bawrite: asynchronous write; the lock goes to the kernel and the completing cpu releases the
 * buffer (bpdone). `charged`: the caller already charged the buffer's running space
 * (bsetrunningbufspace; only cluster_awrite's historical variant does). Entry: buffer locked.
 * Never sleeps.
 */
export function bawrite(bc: BufCache, bp: number, charged = false): void {
  if (bc.b_flags.load(bp) & B_INVAL) {
    brelse(bc, bp);
    return;
  }
  bc.assertLocked('bawrite', bp);
  bc.b_flags.and(bp, ~(B_ERROR | B_EINTR));
  bc.b_flags.or(bp, B_CACHE);
  bc.B.store(bp, 'b_cmd', BUF_CMD_WRITE);
  bc.B.store(bp, 'b_error', 0);
  if (bc.io.O.load(b_bio1(bp), 'bio_done') !== 0) throw new ContractError(`bawrite: ${bc.describe(bp)} b_bio1 already has a bio_done callback`);
  if (!charged) bsetrunningbufspace(bc, bp, bc.B.load(bp, 'b_bufsize'));
  bc.BUF_KERNPROC(bp);
  if (bugs.any && bugs.enabled('vfs-bundirty-at-submit')) bundirtyAtSubmit(bc, bp);
  vn_strategy(bc, bp);
}

/**
 * RACE SWITCH vfs-bundirty-at-submit (off by default): the historical variant marks the buffer
 * clean when the write is issued instead of in bpdone. Between here and the device writing it,
 * a flush (vfsync) sees no B_DELWRI, no tracked write, and returns with the data not on the device.
 */
function bundirtyAtSubmit(bc: BufCache, bp: number): void {
  bundirty(bc, bp);
}

/**
 * bdwrite: delayed write — mark dirty (bdirty), valid (B_CACHE), cache the bmap translation and
 * requeue (bqrelse). Entry: buffer locked. Exit: released. Never sleeps.
 */
export function bdwrite(bc: BufCache, bp: number): void {
  bc.assertLocked('bdwrite', bp);
  if (bc.b_flags.load(bp) & B_INVAL) {
    brelse(bc, bp);
    return;
  }
  bdirty(bc, bp);
  bc.b_flags.or(bp, B_CACHE);
  const bio2 = b_bio2(bp);
  if (bc.io.offset(bio2) === NOOFFSET) bc.io.set_offset(bio2, bmap(bc, bc.B.load(bp, 'b_vp'), bc.B.load(bp, 'b_loffset')));
  bqrelse(bc, bp);
}

/**
 * bdirty: make the buffer a delayed write (B_DELWRI), move it to its vnode's dirty list and charge
 * the dirty counters; clears B_NOCACHE and B_RELBUF. Entry: buffer locked, hashed, on no queue.
 * Takes v_token. Never sleeps.
 */
export function bdirty(bc: BufCache, bp: number): void {
  if (bc.b_qindex.get(bp) !== BQUEUE_NONE) throw new ContractError(`bdirty: ${bc.describe(bp)} is still on a queue`);
  const F = bc.b_flags;
  F.and(bp, ~(B_NOCACHE | B_RELBUF));
  if ((F.load(bp) & B_DELWRI) === 0) {
    const v = bc.vnode(bc.b_vp.get(bp));
    bc.sync.spin_lock(v); // v_token, the first field of struct vnode
    F.or(bp, B_DELWRI);
    reassignbuf(bc, v, bp);
    bc.sync.spin_unlock(v);
    const size = bc.B.load(bp, 'b_bufsize');
    bc.gadd('dirtybufcount', 1);
    bc.gadd('dirtykvaspace', bc.B.load(bp, 'b_kvasize'));
    bc.gadd('dirtybufspace', size);
    if (F.load(bp) & B_HEAVY) {
      bc.gadd('dirtybufcounthw', 1);
      bc.gadd('dirtybufspacehw', size);
    }
    bd_heatup(bc);
  }
}

/** bheavy: mark the buffer heavy-weight (flushed by buf_daemon_hw). Entry: buffer locked. */
export function bheavy(bc: BufCache, bp: number): void {
  const F = bc.b_flags;
  if ((F.load(bp) & B_HEAVY) === 0) {
    F.or(bp, B_HEAVY);
    if (F.load(bp) & B_DELWRI) {
      bc.gadd('dirtybufcounthw', 1);
      bc.gadd('dirtybufspacehw', bc.B.load(bp, 'b_bufsize'));
    }
  }
}

/**
 * bundirty: clear B_DELWRI, move the buffer to its vnode's clean list, uncharge the dirty counters
 * and signal bd_wait. Entry: buffer locked. Takes v_token. Never sleeps.
 */
export function bundirty(bc: BufCache, bp: number): void {
  const F = bc.b_flags;
  if (F.load(bp) & B_DELWRI) {
    const v = bc.vnode(bc.b_vp.get(bp));
    bc.sync.spin_lock(v); // v_token, the first field of struct vnode
    F.and(bp, ~B_DELWRI);
    reassignbuf(bc, v, bp);
    bc.sync.spin_unlock(v);
    const size = bc.B.load(bp, 'b_bufsize');
    bc.gadd('dirtybufcount', -1);
    bc.gadd('dirtykvaspace', -bc.B.load(bp, 'b_kvasize'));
    bc.gadd('dirtybufspace', -size);
    if (F.load(bp) & B_HEAVY) {
      bc.gadd('dirtybufcounthw', -1);
      bc.gadd('dirtybufspacehw', -size);
    }
    bd_signal(bc, size);
  }
  F.and(bp, ~B_DEFERRED);
}

/**
 * brelse: release a locked buffer, freeing what its flags ask (B_INVAL, B_NOCACHE, B_ERROR,
 * B_RELBUF), and queue it: LOCKED (B_LOCKED, tail), EMPTY (no memory, head), CLEAN head (junk
 * contents), DIRTY / DIRTY_HW (tail) or CLEAN tail. Entry: buffer locked, on no queue.
 * Exit: unlocked. Never sleeps.
 */
export function brelse(bc: BufCache, bp: number): void {
  const F = bc.b_flags;
  let f = F.get(bp); // ours while locked and off every queue
  if (f & (B_CLUSTER | B_PAGING)) throw new ContractError(`brelse: inappropriate B_PAGING or B_CLUSTER ${bc.describe(bp)}`);
  bc.assertLocked('brelse', bp);
  if ((f & (B_NOCACHE | B_DELWRI)) === (B_NOCACHE | B_DELWRI)) {
    bundirty(bc, bp);
    f = F.load(bp);
  }
  if ((f & (B_INVAL | B_DELWRI)) === B_DELWRI) {
    // a re-dirtied buffer is only destroyed by B_INVAL
  } else if (f & (B_NOCACHE | B_INVAL | B_ERROR) || bc.b_bufsize.get(bp) <= 0) {
    F.or(bp, B_INVAL);
    if (f & B_DELWRI) {
      const size = bc.b_bufsize.get(bp);
      bc.gadd('dirtybufcount', -1);
      bc.gadd('dirtykvaspace', -bc.b_kvasize.get(bp));
      bc.gadd('dirtybufspace', -size);
      if (f & B_HEAVY) {
        bc.gadd('dirtybufcounthw', -1);
        bc.gadd('dirtybufspacehw', -size);
      }
      bd_signal(bc, size);
    }
    f = F.and(bp, ~(B_DELWRI | B_CACHE)) & ~(B_DELWRI | B_CACHE);
  }
  const vm = bc.vm;
  if (f & (B_DELWRI | B_LOCKED) || bc.b_refs.load(bp)) {
    if (f & B_RELBUF) f = F.and(bp, ~B_RELBUF) & ~B_RELBUF;
  } else if (vm !== null && vm.paging_min()) {
    // Short of pages: free the buffer now, so that its pages go back to the VM's queues.
    if (!(f & B_RELBUF)) vm.Q.add(vm.q, 'vs_lowmem', 1);
    f = F.or(bp, B_RELBUF) | B_RELBUF;
  }
  if (bc.b_cmd.get(bp) !== BUF_CMD_DONE) bc.b_cmd.store(bp, BUF_CMD_DONE);
  // The VMIO rundown: a failed I/O or B_NOCACHE invalidates the buffer's bytes in its pages.
  const vp = bc.b_vp.get(bp);
  if (vm !== null && f & B_VMIO && f & (B_NOCACHE | B_ERROR) && vp !== 0) vm.setRange(vp, bc.b_loffset.get(bp), bc.b_bufsize.get(bp), 0, false);
  if (f & (B_INVAL | B_RELBUF)) {
    if (f & B_VMIO) vfs_vmio_release(bc, bp);
    else {
      if (bc.b_bufsize.get(bp)) allocbuf(bc, bp, 0);
      if (bc.b_vp.get(bp)) brelvp(bc, bp);
    }
    f = F.load(bp);
  }
  if (bc.b_qindex.get(bp) !== BQUEUE_NONE) throw new ContractError(`brelse: ${bc.describe(bp)} is already on a queue`);
  const bufsize = bc.b_bufsize.get(bp);
  const set = bc.b_qcpu.get(bp);
  const spin = bc.spinOf(set);
  bc.sync.spin_lock(spin);
  if (f & B_LOCKED) {
    bc.qinsert(set, BQUEUE_LOCKED, bp, false);
  } else if (bufsize === 0) {
    f = F.or(bp, B_INVAL) | B_INVAL;
    if (bc.b_vp.get(bp) !== 0 || f & B_HASHED) {
      bc.sync.spin_unlock(spin);
      throw new ContractError(`brelse: empty ${bc.describe(bp)} is unexpectedly still associated with vnode ${bc.b_vp.get(bp)}`);
    }
    bc.qinsert(set, BQUEUE_EMPTY, bp, true);
  } else if (f & (B_INVAL | B_NOCACHE | B_RELBUF)) {
    f = F.or(bp, B_INVAL) | B_INVAL;
    bc.qinsert(set, BQUEUE_CLEAN, bp, true);
  } else {
    switch (f & (B_DELWRI | B_HEAVY)) {
      case B_DELWRI:
        bc.qinsert(set, BQUEUE_DIRTY, bp, false);
        break;
      case B_DELWRI | B_HEAVY:
        bc.qinsert(set, BQUEUE_DIRTY_HW, bp, false);
        break;
      default:
        bc.qinsert(set, BQUEUE_CLEAN, bp, false); // without B_AGE it cycles through twice
    }
  }
  bc.sync.spin_unlock(spin);
  // Queued again, but still locked by us: getnewbuf may only set B_AGE (atomic), and skips it.
  if ((f & (B_INVAL | B_DELWRI)) === (B_INVAL | B_DELWRI)) {
    bundirty(bc, bp);
    f = F.load(bp);
  }
  // bufcountwakeup / bufspacewakeup: one load of needsbuffer when nobody waits for a buffer.
  if (bc.g_needsbuffer.load(bc.g) !== 0) {
    if ((f & (B_LOCKED | B_DELWRI)) === 0) bufcountwakeup(bc);
    if (bc.b_bufsize.get(bp) || bc.b_kvasize.get(bp)) bufspacewakeup(bc);
  }
  if (f & (B_NOCACHE | B_RELBUF | B_DIRECT)) F.and(bp, ~(B_NOCACHE | B_RELBUF | B_DIRECT));
  bc.BUF_UNLOCK(bp);
}

/**
 * bqrelse: requeue a buffer expected to be used again soon, freeing nothing: LOCKED, DIRTY /
 * DIRTY_HW or CLEAN, always at the tail. Entry: buffer locked, on no queue. Exit: unlocked.
 * Never sleeps.
 */
export function bqrelse(bc: BufCache, bp: number): void {
  const F = bc.b_flags;
  const f = F.get(bp); // ours while locked and off every queue
  if (f & (B_CLUSTER | B_PAGING)) throw new ContractError(`bqrelse: inappropriate B_PAGING or B_CLUSTER ${bc.describe(bp)}`);
  if (bc.b_qindex.get(bp) !== BQUEUE_NONE) throw new ContractError(`bqrelse: ${bc.describe(bp)} is already on a queue`);
  bc.assertLocked('bqrelse', bp);
  const vm = bc.vm;
  if ((f & (B_LOCKED | B_DELWRI)) === 0 && vm !== null && vm.paging_min()) {
    // Too low on pages: free the buffer (its wired pages) now rather than caching it.
    brelse(bc, bp);
    return;
  }
  const set = bc.b_qcpu.get(bp);
  const spin = bc.spinOf(set);
  bc.sync.spin_lock(spin);
  if (f & B_LOCKED) bc.qinsert(set, BQUEUE_LOCKED, bp, false);
  else if (f & B_DELWRI) bc.qinsert(set, f & B_HEAVY ? BQUEUE_DIRTY_HW : BQUEUE_DIRTY, bp, false);
  else bc.qinsert(set, BQUEUE_CLEAN, bp, false);
  bc.sync.spin_unlock(spin);
  // bufcountwakeup / bufspacewakeup: one load of needsbuffer when nobody waits for a buffer.
  if (bc.g_needsbuffer.load(bc.g) !== 0) {
    if ((f & B_LOCKED) === 0 && (f & B_INVAL || (f & B_DELWRI) === 0)) bufcountwakeup(bc);
    if (bc.b_bufsize.get(bp) && !(f & B_DELWRI)) bufspacewakeup(bc);
  }
  if (f & (B_NOCACHE | B_RELBUF)) F.and(bp, ~(B_NOCACHE | B_RELBUF));
  bc.BUF_UNLOCK(bp);
}

/**
 * bpdone: finish a buffer whose bio chain is done. b_cmd becomes DONE; a failed write is dirtied
 * again (unless B_INVAL), a successful one is bundirty'd only now; a good read sets B_CACHE.
 * With `elseit` the buffer is released (brelse when it is to be freed, else bqrelse).
 * Entry: buffer locked (possibly by the kernel). Runs on the completing cpu. Never sleeps.
 */
export function bpdone(bc: BufCache, bp: number, elseit: boolean): void {
  bc.assertLocked('bpdone', bp);
  const B = bc.B;
  const F = bc.b_flags;
  const cmd = B.load(bp, 'b_cmd');
  if (cmd === BUF_CMD_DONE) throw new ContractError(`bpdone: ${bc.describe(bp)} already done`);
  B.store(bp, 'b_cmd', BUF_CMD_DONE);
  if (cmd !== BUF_CMD_READ && cmd !== BUF_CMD_WRITE) {
    if (cmd === BUF_CMD_FREEBLKS) F.or(bp, B_NOCACHE);
    if (elseit) brelse(bc, bp);
    return;
  }
  if (cmd === BUF_CMD_WRITE) {
    if ((F.load(bp) & (B_ERROR | B_INVAL)) === B_ERROR) {
      F.and(bp, ~B_NOCACHE);
      if (B.load(bp, 'b_vp')) bdirty(bc, bp);
    } else if (B.load(bp, 'b_vp')) {
      bundirty(bc, bp);
    }
  }
  if (F.load(bp) & B_VMIO && cmd === BUF_CMD_READ && (F.load(bp) & (B_INVAL | B_NOCACHE | B_ERROR)) === 0) F.or(bp, B_CACHE);
  // The pages behind the buffer hold what its I/O read or wrote, valid (kiolab copies them: vm.ts).
  const vm = bc.vm;
  const vp = B.load(bp, 'b_vp');
  if (vm !== null && vp !== 0 && (F.load(bp) & (B_VMIO | B_INVAL | B_NOCACHE | B_ERROR)) === B_VMIO) vm.setRange(vp, B.load(bp, 'b_loffset'), B.load(bp, 'b_bcount'), B.load(bp, 'b_data'), true);
  if (elseit) {
    if (F.load(bp) & (B_NOCACHE | B_INVAL | B_ERROR | B_RELBUF)) brelse(bc, bp);
    else bqrelse(bc, bp);
  }
}

registerBufOps('bufcache', {
  bpdone: (io, bp, elseit) => bpdone(BufCache.of(io.sync), bp, elseit),
  runningbufwakeup: (io, bp) => runningbufwakeup(BufCache.of(io.sync), bp),
});

/** A breadcb completion that only finishes and requeues the buffer (read-ahead style). */
registerBreadCb('bufcache.breadcb_release', (io, bio) => {
  const bc = BufCache.of(io.sync);
  const bp = io.O.load(bio, 'bio_buf');
  if ((io.O.load(bio, 'bio_flags') & BIO_DONE) === 0) bpdone(bc, bp, false);
  io.O.and(bio, 'bio_flags', ~BIO_DONE);
  bc.stat('readahead');
  if (bc.b_flags.load(bp) & (B_ERROR | B_INVAL)) brelse(bc, bp);
  else bqrelse(bc, bp);
});
