/**
 * Lookup and allocation: bmap, findblk, getblk, getcacheblk, regetblk, inmem, allocbuf and
 * vfs_vmio_release (the vnode's hash and lists are vnode.ts).
 *
 * Vnodes are named by index + 1 (`vp`, 0 = none), as b_vp stores them.
 */
import { BUF_CMD_DONE, B_AGE, B_CACHE, B_DELWRI, B_HEAVY, B_INVAL, B_LOCKED, B_NOCACHE, B_RELBUF, B_VMIO, NOOFFSET, b_bio2 } from '../device/buf.js';
import { bugs } from '../sync/switches.js';
import { ContractError, ENOLCK } from '../sync/errno.js';
import type { BufCache } from './core.js';
import { getnewbuf } from './getnewbuf.js';
import { brelse, bwrite } from './io.js';
import { bufspacewakeup } from './space.js';
import { DEV_BSIZE, FINDBLK_NBLOCK, FINDBLK_REF, FINDBLK_TEST, GETBLK_NOWAIT, GETBLK_SZMATCH, MAXBSIZE } from './tunables.js';
import { bgetvp, brelvp, hashLookup } from './vnode.js';
import type { Vm } from './vm.js';

/** The device byte offset of file offset `loffset` of `vp` (VOP_BMAP: files are contiguous). */
export function bmap(bc: BufCache, vp: number, loffset: number): number {
  const v = bc.vnode(vp);
  const size = bc.V.load(v, 'v_size');
  if (loffset < 0 || loffset >= size) throw new ContractError(`bmap: offset ${loffset} is outside vnode ${vp} (${size} bytes)`);
  return bc.V.load(v, 'v_base') + loffset;
}

/**
 * findblk: locate (vp, loffset). FINDBLK_TEST returns it unlocked (the caller locks and
 * revalidates), FINDBLK_NBLOCK try-locks (0 if busy), else it locks blocking and revalidates
 * the identity. FINDBLK_REF returns it with a reference (prevents getnewbuf reuse).
 * Takes v_token shared briefly. May sleep unless TEST or NBLOCK.
 */
export function findblk(bc: BufCache, vp: number, loffset: number, flags: number): number {
  const tok = bc.vnode(vp); // v_token is the first field of struct vnode
  const s = bc.sync;
  // RACE SWITCH vfs-findblk-no-ref (off by default): the historical findblk took no reference
  // (ref = 0 here, and getblk drops none), so getnewbuf may recycle the buffer a caller found
  // and is about to lock.
  const ref = bugs.any && bugs.enabled('vfs-findblk-no-ref') ? 0 : 1;
  let bp: number;
  for (;;) {
    s.spin_lock_shared(tok);
    bp = hashLookup(bc, tok, loffset);
    if (bp === 0) {
      s.spin_unlock_shared(tok);
      return 0;
    }
    if (ref) bc.b_refs.add(bp, 1); // bqhold under v_token: interlocks with getnewbuf's brelvp + b_refs recheck
    s.spin_unlock_shared(tok);
    if (flags & FINDBLK_TEST) break;
    if (flags & FINDBLK_NBLOCK) {
      if (!bc.BUF_TRYLOCK(bp)) {
        if (ref) bc.b_refs.add(bp, -1);
        return 0;
      }
    } else {
      bc.BUF_LOCK(bp);
    }
    if (bc.b_vp.get(bp) === vp && bc.b_loffset.get(bp) === loffset) break;
    if (ref) bc.b_refs.add(bp, -1);
    bc.BUF_UNLOCK(bp);
  }
  if (ref && (flags & FINDBLK_REF) === 0) bc.b_refs.add(bp, -1);
  return bp;
}

/** inmem: true when (vp, loffset) has a buffer (no VM page cache is modelled). */
export function inmem(bc: BufCache, vp: number, loffset: number): boolean {
  if (findblk(bc, vp, loffset, FINDBLK_TEST) !== 0) return true;
  return bc.vm !== null && bc.vm.resident(vp, loffset, bc.V.load(bc.vnode(vp), 'v_bsize'));
}

