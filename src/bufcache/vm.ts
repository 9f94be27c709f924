/**
 * The VM pages behind the buffers: one VM object per vnode holding pages with DEV_BSIZE valid
 * bits, a bounded pool of page frames, and the page queues (free, and the unwired pages that
 * stay in their objects: the cache the buffer cache falls back on).
 *
 * In the seed a buffer maps its pages (b_xio); releasing the buffer (vfs_vmio_release) unwires
 * them and they stay in the object, valid, so a later allocbuf finds them and keeps B_CACHE
 * (vfs_buf_test_cache), and inmem() sees them. kiolab keeps the buffer's own memory (its MAXBSIZE
 * slice of `bufcache.pages`) and copies: allocbuf copies the resident pages' bytes into the new
 * buffer, and every completed I/O of the buffer copies its bytes to its pages and marks them
 * valid (the seed marks them at completion too). While a buffer holds a page, the page's bytes
 * of that buffer's range are the buffer's last I/O; ranges of different buffers never overlap
 * (getblk keys them by their offset, and a file's buffers are its blocks).
 *
 * Locks: a VM object's `obj_token` (spinlock) protects its hash chains and, for its pages,
 * pg_obj/pg_pindex/pg_hnext/pg_valid/pg_wire and the page's bytes; `vq_lock` (spinlock)
 * protects the queues (pg_qnext/pg_qprev, the heads, the counts). Order: obj_token, then
 * vq_lock; a page of another object is reclaimed only under a try-lock of its token.
 */
import type { Arena, ArenaPlan, Pool } from '../shm/arena.js';
import { defineStruct } from '../shm/layout.js';
import type { Field, StructView } from '../shm/view.js';
import { ContractError } from '../sync/errno.js';
import { LK_SPIN, LockLayout } from '../sync/layouts.js';
import type { Sync } from '../sync/sync.js';
import { DEV_BSIZE, PAGE_SIZE } from './tunables.js';

/** Hash chains per VM object. */
export const OBJ_HASH = 256;
/** pg_valid of a fully valid page: one bit per DEV_BSIZE block. */
export const VM_PAGE_BITS_ALL = (1 << (PAGE_SIZE / DEV_BSIZE)) - 1;

/** struct vm_object (one per vnode): obj_token protects the rest and the pages it holds. */
export const VmObjectLayout = defineStruct(
  'vm_object',
  {
    obj_token: { struct: LockLayout },
    obj_npages: { line: 'i32' },
    obj_hash: { i32: OBJ_HASH },
  },
  { align: 64 },
);

/**
 * struct vm_page: pg_obj (vnode + 1, 0: free), pg_pindex, pg_hnext, pg_valid, pg_wire under its
 * object's token; pg_qnext/pg_qprev under vq_lock (a page is on the free list or the cache list
 * exactly when pg_wire is 0).
 */
export const VmPageLayout = defineStruct(
  'vm_page',
  {
    pg_obj: 'i32',
    pg_pindex: 'i32',
    pg_hnext: 'i32',
    pg_valid: 'i32',
    pg_wire: 'i32',
    pg_qnext: 'i32',
    pg_qprev: 'i32',
  },
  { align: 8 },
);

/**
 * The page queues and the VM's counters. Under vq_lock: the free list (singly linked through
 * pg_qnext) and the cache list (unwired pages still in their objects, oldest first), their
 * counts. The statistics are atomic (written on the buffer cache's miss path only).
 */
