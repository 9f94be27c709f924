/**
 * The buffer cache as one cpu sees it: views of the shared structs, the buffer lock
 * (BUF_LOCK / BUF_UNLOCK / BUF_KERNPROC) and the per-cpu queues (bufpcpu[], bremfree).
 *
 * Everything shared lives in the arena (see layout.ts); a `BufCache` holds only views, so any
 * worker — a caller, a buf daemon, a device worker completing an I/O — attaches its own with
 * `BufCache.of(sync)`.
 */
import { BioLayer } from '../device/bio.js';
import { bflagsToString } from '../device/buf.js';
import type { Devices } from '../device/disk.js';
import type { Arena, Pool } from '../shm/arena.js';
import type { Field, StructView } from '../shm/view.js';
import { ContractError } from '../sync/errno.js';
import type { Sync } from '../sync/sync.js';
import {
  BufGlobalsLayout,
  BufLayout,
  BufPcpuLayout,
  type BufField,
  type GlobalField,
  type PcpuField,
  VnodeLayout,
  type VnodeField,
} from './layout.js';
import { BQUEUE_NAMES, BQUEUE_NONE } from './tunables.js';
import { Vm } from './vm.js';

const attached = new WeakMap<Sync, BufCache>();

export class BufCache {
  readonly arena: Arena;
  readonly io: BioLayer;
  readonly B: StructView<BufField>;
  readonly P: StructView<PcpuField>;
  readonly V: StructView<VnodeField>;
  readonly G: StructView<GlobalField>;
  readonly bufs: Pool<BufField>;
  readonly pcpus: Pool<PcpuField>;
  readonly vnodes: Pool<VnodeField>;
  /** Address of the globals struct. */
  readonly g: number;
  readonly nbuf: number;
  readonly nsets: number;
  readonly cpu: number;
  /** This cpu's statistics slot. */
  readonly mypc: number;
  /** The VM pages behind the buffers (null: the machine models no VM). */
  readonly vm: Vm | null;
  /** Set by getblk when the buffer it returns is new and came out of allocbuf valid from resident VM pages (this cpu's last getblk). */
  fromVm = false;
  /** Set on the buf daemons' cpus: bd_wait returns at once there (curthread == bufdaemon_td). */
  isDaemon = false;
  /** The daemons' shutdown test (k.shuttingDown), so their waits stay short at the end of a run. */
  stop: () => boolean = () => false;
  // Hot fields, bound once (monomorphic accessors; see HACKING.md). Protection as in layout.ts.
  readonly b_flags: Field;
  readonly b_qindex: Field;
  readonly b_qnext: Field;
  readonly b_qprev: Field;
  readonly b_refs: Field;
  readonly b_lockword: Field;
  readonly b_vp: Field;
  readonly b_loffset: Field;
  readonly b_hnext: Field;
  readonly b_vnnext: Field;
  readonly b_vnprev: Field;
  readonly b_qcpu: Field;
  readonly b_cmd: Field;
  readonly b_bcount: Field;
  readonly b_bufsize: Field;
  readonly b_kvasize: Field;
  readonly b_kernproc: Field;
  /** Element 0 of v_hash; element k of vnode v is `v_hash.get(v + 4 * k)`. */
  readonly v_hash: Field;
  readonly v_cleanblkhd: Field;
  readonly v_dirtyblkhd: Field;
  /** Elements 0 of the per-queue arrays of struct bufpcpu (element q of set pc: `pc + 4 * q`). */
  readonly q_head: Field;
  readonly q_tail: Field;
  readonly q_len: Field;
  /** The needsbuffer request word of the globals (read on every release). */
  readonly g_needsbuffer: Field;
  /** This cpu's hits/misses statistics words (written by this cpu only). */
  private readonly st_hits: Field;
  private readonly st_misses: Field;
  /** Pool geometry, for address arithmetic without the pools' checks on hot paths. */
  private readonly vbase: number;
  private readonly vbytes: number;
  private readonly nvnodes: number;
  private readonly pcbase: number;
  private readonly pcbytes: number;
  private devices: Devices | null = null;
  /** Name ids of the buffer cache's instrumentation points (for race-lab hooks). */
  readonly pt_getblk_found: number;
  readonly pt_getnewbuf_locked: number;