/** getblk_found / getblk_new: start over (0 and buffer addresses are results). */
const GETBLK_RETRY = -1;

/**
 * getblk: the locked buffer for (vp, loffset) of `size` bytes, found or created. On return the
 * buffer is off its queue; B_CACHE tells whether its contents are valid. A found buffer is
 * ref'd, then locked, then its identity rechecked (it may have been recycled meanwhile); when
 * it is busy, getblk sleeps until it is released and looks it up again (LK_SLEEPFAIL). A size
 * change writes a dirty buffer out (or releases a clean one) and retries; a B_DELWRI buffer
 * without B_CACHE is committed first. Returns 0 only with GETBLK_NOWAIT/GETBLK_SZMATCH or when
 * `slptimeo` ran out. Entry/exit: no spinlock held; exit: the buffer locked. May sleep.
 */
export function getblk(bc: BufCache, vp: number, loffset: number, size: number, blkflags: number, slptimeo = 0): number {
  if (size > MAXBSIZE) throw new ContractError(`getblk: size ${size} > MAXBSIZE ${MAXBSIZE}`);
  if (size <= 0) throw new ContractError(`getblk: size ${size} must be positive`);
  bc.fromVm = false;
  for (;;) {
    const bp = findblk(bc, vp, loffset, FINDBLK_REF | FINDBLK_TEST);
    const r = bp !== 0 ? getblk_found(bc, bp, vp, loffset, size, blkflags, slptimeo) : getblk_new(bc, vp, loffset, size, blkflags, slptimeo);
    if (r !== GETBLK_RETRY) return r;
  }
}

/**
 * getblk's hit path: lock buffer `bp` that findblk found and ref'd, drop the reference, recheck
 * its identity and take it off its queue. A busy buffer is not waited for but slept on: once it
 * is released (not taken), GETBLK_RETRY looks it up again. Returns it, 0 (NOWAIT, timeout,
 * SZMATCH) or GETBLK_RETRY. Entry: no lock held, a reference on `bp`. May sleep (the buffer
 * lock, bwrite).
 */
function getblk_found(bc: BufCache, bp: number, vp: number, loffset: number, size: number, blkflags: number, slptimeo: number): number {
  const F = bc.b_flags;
  // RACE SWITCH vfs-findblk-no-ref: findblk took no reference, so there is none to drop.
  const noref = bugs.any && bugs.enabled('vfs-findblk-no-ref');
  // Found and ref'd but not locked: the window in which getnewbuf may recycle it.
  bc.sync.point(bc.pt_getblk_found, bp);
  if (!bc.BUF_TRYLOCK(bp)) {
    if (blkflags & GETBLK_NOWAIT) {
      if (!noref) bc.bqdrop(bp);
      return 0;
    }
    const error = bc.BUF_TIMELOCK(bp, slptimeo);
    if (error) {
      if (!noref) bc.bqdrop(bp);
      if (error !== ENOLCK) return 0;
      bc.stat('getblk_sleepfail');
      return GETBLK_RETRY;
    }
  }
  if (!noref) bc.bqdrop(bp);
  // Recheck the identity under the lock: the buffer may have been recycled.
  // RACE SWITCH vfs-getblk-no-recheck (off by default): the historical getblk trusted the
  // lookup and skipped this recheck, returning whatever the header had become meanwhile.
  if ((bc.b_vp.get(bp) !== vp || bc.b_loffset.get(bp) !== loffset) && !(bugs.any && bugs.enabled('vfs-getblk-no-recheck'))) {
    bc.stat('getblk_recycled');
    bc.BUF_UNLOCK(bp);
    return GETBLK_RETRY;
  }
  if ((blkflags & GETBLK_SZMATCH) && size !== bc.b_bcount.get(bp)) {
    bc.BUF_UNLOCK(bp);
    return 0;
  }
  if (bc.b_cmd.get(bp) !== BUF_CMD_DONE) throw new ContractError(`getblk: ${bc.describe(bp)} is locked with an I/O still in progress`);
  // Still on its queue, so getnewbuf may set B_AGE meanwhile: atomic updates, and only when a
  // bit changes (clearing B_AGE before or after such a mark is the same outcome).
  let f = F.get(bp);
  if (f & B_AGE) f = F.and(bp, ~B_AGE) & ~B_AGE;
  if (f & B_INVAL) {
    if (bc.io.offset(b_bio2(bp)) !== NOOFFSET) bc.io.set_offset(b_bio2(bp), NOOFFSET);
    if (f & B_CACHE) F.and(bp, ~B_CACHE);
  }
  bc.bremfree(bp);
  if (size !== bc.b_bcount.get(bp)) {
    F.or(bp, B_RELBUF);
    if (F.get(bp) & B_DELWRI) bwrite(bc, bp);
    else brelse(bc, bp);
    return GETBLK_RETRY;
  }
  if ((F.get(bp) & (B_CACHE | B_DELWRI)) === B_DELWRI) {
    // Commit it before the caller, seeing B_CACHE clear, reads over the dirty data.
    F.or(bp, B_NOCACHE);
    bwrite(bc, bp);
    return GETBLK_RETRY;
  }
  return bp;
}

