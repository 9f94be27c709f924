/**
 * Swap's arena regions (the planner) and their one-time initialization (main thread, before any
 * worker): locks, the vndbuf/vndxfer free lists, the pager map, and the bmaps of the regular swap files.
 */
import type { Arena, ArenaPlan } from '../shm/arena.js';
import { LK_MTX, LK_SPIN } from '../sync/layouts.js';
import type { Sync } from '../sync/sync.js';
import { IoBufLayout } from '../device/buf.js';
import { BioLayer } from '../device/bio.js';
import { mix32 as mix } from '../device/config.js';
import {
  BmapLayout,
  PAGE_SIZE,
  PteLayout,
  SwapCtlLayout,
  SwapGlobalsLayout,
  type SwapSpec,
  SwapdevLayout,
  SwapentLayout,
  SwappriLayout,
  VBLK,
  VndbufLayout,
  VndxferLayout,
  SwVnodeLayout,
  filePages,
  resolveSwap,
} from './layout.js';

type SpecLike = { swap?: SwapSpec; devices?: { name: string; blocks: number; blockSize?: number }[]; npbuf?: number };

/** Items of a pool page (4096 bytes) of structs of `bytes` bytes: the unit a vnd pool grows by. */
export const poolPageItems = (bytes: number): number => Math.max(1, Math.floor(4096 / bytes));

/** Words of the extent bitmap of a device of `npages` pages. */
export const exWords = (npages: number): number => Math.ceil(npages / 32);

/** Reserve the swap regions (the planner). */
export function planSwap(plan: ArenaPlan, spec: SpecLike): void {
  if (!spec.swap) return;
  const c = resolveSwap(spec.swap, spec.devices ?? []);
  const n = c.files.length;
  plan.pool('swap.globals', SwapGlobalsLayout, 1);
  if (n > 0) {
    plan.pool('swap.swapdev', SwapdevLayout, n);
    plan.pool('swap.swapent', SwapentLayout, n);
  }
  plan.pool('swap.swappri', SwappriLayout, n + 1);
  c.files.forEach((f, i) => {
    plan.bytes(`swap.ex.${i}`, 4 * exWords(filePages(f)), 64);
    if (f.type !== VBLK) plan.bytes(`swap.bmap.${i}`, 4 * f.nfb, 64);
  });
  plan.pool('swap.vndxfer', VndxferLayout, c.nvndxfer);
  plan.pool('swap.vndbuf', VndbufLayout, c.nvndbuf);
  plan.pool('swap.vnode', SwVnodeLayout, 1 + n + (spec.devices?.length ?? 0));
  plan.bytes('swap.bvp.pbuf', 4 * (spec.npbuf ?? 64), 64); // as many as disk.ts makes pbufs
  plan.bytes('swap.bvp.vndbuf', 4 * c.nvndbuf, 64);
  plan.pool('swap.pte', PteLayout, c.pages);
  plan.bytes('swap.frames', c.pages * PAGE_SIZE, 4096, 'pages');
  plan.pool('swap.ctl', SwapCtlLayout, 1);
}

/**
 * Initialize (main thread, once, before any worker): locks, free lists, the bmaps of the regular
 * files (runs of 1..maxRun contiguous fs blocks, placed in a shuffled order with a one-block gap
 * after each so that no two runs merge).
 */
export function initSwap(arena: Arena, sync: Sync, spec: SpecLike): void {
  if (!spec.swap) return;
  const c = resolveSwap(spec.swap, spec.devices ?? []);
  const G = arena.view(SwapGlobalsLayout);
  const g = arena.pool('swap.globals', SwapGlobalsLayout).addr(0);
  sync.lock_init(G.addrOf(g, 'swap_data_lock'), 'swap_data_lock', LK_SPIN);
  sync.lock_init(G.addrOf(g, 'vnd_lock'), 'swap_vnd_lock', LK_SPIN);
  sync.lock_init(G.addrOf(g, 'pm_lock'), 'pager_map', LK_SPIN);
  G.store(g, 'pm_size', c.pagerMap);
  G.store(g, 'pm_free', c.pagerMap);
  G.store(g, 'sg_physmem', c.physmem);
  const S = arena.view(SwapdevLayout);
  c.files.forEach((f, i) => {
    const sdp = arena.pool('swap.swapdev', SwapdevLayout).addr(i);
    sync.lock_init(S.addrOf(sdp, 'swd_tablock'), 'swd_tablock', LK_SPIN);
    sync.lock_init(S.addrOf(sdp, 'swd_vlock'), 'swapvnode', LK_MTX);
    if (f.type === VBLK) return;
    // Runs: lengths 1..maxRun, in file order, then placed on the device in a shuffled order.
    const runs: [number, number][] = [];
    for (let lbn = 0, k = 0; lbn < f.nfb; k++) {
      const len = Math.min(f.nfb - lbn, 1 + (mix(f.seed, k) % f.maxRun));
      runs.push([lbn, len]);
      lbn += len;
    }
    const order = runs.map((_, k) => k);
    for (let k = order.length - 1; k > 0; k--) {
      const j = mix(f.seed ^ 0x5bd1e995, k) % (k + 1);
      [order[k], order[j]] = [order[j], order[k]];
    }
    const bmap = arena.region(`swap.bmap.${i}`).offset;
    const bm_nbn = arena.view(BmapLayout).field('bm_nbn');
    let pos = f.base;
    for (const k of order) {
      const [lbn, len] = runs[k];
      for (let b = 0; b < len; b++) bm_nbn.set(bmap + 4 * (lbn + b), pos + b * f.bsize);
      pos += (len + 1) * f.bsize;
    }
  });
  // The pools start with one pool page of items on their free lists (getvndbuf adds the next).
  const X = arena.view(VndxferLayout);
  const xp = arena.pool('swap.vndxfer', VndxferLayout);
  const nx = Math.min(c.nvndxfer, poolPageItems(VndxferLayout.bytes));
  for (let i = 0; i < nx; i++) X.store(xp.addr(i), 'vx_next', i + 1 < nx ? i + 2 : 0);
  G.store(g, 'vnx_free', 1);
  G.store(g, 'vnx_nitems', nx);
  G.store(g, 'vnx_npages', 1);
  const nv = Math.min(c.nvndbuf, poolPageItems(VndbufLayout.bytes));
  const V = arena.view(VndbufLayout);
  const vp = arena.pool('swap.vndbuf', VndbufLayout);
  const io = BioLayer.of(sync);
  for (let i = 0; i < c.nvndbuf; i++) {
    const bp = vp.addr(i);
    sync.lock_init(IoBufLayout.addrOf(bp, 'b_lock'), 'vndbuf_lock', LK_MTX);
    io.initbufbio(bp);
    V.store(bp, 'b_owner', i);
    V.store(bp, 'vb_next', i + 1 < nv ? i + 2 : 0);
  }
  G.store(g, 'vnd_free', 1);
  G.store(g, 'vnd_nitems', nv);
  G.store(g, 'vnd_npages', 1);
}