  /** The buffer cache of this worker (one per Sync). */
  static of(sync: Sync): BufCache {
    let bc = attached.get(sync);
    if (!bc) {
      bc = new BufCache(sync);
      attached.set(sync, bc);
    }
    return bc;
  }

  private constructor(readonly sync: Sync) {
    const arena = (this.arena = sync.arena);
    if (!arena.hasRegion('bufcache.globals')) throw new ContractError('bufcache: the machine spec has no bufcache section');
    this.io = BioLayer.of(sync);
    this.io.ext.set('bufcache', this);
    this.vm = Vm.of(sync);
    this.B = arena.view(BufLayout);
    this.P = arena.view(BufPcpuLayout);
    this.V = arena.view(VnodeLayout);
    this.G = arena.view(BufGlobalsLayout);
    this.bufs = arena.pool('bufcache.bufs', BufLayout);
    this.pcpus = arena.pool('bufcache.pcpu', BufPcpuLayout);
    this.vnodes = arena.pool('bufcache.vnodes', VnodeLayout);
    this.g = arena.pool('bufcache.globals', BufGlobalsLayout).addr(0);
    this.nbuf = this.G.load(this.g, 'nbuf');
    this.nsets = this.G.load(this.g, 'nsets');
    this.cpu = sync.cpu;
    this.mypc = this.cpu >= 0 ? this.pcpus.addr(this.cpu) : 0;
    this.b_flags = this.B.field('b_flags');
    this.b_qindex = this.B.field('b_qindex');
    this.b_qnext = this.B.field('b_qnext');
    this.b_qprev = this.B.field('b_qprev');
    this.b_refs = this.B.field('b_refs');
    this.b_lockword = arena.view(BufLayout).field('b_lock');
    const B = this.B;
    this.b_vp = B.field('b_vp');
    this.b_loffset = B.field('b_loffset');
    this.b_hnext = B.field('b_hnext');
    this.b_vnnext = B.field('b_vnnext');
    this.b_vnprev = B.field('b_vnprev');
    this.b_qcpu = B.field('b_qcpu');
    this.b_cmd = B.field('b_cmd');
    this.b_bcount = B.field('b_bcount');
    this.b_bufsize = B.field('b_bufsize');
    this.b_kvasize = B.field('b_kvasize');
    this.b_kernproc = B.field('b_kernproc');
    this.v_hash = this.V.field('v_hash');
    this.v_cleanblkhd = this.V.field('v_cleanblkhd');
    this.v_dirtyblkhd = this.V.field('v_dirtyblkhd');
    this.q_head = this.P.field('q_head');
    this.q_tail = this.P.field('q_tail');
    this.q_len = this.P.field('q_len');
    this.g_needsbuffer = this.G.field('needsbuffer');
    this.st_hits = this.P.field('hits');
    this.st_misses = this.P.field('misses');
    this.vbase = this.vnodes.base;
    this.vbytes = VnodeLayout.bytes;
    this.nvnodes = this.vnodes.count;
    this.pcbase = this.pcpus.base;
    this.pcbytes = BufPcpuLayout.bytes;
    if (VnodeLayout.off.v_token !== 0 || BufPcpuLayout.off.spin !== 0 || BufLayout.off.b_lock !== 0) {
      throw new ContractError('bufcache: v_token, bufpcpu.spin and b_lock must be the first fields of their structs');
    }
    this.pt_getblk_found = sync.intern('getblk_found');
    this.pt_getnewbuf_locked = sync.intern('getnewbuf_locked');
  }

  /** The devices (attached by whoever created them in this worker: the role, or the device worker). */
  get dev(): Devices {
    if (!this.devices) {
      const d = this.io.ext.get('devices') as Devices | undefined;
      if (!d) throw new ContractError(`bufcache: cpu ${this.cpu} has no devices attached (call Devices.of(sync, spec) first)`);
      this.devices = d;
    }
    return this.devices;
  }

  // ------------------------------------------------------------- globals

