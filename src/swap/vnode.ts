/**
 * The vnode bookkeeping of swap I/O (NetBSD 1.4's VHOLD / HOLDRELE, bgetvp / brelvp, v_numoutput
 * and vwakeup): the drum vnode (swapdev_vp), each swap file's vnode, and the device vnodes that a
 * regular file's children go to. Only the counters are modelled (`swap.vnode`, SwVnodeLayout),
 * and a buffer's b_vp (`swap.bvp.*`). Every operation is atomic and never sleeps, except
 * vwaitforio. A count going negative is the kernel's panic: a ContractError here.
 */
import type { Arena } from '../shm/arena.js';
import type { StructView } from '../shm/view.js';
import { ContractError } from '../sync/errno.js';
import { PINTERLOCKED, type Sync } from '../sync/sync.js';
import { BufVpLayout, type ResolvedSwap, SwVnodeLayout, type SwVnodeField, VBWAIT } from './layout.js';

export class SwapVnodes {
  readonly N: StructView<SwVnodeField>;
  readonly count: number;
  private readonly v0: number;
  private readonly nfiles: number;

  constructor(
    private readonly arena: Arena,
    conf: ResolvedSwap,
  ) {
    this.N = arena.view(SwVnodeLayout);
    const pool = arena.pool('swap.vnode', SwVnodeLayout);
    this.count = pool.count;
    this.v0 = pool.addr(0);
    this.nfiles = conf.files.length;
  }

  /** Vnode indices: the drum, swap file `sd`, and the device vnode of disk `unit`. */
  static readonly DRUM = 0;
  swapvp(sd: number): number {
    return 1 + sd;
  }
  devvp(unit: number): number {
    return 1 + this.nfiles + unit;
  }
  addr(vp: number): number {
    if (vp < 0 || vp >= this.count) throw new ContractError(`swap vnode ${vp} does not exist (${this.count} vnodes)`);
    return this.v0 + vp * SwVnodeLayout.bytes;
  }
  name(vp: number, paths: string[]): string {
    if (vp === SwapVnodes.DRUM) return 'the drum vnode (swapdev_vp)';
    if (vp <= this.nfiles) return `the vnode of ${paths[vp - 1]}`;
    return `the device vnode of disk unit ${vp - 1 - this.nfiles}`;
  }

  /** VHOLD: one more buffer refers to `vp`. */
  VHOLD(vp: number): void {
    this.N.add(this.addr(vp), 'v_holdcnt', 1);
  }
  /** HOLDRELE: a buffer let go of `vp`. */
  HOLDRELE(vp: number): void {
    if (this.N.sub(this.addr(vp), 'v_holdcnt', 1) <= 0) throw new ContractError(`HOLDRELE: v_holdcnt of swap vnode ${vp} went negative`);
  }
  /** v_numoutput++: a write to `vp` started. */
  numoutput_inc(vp: number): void {
    this.N.add(this.addr(vp), 'v_numoutput', 1);
  }
  /**
   * vwakeup's count: a write to `vp` finished; at 0 a VBWAIT waiter is woken. Never sleeps.
   */
  numoutput_dec(sync: Sync, vp: number): void {
    const a = this.addr(vp);
    const was = this.N.sub(a, 'v_numoutput', 1);
    if (was <= 0) throw new ContractError(`vwakeup: v_numoutput of swap vnode ${vp} went negative (neg numoutput)`);
    if (was === 1 && this.N.and(a, 'v_flag', ~VBWAIT) & VBWAIT) sync.wakeup(this.N.addrOf(a, 'v_numoutput'));
  }
  /** Wait until no write is in progress on `vp` (VBWAIT, sleeping on "swvbwait"). May sleep. */
  vwaitforio(sync: Sync, vp: number): void {
    const a = this.addr(vp);
    const ch = this.N.addrOf(a, 'v_numoutput');
    for (;;) {
      sync.tsleep_interlock(ch);
      this.N.or(a, 'v_flag', VBWAIT);
      if (this.N.load(a, 'v_numoutput') === 0) {
        sync.tsleep_remove();
        return;
      }
      sync.tsleep(ch, PINTERLOCKED, 'swvbwait', 0);
    }
  }

  /** Quiescent check: every vnode's counts are 0. */
  check(paths: string[]): string[] {
    return this.violations(paths, (h, o) => h !== 0 || o !== 0, 'at a quiescent point (expected 0, 0)');
  }
  /** Instant check: no count is negative. */
  sample(paths: string[]): string[] {
    return this.violations(paths, (h, o) => h < 0 || o < 0, '(negative)');
  }
  /** The vnodes whose (v_holdcnt, v_numoutput) are `bad`, as messages ending in `why`. */
  private violations(paths: string[], bad: (h: number, o: number) => boolean, why: string): string[] {
    const out: string[] = [];
    for (let vp = 0; vp < this.count; vp++) {
      const a = this.addr(vp);
      const h = this.N.load(a, 'v_holdcnt');
      const o = this.N.load(a, 'v_numoutput');
      if (bad(h, o)) out.push(`${this.name(vp, paths)}: v_holdcnt ${h}, v_numoutput ${o} ${why}`);
    }
    return out;
  }
}

export class BufVp {
  private readonly f;
  private readonly base: number;
  constructor(arena: Arena, pool: 'pbuf' | 'vndbuf') {
    this.f = arena.view(BufVpLayout).field('bv_vp');
    this.base = arena.region(`swap.bvp.${pool}`).offset;
  }
  /** b_vp of buffer number `i` of the pool, or -1 for NULL. */
  get(i: number): number {
    return this.f.load(this.base + 4 * i) - 1;
  }
  set(i: number, vp: number): void {
    this.f.store(this.base + 4 * i, vp + 1);
  }
}
