/**
 * getnewbuf: find a free buffer header to recycle. The scan runs EMPTY then CLEAN on this
 * cpu's queue set, then the other sets; a CLEAN buffer without B_AGE gets a second chance (it is
 * marked B_AGE and moved to the tail); the `flushingbufs` hysteresis frees CLEAN buffers while
 * bufspace is above hibufspace until it falls below lobufspace. Every restart is counted by its
 * reason (RESTART_NAMES). When nothing is free it kicks the daemons (bd_speedup) and sleeps on
 * `needsbuffer` with an interlock, then returns 0 so that getblk retries.
 */
import { BUF_CMD_DONE, B_AGE, B_BNOCLIP, B_DELWRI, B_HASHED, B_HEAVY, B_INVAL } from '../device/buf.js';
import { bugs } from '../sync/switches.js';
import { ContractError } from '../sync/errno.js';
import { PINTERLOCKED } from '../sync/sync.js';
import type { BufCache } from './core.js';
import { allocbuf, vfs_vmio_release } from './getblk.js';
import { brelse } from './io.js';
import { bd_speedup } from './space.js';
import { BQUEUE_CLEAN, BQUEUE_EMPTY, GETBLK_BHEAVY, VFS_BIO_NEED_ANY, VFS_BIO_NEED_BUFSPACE, cdiv } from './tunables.js';
import { brelvp } from './vnode.js';

/**
 * Returns a locked buffer off every queue, with no vnode, no memory and b_flags = B_BNOCLIP
 * (plus B_HEAVY for GETBLK_BHEAVY), or 0 after sleeping for a buffer (or `slptimeo` ms).
 * Entry: no spinlock, no buffer lock held that another getnewbuf could need. May sleep.
 */