export const VmQueuesLayout = defineStruct(
  'vm_queues',
  {
    vq_lock: { struct: LockLayout },
    vq_free: { line: 'i32' },
    vq_nfree: 'i32',
    vq_cache_head: 'i32',
    vq_cache_tail: 'i32',
    vq_ncache: 'i32',
    vq_npages: 'i32',
    vq_free_min: 'i32',
    /** Pages allocbuf looked up; of them, found resident; found resident and valid for the buffer. */
    vs_lookups: { line: 'i32' },
    vs_resident: 'i32',
    vs_valid: 'i32',
    /** Frames taken from the free list, and from the cache list (reclaimed from their objects). */
    vs_allocs: 'i32',
    vs_reclaims: 'i32',
    /** Times a thread waited for a frame ("vmwait"). */
    vs_waits: 'i32',
    /** New buffers that came out of allocbuf valid (B_CACHE) from resident pages: reads the VM served. */
    vs_bufhits: { line: 'i32' },
    /** bqrelse/brelse calls that released the buffer because the VM was short of pages (vm_paging_min). */
    vs_lowmem: 'i32',
  },
  { align: 64 },
);

export type VmPageField = keyof typeof VmPageLayout.off;
export type VmObjectField = keyof typeof VmObjectLayout.off;
export type VmQueuesField = keyof typeof VmQueuesLayout.off;

/** Plan the VM's regions: `vmPages` frames for `files` vnodes (nothing when vmPages is 0). */
export function planVm(plan: ArenaPlan, files: number, vmPages: number): void {
  if (vmPages === 0) return;
  plan.pool('bufcache.vmobjects', VmObjectLayout, files);
  plan.pool('bufcache.vmpages', VmPageLayout, vmPages);
  plan.pool('bufcache.vmqueues', VmQueuesLayout, 1);
  plan.bytes('bufcache.vmdata', vmPages * PAGE_SIZE, PAGE_SIZE, 'pages');
}

/** Main thread, once: every frame on the free list, the locks named. */
export function initVm(arena: Arena, sync: Sync, files: number, vmPages: number, freeMin: number): void {
  if (vmPages === 0) return;
  const O = arena.view(VmObjectLayout);
  const Q = arena.view(VmQueuesLayout);
  const P = arena.view(VmPageLayout);
  const objects = arena.pool('bufcache.vmobjects', VmObjectLayout);
  const pages = arena.pool('bufcache.vmpages', VmPageLayout);
  const q = arena.pool('bufcache.vmqueues', VmQueuesLayout).addr(0);
  for (let i = 0; i < files; i++) sync.lock_init(O.addrOf(objects.addr(i), 'obj_token'), 'vm_object', LK_SPIN);
  sync.lock_init(Q.addrOf(q, 'vq_lock'), 'vm_page_queues', LK_SPIN);
  for (let i = vmPages - 1; i >= 0; i--) {
    const m = pages.addr(i);
    P.store(m, 'pg_qnext', Q.load(q, 'vq_free'));
    Q.store(q, 'vq_free', m);
  }
  Q.store(q, 'vq_nfree', vmPages);
  Q.store(q, 'vq_npages', vmPages);
  Q.store(q, 'vq_free_min', freeMin);
}

/**
 * The VM's figures as sysctl names them (vm.stats.vm.v_page_count ...) plus kiolab's counters
 * (kiolab.vm.*); none when the machine has no VM pages. Takes no lock (a sample).
 */
export function vmSnapshot(arena: Arena): Record<string, number> {
  if (!arena.hasRegion('bufcache.vmqueues')) return {};
  const Q = arena.view(VmQueuesLayout);
  const q = arena.pool('bufcache.vmqueues', VmQueuesLayout).addr(0);
  const n = (f: VmQueuesField) => Q.load(q, f);
  return {
    'vm.stats.vm.v_page_count': n('vq_npages'),
    'vm.stats.vm.v_free_count': n('vq_nfree'),
    'vm.stats.vm.v_cache_count': n('vq_ncache'),
    'vm.stats.vm.v_wire_count': n('vq_npages') - n('vq_nfree') - n('vq_ncache'),
    'vm.stats.vm.v_free_min': n('vq_free_min'),
    'kiolab.vm.lookups': n('vs_lookups'),
    'kiolab.vm.resident': n('vs_resident'),
    'kiolab.vm.valid': n('vs_valid'),
    'kiolab.vm.allocs': n('vs_allocs'),
    'kiolab.vm.reclaims': n('vs_reclaims'),
    'kiolab.vm.waits': n('vs_waits'),
    'kiolab.vm.bufhits': n('vs_bufhits'),
    'kiolab.vm.lowmem_releases': n('vs_lowmem'),
  };
}

