/**
 * A vnode's buffers, what DragonFly keeps in vfs_subr.c: the hash (bgetvp, brelvp, hashLookup),
 * the clean and dirty lists (reassignbuf; the kernel's v_rbclean_tree and v_rbdirty_tree, kept
 * here as unsorted lists, newest first) and vfsync, which walks the dirty list. All of it is
 * protected by the vnode's v_token: findblk looks up the hash with it shared, everything here
 * that changes the hash or the lists takes it exclusive.
 *
 * Vnodes are named by index + 1 (`vp`, 0 = none), as b_vp stores them; `v` is a vnode's address,
 * which is also the address of its v_token (the first field).
 */
import { B_DELWRI, B_HASHED, B_VNCLEAN, B_VNDIRTY } from '../device/buf.js';
import type { Field } from '../shm/view.js';
import { ContractError } from '../sync/errno.js';
import type { BufCache } from './core.js';
import { bawrite } from './io.js';
import { VHASH_SIZE, VnodeLayout } from './layout.js';

const VHASH_MASK = VHASH_SIZE - 1;
if ((VHASH_SIZE & VHASH_MASK) !== 0) throw new Error('bufcache: VHASH_SIZE must be a power of two');

/** The vnode hash slot of file offset `loffset` (a multiplicative hash of its 512-byte block). */
function hashSlot(loffset: number): number {
  return Math.imul(loffset >>> 9, 0x9e3779b1) & VHASH_MASK;
}

/** Hash lookup of (vp, loffset) in vnode `v`'s chains. Caller holds the vnode's v_token (either mode). */
export function hashLookup(bc: BufCache, v: number, loffset: number): number {
  const hnext = bc.b_hnext;
  const off = bc.b_loffset;
  for (let bp = bc.v_hash.get(v + (hashSlot(loffset) << 2)); bp !== 0; bp = hnext.get(bp)) {
    if (off.get(bp) === loffset) return bp;
  }
  return 0;
}

/** LIST_INSERT_HEAD of `bp` on list `head` of vnode `v`, marked `flag`. Caller holds v_token exclusive. */
function vlistInsert(bc: BufCache, v: number, head: Field, bp: number, flag: number): void {
  const first = head.get(v);
  bc.b_vnprev.set(bp, 0);
  bc.b_vnnext.set(bp, first);
  if (first !== 0) bc.b_vnprev.set(first, bp);
  head.set(v, bp);
  bc.b_flags.or(bp, flag);
}

/** LIST_REMOVE of `bp` from list `head` of vnode `v`, clearing `flag`. Caller holds v_token exclusive. */
function vlistRemove(bc: BufCache, v: number, head: Field, bp: number, flag: number): void {
  const prev = bc.b_vnprev.get(bp);
  const next = bc.b_vnnext.get(bp);
  if (prev === 0) head.set(v, next);
  else bc.b_vnnext.set(prev, next);
  if (next !== 0) bc.b_vnprev.set(next, prev);
  bc.b_vnnext.set(bp, 0);
  bc.b_vnprev.set(bp, 0);
  bc.b_flags.and(bp, ~flag);
}

/**
 * reassignbuf: move hashed buffer `bp` to the dirty list of vnode `v` when it is B_DELWRI, else
 * to the clean list. Entry: buffer locked, v_token held exclusive. Never sleeps.
 */
export function reassignbuf(bc: BufCache, v: number, bp: number): void {
  const f = bc.b_flags.load(bp);
  if (f & B_DELWRI) {
    if (f & B_VNCLEAN) vlistRemove(bc, v, bc.v_cleanblkhd, bp, B_VNCLEAN);
    if ((f & B_VNDIRTY) === 0) vlistInsert(bc, v, bc.v_dirtyblkhd, bp, B_VNDIRTY);
  } else {
    if (f & B_VNDIRTY) vlistRemove(bc, v, bc.v_dirtyblkhd, bp, B_VNDIRTY);
    if ((f & B_VNCLEAN) === 0) vlistInsert(bc, v, bc.v_cleanblkhd, bp, B_VNCLEAN);
  }
}

/**
 * bgetvp: associate locked buffer `bp` (b_loffset set, no vnode, not dirty) with `vp`: hash it
 * and put it on the vnode's clean list. Returns false on a collision (another buffer already
 * holds (vp, loffset)). Takes v_token. Never sleeps.
 */
