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
  }

  owns(bp: number): boolean {
    return this.pool.contains(bp);
  }

  /** Take a free pbuf, sleeping on "pbufwait" while none is free (or null after `timeoutMs`). */
  getpbuf(timeoutMs = 0): number | null {
    const s = this.sync;
    const lk = this.G.addrOf(this.g, 'pb_lock');
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
      this.G.set(this.g, 'pb_wanted', 1);
      const ch = this.G.addrOf(this.g, 'pb_nfree');
      s.tsleep_interlock(ch);
      s.spin_unlock(lk);
      s.tsleep(ch, PINTERLOCKED, 'pbufwait', rem === Infinity ? 0 : rem);
      s.spin_lock(lk);
    }
  }

  /** getpbuf without sleeping (pool_get without PR_WAITOK): a free pbuf, or null when none is. Never sleeps. */
  getpbuf_nowait(): number | null {
    const lk = this.G.addrOf(this.g, 'pb_lock');
    this.sync.spin_lock(lk);
    const bp = this.takeLocked(lk);
    if (bp === null) this.sync.spin_unlock(lk);
    return bp;
  }

  /** With pb_lock held: pop a free pbuf, release the lock and reset the pbuf; null (lock still held) when none is free. */
  private takeLocked(lk: number): number | null {
    const s = this.sync;
    const n = this.G.get(this.g, 'pb_nfree');
    if (n === 0) return null;
    const bp = this.ps_bp.get(this.stack + 4 * (n - 1));
    this.G.set(this.g, 'pb_nfree', n - 1);
    this.G.set(this.g, 'pb_inuse', this.G.get(this.g, 'pb_inuse') + 1);
    s.spin_unlock(lk);
    const io = BioLayer.of(s);
    io.reinitbufbio(bp);
    io.B.store(bp, 'b_flags', 0);
    io.B.store(bp, 'b_error', 0);
    io.B.store(bp, 'b_ops', 0);
    return bp;
  }

  /** Return a pbuf to the pool; wakes getpbuf sleepers. Never sleeps. */
  relpbuf(bp: number): void {
    if (!this.owns(bp)) throw new ContractError(`relpbuf: ${bp} is not a pbuf`);
    const s = this.sync;
    const lk = this.G.addrOf(this.g, 'pb_lock');
    s.spin_lock(lk);
    const n = this.G.get(this.g, 'pb_nfree');
    if (n >= this.pool.count) {
      s.spin_unlock(lk);
      throw new ContractError(`relpbuf: pbuf ${this.pool.index(bp)} released twice (pool already full)`);
    }
    this.ps_bp.set(this.stack + 4 * n, bp);
    this.G.set(this.g, 'pb_nfree', n + 1);
    this.G.set(this.g, 'pb_inuse', this.G.get(this.g, 'pb_inuse') - 1);
    const wanted = this.G.get(this.g, 'pb_wanted');
    this.G.set(this.g, 'pb_wanted', 0);
    s.spin_unlock(lk);
    if (wanted) s.wakeup(this.G.addrOf(this.g, 'pb_nfree'));
  }

  inUse(): number {
    return this.G.load(this.g, 'pb_inuse');
  }
}