/** The DEV_BSIZE bits of [off, off + len) within a page (off, len multiples of DEV_BSIZE). */
function pageBits(off: number, len: number): number {
  const first = off / DEV_BSIZE;
  const n = len / DEV_BSIZE;
  return n >= 32 ? -1 : ((1 << n) - 1) << first;
}

const attached = new WeakMap<Sync, Vm>();

/** The VM as one cpu sees it (`Vm.of(sync)`); null when the machine has no VM pages. */
export class Vm {
  readonly O: StructView<VmObjectField>;
  readonly P: StructView<VmPageField>;
  readonly Q: StructView<VmQueuesField>;
  readonly q: number;
  readonly lk: number;
  private readonly objects: Pool<VmObjectField>;
  private readonly pages: Pool<VmPageField>;
  private readonly data: number;
  private readonly pg_obj: Field;
  private readonly pg_pindex: Field;
  private readonly pg_hnext: Field;
  private readonly pg_valid: Field;
  private readonly pg_wire: Field;
  private readonly pg_qnext: Field;
  private readonly pg_qprev: Field;
  /** Element 0 of obj_hash; element k of object o is `obj_hash.get(o + 4 * k)`. */
  private readonly obj_hash: Field;
  private readonly vq_nfree: Field;
  private readonly vq_ncache: Field;
  /** vq_free_min (constant after initVm). */
  private readonly freeMin: number;

  static of(sync: Sync): Vm | null {
    if (!sync.arena.hasRegion('bufcache.vmpages')) return null;
    let vm = attached.get(sync);
    if (!vm) {
      vm = new Vm(sync);
      attached.set(sync, vm);
    }
    return vm;
  }

  private constructor(readonly sync: Sync) {
    const arena = sync.arena;
    this.O = arena.view(VmObjectLayout);
    this.P = arena.view(VmPageLayout);
    this.Q = arena.view(VmQueuesLayout);
    this.objects = arena.pool('bufcache.vmobjects', VmObjectLayout);
    this.pages = arena.pool('bufcache.vmpages', VmPageLayout);
    this.q = arena.pool('bufcache.vmqueues', VmQueuesLayout).addr(0);
    this.lk = this.Q.addrOf(this.q, 'vq_lock');
    this.data = arena.region('bufcache.vmdata').offset;
    this.pg_obj = this.P.field('pg_obj');
    this.pg_pindex = this.P.field('pg_pindex');
    this.pg_hnext = this.P.field('pg_hnext');
    this.pg_valid = this.P.field('pg_valid');
    this.pg_wire = this.P.field('pg_wire');
    this.pg_qnext = this.P.field('pg_qnext');
    this.pg_qprev = this.P.field('pg_qprev');
    this.obj_hash = this.O.field('obj_hash');
    this.vq_nfree = this.Q.field('vq_nfree');
    this.vq_ncache = this.Q.field('vq_ncache');
    this.freeMin = this.Q.load(this.q, 'vq_free_min');
  }

  /** vp->v_object. */
  object(vp: number): number {
    return this.objects.addr(vp - 1);
  }
  /** The bytes of page `m`. */
  pageData(m: number): number {
    return this.data + this.pages.index(m) * PAGE_SIZE;
  }
  /** The address to give obj_hash for `pindex`'s chain (element k of object `obj`: obj + 4k). */
  private slot(obj: number, pindex: number): number {
    return obj + 4 * (Math.imul(pindex, 0x9e3779b1) >>> 24);
  }

