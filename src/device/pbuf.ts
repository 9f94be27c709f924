/**
 * Physical I/O buffers (getpbuf / relpbuf): headers without pages of their own, for nested and
 * raw I/O. A fixed pool; getpbuf sleeps on "pbufwait" while none is free.
 */
import type { Arena, ArenaPlan, Pool } from '../shm/arena.js';
import { defineStruct } from '../shm/layout.js';
import type { Field } from '../shm/view.js';
import { ContractError } from '../sync/errno.js';
import { LK_MTX, LK_SPIN, LockLayout } from '../sync/layouts.js';
import { PINTERLOCKED, type Sync } from '../sync/sync.js';
import { BioLayer } from './bio.js';
import { IoBufLayout, type BufIoField } from './buf.js';

const PbufGlobalsLayout = defineStruct(
  'pbufglobals',
  { pb_lock: { struct: LockLayout }, pb_nfree: { line: 'i32' }, pb_wanted: 'i32', pb_inuse: 'i32' },
  { align: 64 },
);

/**
 * One slot of the stack of free pbufs (`dev.pbufstack` holds npbuf slots, 4 bytes apart: slot k
 * is at the region's address + 4k); slots below pb_nfree hold free pbufs. pb_lock protects them.
 */
const PbufStackLayout = defineStruct('pbufstack', { ps_bp: 'i32' });

export class PbufPool {
  readonly pool: Pool<BufIoField>;
  private readonly g: number;
  private readonly G;
  /** Byte address of slot 0 of the free stack, and its word. */
  private readonly stack: number;
  private readonly ps_bp: Field;
  // The request path's words, bound once (getpbuf/relpbuf run around every raw request).
  private readonly lk: number;
  private readonly pb_nfree: Field;
  private readonly pb_inuse: Field;
  private readonly pb_wanted: Field;
  private readonly io: BioLayer;

  static plan(plan: ArenaPlan, npbuf: number): void {
    if (!Number.isInteger(npbuf) || npbuf < 1) throw new RangeError(`device: npbuf must be a positive integer, got ${npbuf}`);
    plan.pool('dev.pbufs', IoBufLayout, npbuf);
    plan.pool('dev.pbufglobals', PbufGlobalsLayout, 1);
    plan.bytes('dev.pbufstack', 4 * npbuf, 64);
  }

  static init(arena: Arena, sync: Sync, npbuf: number): void {
    const g = arena.pool('dev.pbufglobals', PbufGlobalsLayout).addr(0);
    const G = arena.view(PbufGlobalsLayout);
    sync.lock_init(G.addrOf(g, 'pb_lock'), 'pbuf', LK_SPIN);
    const pool = arena.pool('dev.pbufs', IoBufLayout);
    const io = BioLayer.of(sync);
    const stack = arena.region('dev.pbufstack').offset;
    const ps_bp = arena.view(PbufStackLayout).field('ps_bp');
    for (let i = 0; i < npbuf; i++) {
      const bp = pool.addr(i);
      sync.lock_init(IoBufLayout.addrOf(bp, 'b_lock'), 'pbuf_lock', LK_MTX);
      io.initbufbio(bp);
      io.B.store(bp, 'b_owner', i);
      ps_bp.set(stack + 4 * i, bp);
    }
    G.store(g, 'pb_nfree', npbuf);
  }

  constructor(private readonly sync: Sync) {
    const arena = sync.arena;
    this.pool = arena.pool('dev.pbufs', IoBufLayout) as Pool<BufIoField>;
    this.g = arena.pool('dev.pbufglobals', PbufGlobalsLayout).addr(0);
    this.G = arena.view(PbufGlobalsLayout);
    this.stack = arena.region('dev.pbufstack').offset;
    this.ps_bp = arena.view(PbufStackLayout).field('ps_bp');
    this.lk = this.G.addrOf(this.g, 'pb_lock');
    this.pb_nfree = this.G.field('pb_nfree');
    this.pb_inuse = this.G.field('pb_inuse');
    this.pb_wanted = this.G.field('pb_wanted');
    this.io = BioLayer.of(sync);
  }

  owns(bp: number): boolean {
    return this.pool.contains(bp);
  }

  /** Take a free pbuf, sleeping on "pbufwait" while none is free (or null after `timeoutMs`). */
  getpbuf(timeoutMs = 0): number | null {
    const s = this.sync;
    const lk = this.lk;
    const deadline = timeoutMs > 0 ? performance.now() + timeoutMs : Infinity;
    s.spin_lock(lk);
    for (;;) {
      const bp = this.takeLocked(lk);
      if (bp !== null) return bp;
      const rem = deadline - performance.now();
      if (rem <= 0) {
        s.spin_unlock(lk);
        return null;
      }
      this.pb_wanted.set(this.g, 1);
      const ch = this.G.addrOf(this.g, 'pb_nfree');
      s.tsleep_interlock(ch);
      s.spin_unlock(lk);
      s.tsleep(ch, PINTERLOCKED, 'pbufwait', rem === Infinity ? 0 : rem);
      s.spin_lock(lk);
    }
  }

  /** getpbuf without sleeping (pool_get without PR_WAITOK): a free pbuf, or null when none is. Never sleeps. */
  getpbuf_nowait(): number | null {
    const lk = this.lk;
    this.sync.spin_lock(lk);
    const bp = this.takeLocked(lk);
    if (bp === null) this.sync.spin_unlock(lk);
    return bp;
  }

  /** With pb_lock held: pop a free pbuf, release the lock and reset the pbuf; null (lock still held) when none is free. */
  private takeLocked(lk: number): number | null {
    const g = this.g;
    const n = this.pb_nfree.get(g);
    if (n === 0) return null;
    const bp = this.ps_bp.get(this.stack + 4 * (n - 1));
    this.pb_nfree.set(g, n - 1);
    this.pb_inuse.set(g, this.pb_inuse.get(g) + 1);
    this.sync.spin_unlock(lk);
    const io = this.io;
    io.reinitbufbio(bp);
    io.bf.b_flags.store(bp, 0);
    io.bf.b_error.store(bp, 0);
    io.bf.b_ops.store(bp, 0);
    return bp;
  }

  /** Return a pbuf to the pool; wakes getpbuf sleepers. Never sleeps. */
  relpbuf(bp: number): void {
    if (!this.owns(bp)) throw new ContractError(`relpbuf: ${bp} is not a pbuf`);
    const s = this.sync;
    const lk = this.lk;
    const g = this.g;
    s.spin_lock(lk);
    const n = this.pb_nfree.get(g);
    if (n >= this.pool.count) {
      s.spin_unlock(lk);
      throw new ContractError(`relpbuf: pbuf ${this.pool.index(bp)} released twice (pool already full)`);
    }
    this.ps_bp.set(this.stack + 4 * n, bp);
    this.pb_nfree.set(g, n + 1);
    this.pb_inuse.set(g, this.pb_inuse.get(g) - 1);
    const wanted = this.pb_wanted.get(g);
    if (wanted) this.pb_wanted.set(g, 0);
    s.spin_unlock(lk);
    if (wanted) s.wakeup(this.G.addrOf(this.g, 'pb_nfree'));
  }

  inUse(): number {
    return this.G.load(this.g, 'pb_inuse');
  }
}
