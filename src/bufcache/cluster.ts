/**
 * cluster_awrite: write a dirty buffer together with the dirty buffers that follow it in its
 * file — a run — as the flush paths of the kernel do (DragonFly's flushbufqueues calls it for
 * every buffer it flushes; FreeBSD's cluster_wbuild is the same idea).
 *
 * Where kiolab departs from the reference: no pbuf cluster is built; each buffer of the run is
 * issued as its own asynchronous write (bawrite), in file order, once the whole run is held.
 * And kiolab's run waits for a busy neighbour (BUF_LOCK) instead of ending there, so that a
 * flush writes a run whole: the buffers are locked in ascending file order, which every other
 * path that holds two of them must follow too.
 *
 * Running space (runningbufspace) stands for I/O in flight: waitrunningbufspace sleeps until
 * completions return it. It must therefore be charged only when the I/O can be issued without
 * waiting for anything else — after every lock of the run is held. RACE SWITCH
 * vfs-runningbuf-lockholder (FreeBSD 6c8b634f) charges each buffer as it joins the run, before
 * the next buffer's lock is taken: when that lock's holder waits in waitrunningbufspace, it
 * waits for space that only this thread, blocked on it, can return ("wdrn1" forever).
 */
import { B_DELWRI, B_INVAL, B_LOCKED } from '../device/buf.js';
import { bugs } from '../sync/switches.js';
import { ContractError } from '../sync/errno.js';
import type { BufCache } from './core.js';
import { findblk } from './getblk.js';
import { bawrite } from './io.js';
import { bsetrunningbufspace } from './space.js';
import { BQUEUE_NONE } from './tunables.js';

/** Buffers in one run at most (the kernel's MAXPHYS / block size; 128 KiB of 16 KiB blocks). */
export const CLUSTER_MAXRUN = 8;

/**
 * cluster_awrite: asynchronously write locked dirty buffer `bp` and the dirty buffers of the same
 * size that follow it in its file, up to `maxrun` in all; the run ends at the first block that is
 * not cached, not dirty, invalid, B_LOCKED or of another size. Returns the number of buffers
 * written. Running space is charged only once the whole run is held (see the header).
 * Entry: `bp` locked, off its queue, B_DELWRI; no other buffer lock of this file past `bp` held.
 * Exit: every buffer of the run handed to the kernel (its completion releases it).
 * May sleep (BUF_LOCK of the following buffers).
 */
export function cluster_awrite(bc: BufCache, bp: number, maxrun = CLUSTER_MAXRUN): number {
  bc.assertLocked('cluster_awrite', bp);
  const F = bc.b_flags;
  if (bc.b_qindex.get(bp) !== BQUEUE_NONE) throw new ContractError(`cluster_awrite: ${bc.describe(bp)} is still on a queue`);
  if ((F.get(bp) & (B_DELWRI | B_INVAL)) !== B_DELWRI) {
    bawrite(bc, bp); // an invalid buffer is released, a clean one written alone (bawrite's rules)
    return 1;
  }
  const vp = bc.b_vp.get(bp);
  const size = bc.b_bcount.get(bp);
  const vsize = bc.V.load(bc.vnode(vp), 'v_size');
  const lockholder = bugs.any && bugs.enabled('vfs-runningbuf-lockholder');
  if (lockholder) charge(bc, bp);
  const run = [bp];
  for (let off = bc.b_loffset.get(bp) + size; run.length < maxrun && off + size <= vsize; off += size) {
    const nbp = findblk(bc, vp, off, 0); // locked (may sleep), identity rechecked; 0: not cached
    if (nbp === 0) break;
    const f = F.get(nbp);
    if ((f & (B_DELWRI | B_INVAL | B_LOCKED)) !== B_DELWRI || bc.b_bcount.get(nbp) !== size) {
      bc.BUF_UNLOCK(nbp);
      break;
    }
    bc.bremfree(nbp);
    if (lockholder) charge(bc, nbp);
    run.push(nbp);
  }
  // Every buffer of the run is held: charge and issue (bawrite), in file order.
  for (let i = 0; i < run.length; i++) bawrite(bc, run[i], lockholder);
  return run.length;
}

/** The historical variant's early charge of one buffer of the run. */
function charge(bc: BufCache, bp: number): void {
  bsetrunningbufspace(bc, bp, bc.b_bufsize.get(bp));
}