  /** vm_page_lookup: page `pindex` of `obj`, or 0. Caller holds obj_token. */
  lookup(obj: number, pindex: number, vp: number): number {
    for (let m = this.obj_hash.get(this.slot(obj, pindex)); m !== 0; m = this.pg_hnext.get(m)) {
      if (this.pg_pindex.get(m) === pindex && this.pg_obj.get(m) === vp) return m;
    }
    return 0;
  }

  /**
   * vm_paging_min: the free and cache lists together are below vq_free_min. On every bqrelse and
   * brelse, so relaxed reads (the seed reads vmstats without a lock too). Never sleeps.
   */
  paging_min(): boolean {
    return this.vq_nfree.peek(this.q) + this.vq_ncache.peek(this.q) < this.freeMin;
  }

  /**
   * allocbuf's growing step for a buffer of file `vp` at `loffset` whose memory is at `data`: it
   * holds the pages of its first `held` bytes; wire the pages up to byte `to` (bringing in
   * resident pages, allocating the others with no valid bit), and copy in the valid bytes of
   * [from, to). Returns true when every DEV_BSIZE block of [from, to) is valid
   * (vfs_buf_test_cache: B_CACHE stays). `wait` sleeps when no frame is free (vm_wait).
   * Entry: the buffer locked. May sleep (only to wait for a frame).
   */
  wire(vp: number, loffset: number, held: number, from: number, to: number, data: number, wait: (vm: Vm) => void): boolean {
    const obj = this.object(vp);
    const tok = this.O.addrOf(obj, 'obj_token');
    const s = this.sync;
    const Q = this.Q;
    const q = this.q;
    let valid = true;
    // The last page the buffer holds already (-1: none).
    const heldLast = held === 0 ? -1 : Math.floor((loffset + held - 1) / PAGE_SIZE);
    const last = Math.floor((loffset + to - 1) / PAGE_SIZE);
    for (let p = Math.floor((loffset + from) / PAGE_SIZE); p <= last; ) {
      s.spin_lock(tok);
      let m = this.lookup(obj, p, vp);
      if (p > heldLast) {
        Q.add(q, 'vs_lookups', 1);
        if (m !== 0) {
          Q.add(q, 'vs_resident', 1);
          if (this.pg_wire.get(m) === 0) {
            s.spin_lock(this.lk);
            this.cacheRemove(m);
            s.spin_unlock(this.lk);
          }
          this.pg_wire.set(m, this.pg_wire.get(m) + 1);
        } else {
          m = this.alloc(obj, vp, p);
          if (m === 0) {
            s.spin_unlock(tok);
            wait(this);
            continue;
          }
        }
      } else if (m === 0) {
        s.spin_unlock(tok);
        throw new ContractError(`vm: page ${p} of vnode ${vp} is wired by a buffer but not in its object`);
      }
      // This buffer's bytes of the page: valid ones are brought in.
      const lo = Math.max(loffset + from, p * PAGE_SIZE);
      const hi = Math.min(loffset + to, (p + 1) * PAGE_SIZE);
      const bits = pageBits(lo - p * PAGE_SIZE, Math.ceil((hi - lo) / DEV_BSIZE) * DEV_BSIZE);
      if ((this.pg_valid.get(m) & bits) === bits) {
        if (p > heldLast) Q.add(q, 'vs_valid', 1);
        s.arena.copyBytes(data + (lo - loffset), this.pageData(m) + (lo - p * PAGE_SIZE), hi - lo);
      } else valid = false;
      s.spin_unlock(tok);
      p++;
    }
    return valid;
  }

