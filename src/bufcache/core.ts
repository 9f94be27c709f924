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
  /** Set on the buf daemons' cpus: bd_wait returns at once there (curthread == bufdaemon_td). */
  isDaemon = false;
  /** The daemons' shutdown test (k.shuttingDown), so their waits stay short at the end of a run. */
  stop: () => boolean = () => false;
  // hot fields
  readonly b_flags: Field;
  readonly b_qindex: Field;
  readonly b_qnext: Field;
  readonly b_qprev: Field;
  readonly b_refs: Field;
  readonly b_lockword: Field;
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
  /** Count an event in this cpu's statistics slot. */
  stat(f: PcpuField, k = -1): void {
    if (this.cpu < 0) return;
    if (k >= 0) this.P.addAt(this.mypc, f, k, 1);
    else this.P.add(this.mypc, f, 1);
  }
  get hzMs(): number {
    return this.G.load(this.g, 'hzMs');
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
  vnode(vpIndex1: number): number {
    return this.vnodes.addr(vpIndex1 - 1);
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
  /** BUF_TIMELOCK: 0 when taken, EWOULDBLOCK after `ms`. May sleep. */
  BUF_TIMELOCK(bp: number, ms: number): number {
    return ms > 0 ? this.sync.lock_timed(bp, ms) : (this.sync.lock(bp), 0);
  }
  /** True while anyone (or the kernel, for an I/O in flight) holds the buffer lock. */
  BUF_LOCKINUSE(bp: number): boolean {
    return this.b_lockword.load(bp) !== 0;
  }
  /** Hand the lock to the kernel: the cpu that completes the I/O will release it. */
  BUF_KERNPROC(bp: number): void {
    this.B.store(bp, 'b_kernproc', 1);
  }
  /** Release the buffer lock (held by this cpu, or by the kernel after BUF_KERNPROC). Never sleeps. */
  BUF_UNLOCK(bp: number): void {
    if (this.B.load(bp, 'b_kernproc') !== 0) {
      if (!this.BUF_LOCKINUSE(bp)) throw new ContractError(`BUF_UNLOCK: ${this.describe(bp)} is not locked`);
      this.B.store(bp, 'b_kernproc', 0);
      // The kernel owns it: adopt the ownership so the sync layer's owner check passes.
      this.sync.L.store(bp, 'lk_owner', this.cpu + 1);
    }
    this.sync.unlock(bp);
  }
  assertLocked(fn: string, bp: number): void {
    if (!this.BUF_LOCKINUSE(bp)) throw new ContractError(`${fn}: ${this.describe(bp)} is not locked`);
  }

  // ------------------------------------------------------------- queues

  /** Spinlock of queue set `set`. */
  spinOf(set: number): number {
    return this.pcpus.addr(set); // spin is the first field of struct bufpcpu
  }

  /** TAILQ_INSERT_TAIL / _HEAD of `bp` on queue `q` of set `set`. Caller holds that set's spinlock. */
  qinsert(set: number, q: number, bp: number, head: boolean): void {
    const P = this.P;
    const pc = this.pcpus.addr(set);
    if (head) {
      const first = P.loadAt(pc, 'q_head', q);
      this.b_qprev.set(bp, 0);
      this.b_qnext.set(bp, first);
      if (first === 0) P.storeAt(pc, 'q_tail', q, bp);
      else this.b_qprev.set(first, bp);
      P.storeAt(pc, 'q_head', q, bp);
    } else {
      const last = P.loadAt(pc, 'q_tail', q);
      this.b_qnext.set(bp, 0);
      this.b_qprev.set(bp, last);
      if (last === 0) P.storeAt(pc, 'q_head', q, bp);
      else this.b_qnext.set(last, bp);
      P.storeAt(pc, 'q_tail', q, bp);
    }
    P.addAt(pc, 'q_len', q, 1);
    this.b_qindex.store(bp, q);
  }

  /** TAILQ_INSERT_AFTER: put `bp` right after `after` on queue `q`. Caller holds the set's spinlock. */
  qinsertAfter(set: number, q: number, after: number, bp: number): void {
    const nx = this.b_qnext.get(after);
    this.b_qprev.set(bp, after);
    this.b_qnext.set(bp, nx);
    this.b_qnext.set(after, bp);
    if (nx === 0) this.P.storeAt(this.pcpus.addr(set), 'q_tail', q, bp);
    else this.b_qprev.set(nx, bp);
    this.P.addAt(this.pcpus.addr(set), 'q_len', q, 1);
    this.b_qindex.store(bp, q);
  }

  /** TAILQ_REMOVE of `bp` from queue `q` of set `set`; b_qindex becomes NONE. Caller holds the spinlock. */
  qremove(set: number, q: number, bp: number): void {
    const P = this.P;
    const pc = this.pcpus.addr(set);
    const prev = this.b_qprev.get(bp);
    const next = this.b_qnext.get(bp);
    if (prev === 0) P.storeAt(pc, 'q_head', q, next);
    else this.b_qnext.set(prev, next);
    if (next === 0) P.storeAt(pc, 'q_tail', q, prev);
    else this.b_qprev.set(next, prev);
    this.b_qnext.set(bp, 0);
    this.b_qprev.set(bp, 0);
    P.addAt(pc, 'q_len', q, -1);
    this.b_qindex.store(bp, BQUEUE_NONE);
  }

  qfirst(set: number, q: number): number {
    return this.P.loadAt(this.pcpus.addr(set), 'q_head', q);
  }

  /**
   * _bremfree: take a locked buffer off its queue (no-op when it is on none).
   * Entry/exit: buffer locked, bufpcpu[b_qcpu].spin held. Never sleeps.
   */
  bremfree_locked(bp: number): void {
    const q = this.b_qindex.load(bp);
    if (q !== BQUEUE_NONE) {
      if (!this.BUF_LOCKINUSE(bp)) throw new ContractError(`bremfree: ${this.describe(bp)} is not locked`);
      this.qremove(this.B.load(bp, 'b_qcpu'), q, bp);
    } else if (!this.BUF_LOCKINUSE(bp)) {
      throw new ContractError(`bremfree: removing ${this.describe(bp)}, which is on no queue and not locked`);
    }
  }

  /** bremfree: as bremfree_locked, taking the queue spinlock. Entry: buffer locked. Never sleeps. */
  bremfree(bp: number): void {
    const spin = this.spinOf(this.B.load(bp, 'b_qcpu'));
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