  gl(f: GlobalField): number {
    return this.G.load(this.g, f);
  }
  gadd(f: GlobalField, v: number): number {
    return this.G.add(this.g, f, v);
  }
  /** Count an event in this cpu's statistics slot (written by this cpu only: plain increments). */
  stat(f: PcpuField, k = -1, n = 1): void {
    if (this.cpu < 0) return;
    const e = k >= 0 ? k : 0;
    this.P.setAt(this.mypc, f, e, this.P.getAt(this.mypc, f, e) + n);
  }
  /** stat('hits') / stat('misses') of bread, bound. */
  statHit(hit: boolean): void {
    if (this.cpu < 0) return;
    const f = hit ? this.st_hits : this.st_misses;
    f.set(this.mypc, f.get(this.mypc) + 1);
  }
  get hzMs(): number {
    return this.G.load(this.g, 'hzMs');
  }
  /** The kernel's `hz`: clock ticks per second. */
  get hz(): number {
    return this.G.load(this.g, 'hz');
  }
  /** `n` clock ticks in ms at this machine's time scale (hz ticks last hzMs). */
  ticks(n: number): number {
    return (n * this.hzMs) / this.hz;
  }

  /** Address of the buffer with pool index `n`. */
  buf(n: number): number {
    return this.bufs.addr(n);
  }
  /** "buffer 17 (B_CACHE|B_DELWRI on DIRTY)" for messages. */
  describe(bp: number): string {
    const n = this.B.load(bp, 'b_owner');
    return `buffer ${n} (${bflagsToString(this.b_flags.load(bp))} on ${BQUEUE_NAMES[this.b_qindex.load(bp)] ?? '?'})`;
  }
  /** Address of vnode `vpIndex1` (index + 1, as b_vp stores it); also the address of its v_token. */
  vnode(vpIndex1: number): number {
    if (vpIndex1 >= 1 && vpIndex1 <= this.nvnodes && (vpIndex1 | 0) === vpIndex1) return this.vbase + (vpIndex1 - 1) * this.vbytes;
    return this.vnodes.addr(vpIndex1 - 1); // throws the pool's RangeError
  }

  // ------------------------------------------------------------- the buffer lock

  lockAddr(bp: number): number {
    return bp; // b_lock is the first field of struct buf
  }
  /** BUF_LOCK(bp, LK_EXCLUSIVE): may sleep. */
  BUF_LOCK(bp: number): void {
    this.sync.lock(bp);
  }
  /** BUF_LOCK(bp, LK_EXCLUSIVE | LK_NOWAIT): true when taken. Never sleeps. */
  BUF_TRYLOCK(bp: number): boolean {
    return this.sync.trylock(bp);
  }
  /**
   * BUF_TIMELOCK(bp, LK_EXCLUSIVE | LK_SLEEPFAIL, ms), the mode of its one caller (getblk): 0 when
   * taken without sleeping; ENOLCK once it slept until the lock was released (not taken: the
   * buffer may be another one by now); EWOULDBLOCK after `ms` (0: no limit). May sleep.
   */
  BUF_TIMELOCK(bp: number, ms: number): number {
    return this.sync.lock_sleepfail(bp, ms);
  }
  /** True while anyone (or the kernel, for an I/O in flight) holds the buffer lock. */
  BUF_LOCKINUSE(bp: number): boolean {
    return this.b_lockword.load(bp) !== 0;
  }
  /** Hand the lock to the kernel: the cpu that completes the I/O will release it. */
  BUF_KERNPROC(bp: number): void {
    this.b_kernproc.store(bp, 1);
  }
  /** Release the buffer lock (held by this cpu, or by the kernel after BUF_KERNPROC). Never sleeps. */
  BUF_UNLOCK(bp: number): void {
    if (this.b_kernproc.get(bp) !== 0) {
      if (!this.BUF_LOCKINUSE(bp)) throw new ContractError(`BUF_UNLOCK: ${this.describe(bp)} is not locked`);
      this.b_kernproc.store(bp, 0);
      // The kernel owns it: adopt the ownership so the sync layer's owner check passes.
      this.sync.L.store(bp, 'lk_owner', this.cpu + 1);
    }
    this.sync.unlock(bp);
  }
  /**
   * Contract check of a function whose caller must hold the buffer lock (or own it through
   * BUF_KERNPROC): a plain read, as the holder's own write or the I/O hand-off makes it visible.
   */
  assertLocked(fn: string, bp: number): void {
    if (this.b_lockword.get(bp) === 0) throw new ContractError(`${fn}: ${this.describe(bp)} is not locked`);
  }

  // ------------------------------------------------------------- queues

  /** Spinlock of queue set `set` (the address of bufpcpu[set]: spin is its first field). */
  spinOf(set: number): number {
    if (set >= 0 && set < this.nsets) return this.pcbase + set * this.pcbytes;
    return this.pcpus.addr(set); // throws the pool's RangeError
  }