/**
 * getblk's miss path: a new buffer from getnewbuf, hashed to (vp, loffset) and sized. Returns
 * it, 0 (timeout) or GETBLK_RETRY (no buffer yet, or another cpu hashed the key first).
 * Entry: no lock held. May sleep (getnewbuf).
 */
function getblk_new(bc: BufCache, vp: number, loffset: number, size: number, blkflags: number, slptimeo: number): number {
  const F = bc.b_flags;
  const bp = getnewbuf(bc, blkflags, slptimeo, size);
  if (bp === 0) return slptimeo ? 0 : GETBLK_RETRY;
  bc.B.store(bp, 'b_loffset', loffset);
  bc.io.set_offset(b_bio2(bp), NOOFFSET);
  if (!bgetvp(bc, vp, bp)) {
    F.or(bp, B_INVAL);
    brelse(bc, bp);
    return GETBLK_RETRY;
  }
  F.or(bp, B_VMIO);
  if (bc.b_cmd.load(bp) !== BUF_CMD_DONE) throw new ContractError(`getblk: new ${bc.describe(bp)} has an I/O in progress`);
  allocbuf(bc, bp, size);
  // Valid from the start: its pages were resident and valid (the VM served it, not the device).
  bc.fromVm = bc.vm !== null && (F.load(bp) & B_CACHE) !== 0;
  return bp;
}

/**
 * getcacheblk: the buffer only if it is fully valid (B_CACHE, not B_INVAL), locked and off its
 * queue; else 0. With `blksize` 0 it only looks (findblk); otherwise it goes through getblk.
 * May sleep unless GETBLK_NOWAIT.
 */
export function getcacheblk(bc: BufCache, vp: number, loffset: number, blksize: number, blkflags: number): number {
  if (blksize) {
    const bp = getblk(bc, vp, loffset, blksize, blkflags, 0);
    if (bp === 0) return 0;
    if ((bc.b_flags.load(bp) & (B_INVAL | B_CACHE)) === B_CACHE) {
      bc.b_flags.and(bp, ~B_AGE);
      return bp;
    }
    brelse(bc, bp);
    return 0;
  }
  const bp = findblk(bc, vp, loffset, blkflags & GETBLK_NOWAIT ? FINDBLK_NBLOCK : 0);
  if (bp === 0) return 0;
  if ((bc.b_flags.load(bp) & (B_INVAL | B_CACHE)) === B_CACHE) {
    bc.b_flags.and(bp, ~B_AGE);
    bc.bremfree(bp);
    return bp;
  }
  bc.BUF_UNLOCK(bp);
  return 0;
}