  /**
   * Unwire the pages of [loffset + from, loffset + to) (the part of a shrinking or released
   * buffer no other byte of it lies in): each whose wire count drops to 0 goes to the tail of the
   * cache list, still in its object with its valid bits. Entry: the buffer locked. Never sleeps.
   */
  unwire(vp: number, loffset: number, from: number, to: number): void {
    if (to <= from) return;
    const obj = this.object(vp);
    const tok = this.O.addrOf(obj, 'obj_token');
    const s = this.sync;
    // Whole pages only: a page the buffer keeps a byte of stays wired.
    const first = from === 0 ? Math.floor(loffset / PAGE_SIZE) : Math.floor((loffset + from - 1) / PAGE_SIZE) + 1;
    const last = Math.floor((loffset + to - 1) / PAGE_SIZE);
    s.spin_lock(tok);
    for (let p = first; p <= last; p++) {
      const m = this.lookup(obj, p, vp);
      if (m === 0 || this.pg_wire.get(m) <= 0) {
        s.spin_unlock(tok);
        throw new ContractError(`vm_page_unwire: page ${p} of vnode ${vp} is not wired`);
      }
      const w = this.pg_wire.get(m) - 1;
      this.pg_wire.set(m, w);
      if (w === 0) {
        s.spin_lock(this.lk);
        this.cacheInsert(m);
        s.spin_unlock(this.lk);
      }
    }
    s.spin_unlock(tok);
    if (this.Q.load(this.q, 'vs_waits') !== 0) s.wakeup(this.lk);
  }

  /**
   * The buffer's I/O of [loffset, loffset + len) completed: copy its bytes (at `data`) to its
   * pages and mark them valid (`valid` true), or mark them invalid (vm_page_set_invalid: a failed
   * read, B_NOCACHE). The pages are wired by the buffer. Never sleeps.
   */
  setRange(vp: number, loffset: number, len: number, data: number, valid: boolean): void {
    if (len <= 0) return;
    const obj = this.object(vp);
    const tok = this.O.addrOf(obj, 'obj_token');
    const s = this.sync;
    s.spin_lock(tok);
    try {
      for (let p = Math.floor(loffset / PAGE_SIZE); p * PAGE_SIZE < loffset + len; p++) {
        const m = this.lookup(obj, p, vp);
        if (m === 0) throw new ContractError(`vm: page ${p} of vnode ${vp} is not resident under its buffer`);
        const lo = Math.max(loffset, p * PAGE_SIZE);
        const hi = Math.min(loffset + len, (p + 1) * PAGE_SIZE);
        const bits = pageBits(lo - p * PAGE_SIZE, Math.ceil((hi - lo) / DEV_BSIZE) * DEV_BSIZE);
        if (valid) {
          this.sync.arena.copyBytes(this.pageData(m) + (lo - p * PAGE_SIZE), data + (lo - loffset), hi - lo);
          this.pg_valid.set(m, this.pg_valid.get(m) | bits);
        } else this.pg_valid.set(m, this.pg_valid.get(m) & ~bits);
      }
    } finally {
      s.spin_unlock(tok);
    }
  }

  /** inmem's VM half: every page of [loffset, loffset + len) resident and valid. Takes obj_token. */
  resident(vp: number, loffset: number, len: number): boolean {
    const obj = this.object(vp);
    const tok = this.O.addrOf(obj, 'obj_token');
    this.sync.spin_lock(tok);
    try {
      for (let p = Math.floor(loffset / PAGE_SIZE); p * PAGE_SIZE < loffset + len; p++) {
        const m = this.lookup(obj, p, vp);
        if (m === 0) return false;
        const lo = Math.max(loffset, p * PAGE_SIZE);
        const hi = Math.min(loffset + len, (p + 1) * PAGE_SIZE);
        const bits = pageBits(lo - p * PAGE_SIZE, Math.ceil((hi - lo) / DEV_BSIZE) * DEV_BSIZE);
        if ((this.pg_valid.get(m) & bits) !== bits) return false;
      }
      return true;
    } finally {
      this.sync.spin_unlock(tok);
    }
  }