export function getnewbuf(bc: BufCache, blkflags: number, slptimeo: number, size: number): number {
  void size;
  const B = bc.B;
  const P = bc.P;
  const s = bc.sync;
  const F = bc.b_flags;
  const myset = bc.nsets === 1 ? 0 : bc.cpu % bc.nsets;
  let nqcpu = myset;
  const mypc = bc.mypc;
  bc.stat('getnewbufcalls');
  for (;;) {
    // restart:
    if (bc.gl('bufspace') < bc.gl('lobufspace')) P.store(mypc, 'flushingbufs', 0);
    const spin = bc.spinOf(nqcpu);
    s.spin_lock(spin);
    let nqindex = BQUEUE_EMPTY;
    let nbp = bc.qfirst(nqcpu, BQUEUE_EMPTY);
    if (nbp === 0 || P.load(mypc, 'flushingbufs')) {
      nqindex = BQUEUE_CLEAN;
      nbp = bc.qfirst(nqcpu, BQUEUE_CLEAN);
    }
    let restart = -1;
    let bp: number;
    while ((bp = nbp) !== 0) {
      const qindex = nqindex;
      nbp = bc.b_qnext.get(bp);
      // B_AGE second chance: an unaged CLEAN buffer cycles through the queue once more.
      if (qindex === BQUEUE_CLEAN && (F.load(bp) & B_AGE) === 0 && nbp !== 0) {
        F.or(bp, B_AGE);
        bc.qremove(nqcpu, qindex, bp);
        bc.qinsert(nqcpu, qindex, bp, false);
        continue;
      }
      if (nbp === 0 && qindex === BQUEUE_EMPTY) {
        nqindex = BQUEUE_CLEAN;
        nbp = bc.qfirst(nqcpu, BQUEUE_CLEAN);
      }
      if (bc.b_qindex.get(bp) !== qindex) throw new ContractError(`getnewbuf: inconsistent queue ${qindex} for ${bc.describe(bp)}`);
      if (F.load(bp) & B_DELWRI) throw new ContractError(`getnewbuf: delayed-write ${bc.describe(bp)} found on a free queue`);
      if (bc.b_refs.load(bp)) continue; // unsynchronized test; rechecked under the lock
      if (!bc.BUF_TRYLOCK(bp)) {
        s.spin_unlock(spin);
        s.tsleep(bc.G.addrOf(bc.g, 'bd_request'), 0, 'gnbxxx', bc.ticks(cdiv(bc.hz + 99, 100)));
        restart = 1;
        break;
      }
      if (bc.b_qindex.get(bp) !== qindex || bc.b_refs.load(bp)) {
        s.spin_unlock(spin);
        bc.BUF_UNLOCK(bp);
        restart = 2;
        break;
      }
      bc.bremfree_locked(bp);
      s.spin_unlock(spin);
      // spin is unlocked from here on; nbp is no longer valid.
      s.point(bc.pt_getnewbuf_locked, bp);
      if (qindex === BQUEUE_CLEAN) {
        vfs_vmio_release(bc, bp);
        if (B.load(bp, 'b_vp')) brelvp(bc, bp);
      }
      if (B.load(bp, 'b_vp') !== 0 || F.load(bp) & B_HASHED) {
        throw new ContractError(`getnewbuf: ${bc.describe(bp)} from queue ${qindex} is unexpectedly still associated with vnode ${B.load(bp, 'b_vp')}`);
      }
      if (B.load(bp, 'b_bufsize')) allocbuf(bc, bp, 0);
      F.store(bp, B_BNOCLIP | (blkflags & GETBLK_BHEAVY ? B_HEAVY : 0));
      B.store(bp, 'b_cmd', BUF_CMD_DONE);
      B.store(bp, 'b_error', 0);
      B.store(bp, 'b_resid', 0);
      B.store(bp, 'b_bcount', 0);
      bc.io.reinitbufbio(bp);
      const bufspace = bc.gl('bufspace');
      if (bufspace >= bc.gl('hibufspace')) P.store(mypc, 'flushingbufs', 1);
      if (bufspace < bc.gl('lobufspace')) P.store(mypc, 'flushingbufs', 0);
      if (P.load(mypc, 'flushingbufs')) {
        F.or(bp, B_INVAL);
        brelse(bc, bp);
        restart = 5;
        break;
      }
      // A findblk() may have ref'd it before our brelvp: its contents are gone, but not reusable yet.
      if (bc.b_refs.load(bp)) {
        F.or(bp, B_INVAL);
        brelse(bc, bp);
        restart = 6;
        break;
      }
      B.store(bp, 'b_data', B.load(bp, 'b_kvabase'));
      return bp;
    }
    if (restart >= 0) {
      bc.stat('gnb_restart', restart);
      continue;
    }
    // This set is exhausted: try the next one, then sleep.
    s.spin_unlock(spin);
    nqcpu = (nqcpu + 1) % bc.nsets;
    if (nqcpu !== myset) {
      bc.stat('gnb_restart', 7);
      continue;
    }
    const G = bc.G;
    const ch = G.addrOf(bc.g, 'needsbuffer');
    let flags: number;
    let wmesg: string;
    if (bc.gl('bufspace') >= bc.gl('hibufspace')) {
      wmesg = 'bufspc';
      flags = VFS_BIO_NEED_BUFSPACE;
    } else {
      wmesg = 'newbuf';
      flags = VFS_BIO_NEED_ANY;
    }
    bd_speedup(bc);
    G.or(bc.g, 'needsbuffer', flags);
    bc.stat('gnb_restart', 0);
    while (G.load(bc.g, 'needsbuffer') & flags) {
      if (bugs.any && bugs.enabled('vfs-needsbuffer-no-interlock')) {
        // RACE SWITCH vfs-needsbuffer-no-interlock (off by default): the historical getnewbuf
        // tested needsbuffer and slept without an interlock; a brelse that clears the bit and
        // wakes in between is lost, and the caller sleeps although a buffer is free.
        if (s.tsleep(ch, 0, wmesg, slptimeo)) return 0;
        continue;
      }
      s.tsleep_interlock(ch);
      const value = G.add(bc.g, 'needsbuffer', 0);
      if (value & flags) {
        if (s.tsleep(ch, PINTERLOCKED, wmesg, slptimeo)) return 0;
      } else {
        s.tsleep_remove();
      }
    }
    return 0;
  }
}