export function bgetvp(bc: BufCache, vp: number, bp: number): boolean {
  const v = bc.vnode(vp);
  if (bc.b_vp.get(bp) !== 0 || bc.b_flags.load(bp) & (B_HASHED | B_DELWRI | B_VNCLEAN | B_VNDIRTY)) {
    throw new ContractError(`bgetvp: ${bc.describe(bp)} of vnode ${bc.b_vp.get(bp)} is not free`);
  }
  const tok = bc.V.addrOf(v, 'v_token');
  const loffset = bc.B.load(bp, 'b_loffset');
  bc.sync.spin_lock(tok);
  try {
    if (hashLookup(bc, v, loffset) !== 0) return false;
    const k = hashSlot(loffset);
    bc.B.store(bp, 'b_hnext', bc.V.loadAt(v, 'v_hash', k));
    bc.V.storeAt(v, 'v_hash', k, bp);
    bc.B.store(bp, 'b_vp', vp);
    bc.b_flags.or(bp, B_HASHED);
    vlistInsert(bc, v, bc.v_cleanblkhd, bp, B_VNCLEAN);
    bc.V.add(v, 'v_nbufs', 1);
    return true;
  } finally {
    bc.sync.spin_unlock(tok);
  }
}

/** brelvp: take locked buffer `bp` off its vnode's list, unhash it and drop its vnode. Takes v_token. Never sleeps. */
export function brelvp(bc: BufCache, bp: number): void {
  const vp = bc.B.load(bp, 'b_vp');
  if (vp === 0) return;
  const v = bc.vnode(vp);
  const tok = bc.V.addrOf(v, 'v_token');
  const B = bc.B;
  bc.sync.spin_lock(tok);
  try {
    const f = bc.b_flags.load(bp);
    if (f & B_VNDIRTY) vlistRemove(bc, v, bc.v_dirtyblkhd, bp, B_VNDIRTY);
    else if (f & B_VNCLEAN) vlistRemove(bc, v, bc.v_cleanblkhd, bp, B_VNCLEAN);
    if (f & B_HASHED) {
      const k = hashSlot(B.load(bp, 'b_loffset'));
      let prev = 0;
      let cur = bc.V.loadAt(v, 'v_hash', k);
      while (cur !== 0 && cur !== bp) {
        prev = cur;
        cur = B.load(cur, 'b_hnext');
      }
      if (cur === 0) throw new ContractError(`brelvp: ${bc.describe(bp)} is B_HASHED but not on vnode ${vp}'s hash chain`);
      if (prev === 0) bc.V.storeAt(v, 'v_hash', k, B.load(bp, 'b_hnext'));
      else B.store(prev, 'b_hnext', B.load(bp, 'b_hnext'));
      B.store(bp, 'b_hnext', 0);
      bc.b_flags.and(bp, ~B_HASHED);
      bc.V.add(v, 'v_nbufs', -1);
    }
    B.store(bp, 'b_vp', 0);
  } finally {
    bc.sync.spin_unlock(tok);
  }
}

/**
 * vfsync: write out every buffer on `vp`'s dirty list (bawrite) and wait for the vnode's writes
 * to drain (at most `timeoutMs`, 0: no limit). Holds v_token only while it collects the list;
 * a buffer recycled or cleaned before it is locked is skipped. May sleep.
 */
export function vfsync(bc: BufCache, vp: number, timeoutMs: number): void {
  const v = bc.vnode(vp);
  const tok = bc.V.addrOf(v, 'v_token');
  const dirty: number[] = [];
  bc.sync.spin_lock(tok);
  for (let bp = bc.v_dirtyblkhd.get(v); bp !== 0; bp = bc.b_vnnext.get(bp)) dirty.push(bp);
  bc.sync.spin_unlock(tok);
  for (const bp of dirty) {
    bc.BUF_LOCK(bp);
    if (bc.b_vp.get(bp) !== vp || (bc.b_flags.load(bp) & B_DELWRI) === 0) {
      bc.BUF_UNLOCK(bp);
      continue;
    }
    bc.bremfree(bp);
    bawrite(bc, bp);
  }
  bc.io.bio_track_wait(VnodeLayout.addrOf(v, 'v_track_write'), timeoutMs);
}