  /**
   * A frame for page `pindex` of `obj` (vp): from the free list, else the oldest page of the cache
   * list whose object's token can be taken (reclaimed: removed from its object). Inserted into
   * `obj`, wired once, no valid bits. 0 when none is free. Caller holds obj's token. Never sleeps.
   */
  private alloc(obj: number, vp: number, pindex: number): number {
    const s = this.sync;
    const Q = this.Q;
    const q = this.q;
    s.spin_lock(this.lk);
    let m = Q.load(q, 'vq_free');
    if (m !== 0) {
      Q.store(q, 'vq_free', this.pg_qnext.get(m));
      Q.store(q, 'vq_nfree', Q.load(q, 'vq_nfree') - 1);
      Q.add(q, 'vs_allocs', 1);
    } else {
      for (m = Q.load(q, 'vq_cache_head'); m !== 0; m = this.pg_qnext.get(m)) {
        const other = this.pg_obj.get(m);
        const otok = this.O.addrOf(this.object(other), 'obj_token');
        if (other === vp) {
          this.hashRemove(obj, m);
          break;
        }
        if (s.spin_trylock(otok)) {
          this.hashRemove(this.object(other), m);
          s.spin_unlock(otok);
          break;
        }
      }
      if (m !== 0) {
        this.cacheRemove(m);
        Q.add(q, 'vs_reclaims', 1);
      }
    }
    s.spin_unlock(this.lk);
    if (m === 0) return 0;
    this.pg_obj.set(m, vp);
    this.pg_pindex.set(m, pindex);
    this.pg_valid.set(m, 0);
    this.pg_wire.set(m, 1);
    const slot = this.slot(obj, pindex);
    this.pg_hnext.set(m, this.obj_hash.get(slot));
    this.obj_hash.set(slot, m);
    this.O.store(obj, 'obj_npages', this.O.load(obj, 'obj_npages') + 1);
    return m;
  }

  /** Take page `m` out of `obj`'s hash. Caller holds obj's token. */
  private hashRemove(obj: number, m: number): void {
    const slot = this.slot(obj, this.pg_pindex.get(m));
    let prev = 0;
    let cur = this.obj_hash.get(slot);
    while (cur !== 0 && cur !== m) {
      prev = cur;
      cur = this.pg_hnext.get(cur);
    }
    if (cur === 0) throw new ContractError(`vm: page ${this.pages.index(m)} is not on its object's hash chain`);
    if (prev === 0) this.obj_hash.set(slot, this.pg_hnext.get(m));
    else this.pg_hnext.set(prev, this.pg_hnext.get(m));
    this.pg_obj.set(m, 0);
    this.O.store(obj, 'obj_npages', this.O.load(obj, 'obj_npages') - 1);
  }

  /** Caller holds vq_lock. */
  private cacheInsert(m: number): void {
    const Q = this.Q;
    const q = this.q;
    const tail = Q.load(q, 'vq_cache_tail');
    this.pg_qprev.set(m, tail);
    this.pg_qnext.set(m, 0);
    if (tail === 0) Q.store(q, 'vq_cache_head', m);
    else this.pg_qnext.set(tail, m);
    Q.store(q, 'vq_cache_tail', m);
    Q.store(q, 'vq_ncache', Q.load(q, 'vq_ncache') + 1);
  }

  /** Caller holds vq_lock. */
  private cacheRemove(m: number): void {
    const Q = this.Q;
    const q = this.q;
    const prev = this.pg_qprev.get(m);
    const next = this.pg_qnext.get(m);
    if (prev === 0) Q.store(q, 'vq_cache_head', next);
    else this.pg_qnext.set(prev, next);
    if (next === 0) Q.store(q, 'vq_cache_tail', prev);
    else this.pg_qprev.set(next, prev);
    this.pg_qnext.set(m, 0);
    this.pg_qprev.set(m, 0);
    Q.store(q, 'vq_ncache', Q.load(q, 'vq_ncache') - 1);
  }
}