/** regetblk: re-take a buffer released to the LOCKED queue. Exit: locked, off its queue. May sleep. */
export function regetblk(bc: BufCache, bp: number): void {
  if ((bc.b_flags.load(bp) & B_LOCKED) === 0) throw new ContractError(`regetblk: ${bc.describe(bp)} is not B_LOCKED`);
  bc.BUF_LOCK(bp);
  bc.bremfree(bp);
}

/**
 * allocbuf: size the buffer's memory to `size` (DEV_BSIZE granular, within its MAXBSIZE
 * reservation) and account bufspace (and dirty space of a dirty buffer). Growing brings in
 * fresh memory, so B_CACHE is cleared (no VM page cache is modelled). Entry: buffer locked.
 * Never sleeps.
 */
export function allocbuf(bc: BufCache, bp: number, size: number): void {
  const B = bc.B;
  bc.assertLocked('allocbuf', bp);
  if (B.load(bp, 'b_kvasize') < size) throw new ContractError(`allocbuf: ${bc.describe(bp)} is too small for ${size} bytes`);
  const newbsize = Math.ceil(size / DEV_BSIZE) * DEV_BSIZE;
  const old = B.load(bp, 'b_bufsize');
  const bcount = B.load(bp, 'b_bcount');
  if (size === 0 || old === 0) bc.b_flags.or(bp, B_CACHE);
  const vm = bc.vm;
  const vp = B.load(bp, 'b_vp');
  if (vm !== null && vp !== 0 && bc.b_flags.load(bp) & B_VMIO) {
    // The pages behind the buffer: give back those past the new size, or bring the new ones in
    // and keep B_CACHE only if every block they add is valid (vfs_buf_test_cache).
    const loffset = B.load(bp, 'b_loffset');
    if (newbsize < old) vm.unwire(vp, loffset, newbsize, old);
    else if (size > bcount && !vm.wire(vp, loffset, old, bcount, newbsize, B.load(bp, 'b_kvabase'), (v) => vm_wait(bc, v))) bc.b_flags.and(bp, ~B_CACHE);
  } else if (newbsize >= old && size > bcount) bc.b_flags.and(bp, ~B_CACHE);
  if (newbsize !== old) {
    bc.gadd('bufspace', newbsize - old);
    const f = bc.b_flags.load(bp);
    if (f & B_DELWRI) {
      bc.gadd('dirtybufspace', newbsize - old);
      if (f & B_HEAVY) bc.gadd('dirtybufspacehw', newbsize - old);
    }
  }
  B.store(bp, 'b_bufsize', newbsize);
  B.store(bp, 'b_bcount', size);
  B.store(bp, 'b_data', B.load(bp, 'b_kvabase'));
  bufspacewakeup(bc);
}

/** vm_wait: no page frame is free; sleep a tick ("vmwait") or until a page is unwired. May sleep. */
function vm_wait(bc: BufCache, vm: Vm): void {
  vm.Q.add(vm.q, 'vs_waits', 1);
  bc.sync.tsleep(vm.lk, 0, 'vmwait', bc.ticks(1));
}

/**
 * vfs_vmio_release: unwire the buffer's pages (they stay in the VM object with their valid bits,
 * on the cache list), give the buffer's memory back (bufspace) and drop its vnode. Entry: locked.
 */
export function vfs_vmio_release(bc: BufCache, bp: number): void {
  const size = bc.B.load(bp, 'b_bufsize');
  const vp = bc.B.load(bp, 'b_vp');
  if (bc.vm !== null && size && vp && bc.b_flags.load(bp) & B_VMIO) bc.vm.unwire(vp, bc.B.load(bp, 'b_loffset'), 0, size);
  if (size) {
    bc.gadd('bufspace', -size);
    bc.B.store(bp, 'b_bufsize', 0);
    bufspacewakeup(bc);
  }
  bc.b_flags.and(bp, ~B_VMIO);
  if (bc.B.load(bp, 'b_vp')) brelvp(bc, bp);
}