  /**
   * TAILQ_INSERT_TAIL / _HEAD of `bp` on queue `q` of set `set`. Caller holds that set's spinlock,
   * so the links, heads, tails and lengths are plain writes (the unlock publishes them).
   */
  qinsert(set: number, q: number, bp: number, head: boolean): void {
    const pcq = this.spinOf(set) + (q << 2);
    if (head) {
      const first = this.q_head.get(pcq);
      this.b_qprev.set(bp, 0);
      this.b_qnext.set(bp, first);
      if (first === 0) this.q_tail.set(pcq, bp);
      else this.b_qprev.set(first, bp);
      this.q_head.set(pcq, bp);
    } else {
      const last = this.q_tail.get(pcq);
      this.b_qnext.set(bp, 0);
      this.b_qprev.set(bp, last);
      if (last === 0) this.q_head.set(pcq, bp);
      else this.b_qnext.set(last, bp);
      this.q_tail.set(pcq, bp);
    }
    this.q_len.set(pcq, this.q_len.get(pcq) + 1);
    this.b_qindex.set(bp, q);
  }

  /** TAILQ_INSERT_AFTER: put `bp` right after `after` on queue `q`. Caller holds the set's spinlock. */
  qinsertAfter(set: number, q: number, after: number, bp: number): void {
    const pcq = this.spinOf(set) + (q << 2);
    const nx = this.b_qnext.get(after);
    this.b_qprev.set(bp, after);
    this.b_qnext.set(bp, nx);
    this.b_qnext.set(after, bp);
    if (nx === 0) this.q_tail.set(pcq, bp);
    else this.b_qprev.set(nx, bp);
    this.q_len.set(pcq, this.q_len.get(pcq) + 1);
    this.b_qindex.set(bp, q);
  }

  /** TAILQ_REMOVE of `bp` from queue `q` of set `set`; b_qindex becomes NONE. Caller holds the spinlock. */
  qremove(set: number, q: number, bp: number): void {
    const pcq = this.spinOf(set) + (q << 2);
    const prev = this.b_qprev.get(bp);
    const next = this.b_qnext.get(bp);
    if (prev === 0) this.q_head.set(pcq, next);
    else this.b_qnext.set(prev, next);
    if (next === 0) this.q_tail.set(pcq, prev);
    else this.b_qprev.set(next, prev);
    this.b_qnext.set(bp, 0);
    this.b_qprev.set(bp, 0);
    this.q_len.set(pcq, this.q_len.get(pcq) - 1);
    this.b_qindex.set(bp, BQUEUE_NONE);
  }

  /** First buffer of queue `q` of set `set`. Caller holds the set's spinlock. */
  qfirst(set: number, q: number): number {
    return this.q_head.get(this.spinOf(set) + (q << 2));
  }

  /**
   * _bremfree: take a locked buffer off its queue (no-op when it is on none).
   * Entry/exit: buffer locked, bufpcpu[b_qcpu].spin held. Never sleeps.
   */
  bremfree_locked(bp: number): void {
    const q = this.b_qindex.get(bp);
    if (this.b_lockword.get(bp) === 0) {
      throw new ContractError(q !== BQUEUE_NONE ? `bremfree: ${this.describe(bp)} is not locked` : `bremfree: removing ${this.describe(bp)}, which is on no queue and not locked`);
    }
    if (q !== BQUEUE_NONE) this.qremove(this.b_qcpu.get(bp), q, bp);
  }

  /** bremfree: as bremfree_locked, taking the queue spinlock. Entry: buffer locked. Never sleeps. */
  bremfree(bp: number): void {
    const spin = this.spinOf(this.b_qcpu.get(bp));
    this.sync.spin_lock(spin);
    try {
      this.bremfree_locked(bp);
    } finally {
      this.sync.spin_unlock(spin);
    }
  }

  // ------------------------------------------------------------- references

  /** bqhold: prevent reuse by getnewbuf (not invalidation). Entry: buffer locked or found under v_token. */
  bqhold(bp: number): void {
    this.b_refs.add(bp, 1);
  }
  /** bqdrop: drop a bqhold/findblk reference. */
  bqdrop(bp: number): void {
    if (this.b_refs.add(bp, -1) <= 0) throw new ContractError(`bqdrop: ${this.describe(bp)} had no reference`);
  }
}
