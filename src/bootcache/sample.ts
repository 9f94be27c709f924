/**
 * BootCache's instant invariants, sampled by the race lab's checker while the machine runs
 * (src/race/checker.ts). control.ts's checkInvariants needs a quiescent cache; a sampler asserts
 * only what holds at every instant under the lock it takes, one lock at a time:
 *
 *  - under c_hlock: the history list from c_history is a chain of valid clusters, each holding
 *    at most t_hist_entries entries, each linking to the cluster allocated just before it (or
 *    ending the list): clusters are allocated in order under the lock, so a link that skips one
 *    means a cluster was lost (RACES.md bc-history-no-recheck);
 *  - under an extent's ce_lock, while the cache is active and the extent read (CE_IODONE, not
 *    CE_ABORTED): the blockmap and the pages agree — a page with a present block is not freed
 *    (poisoned), a page with none was freed.
 *
 * Extents and pages are rewritten without their locks only while the cache is inactive (BC_init_cache,
 * BC_free_pagebuffer) and CE_ABORTED is set by a write without the lock, so an extent's findings
 * count only when CACHEACTIVE, c_gen and its ce_flags are the same before and after its scan.
 */
import type { Arena } from '../shm/arena.js';
import { BC_POISON } from './cache.js';
import { BCBlockmapLayout, BCControlLayout, BCExtentLayout, BCHistClusterLayout, BC_FLAG_CACHEACTIVE, CB_MAPFIELDBITS, CE_ABORTED, CE_IODONE, PAGE_SIZE, R_CLUSTERS, R_CONTROL, R_EXTENTS } from './defs.js';
import type { SampleCtx, SampleResult } from '../sync/sample.js';

/** Sample BootCache in `arena` (the spec must have `bootcache`). Never sleeps. */
export function sampleBootCache(arena: Arena, x: SampleCtx): SampleResult {
  const C = arena.view(BCControlLayout);
  const c = arena.pool(R_CONTROL, BCControlLayout).addr(0);
  const out: string[] = [];
  let skipped = 0;
  const hlock = C.addrOf(c, 'c_hlock');
  if (x.take(hlock)) {
    try {
      history(arena, c, out);
    } finally {
      x.drop(hlock);
    }
  } else skipped++;
  if (out.length > 0) return { violations: out, skipped };
  const E = arena.view(BCExtentLayout);
  const extents = arena.pool(R_EXTENTS, BCExtentLayout);
  const g0 = C.load(c, 'c_gen');
  const stable = () => (C.load(c, 'c_flags') & BC_FLAG_CACHEACTIVE) !== 0 && C.load(c, 'c_gen') === g0;
  if (!(C.load(c, 'c_flags') & BC_FLAG_CACHEACTIVE)) return { violations: out, skipped };
  const n = Math.min(C.load(c, 'c_extent_count'), extents.count);
  const bs = C.load(c, 'c_blocksize') || 512;
  for (let i = 0; i < n; i++) {
    const a = extents.addr(i);
    const lk = E.addrOf(a, 'ce_lock');
    if (!x.take(lk)) {
      skipped++;
      continue;
    }
    try {
      const f = E.load(a, 'ce_flags');
      if ((f & (CE_IODONE | CE_ABORTED)) !== CE_IODONE) continue;
      const found = pages(arena, E.load(a, 'ce_data'), E.load(a, 'ce_blockmap'), E.load64(a, 'ce_length'), bs);
      if (found !== null && stable() && E.load(a, 'ce_flags') === f) out.push(`extent ${i}: ${found}`);
    } finally {
      x.drop(lk);
    }
    if (out.length > 0) break;
  }
  return { violations: out, skipped };
}

/** The history chain's shape. Caller holds c_hlock. */
function history(arena: Arena, c: number, out: string[]): void {
  const C = arena.view(BCControlLayout);
  const H = arena.view(BCHistClusterLayout);
  const pool = arena.pool(R_CLUSTERS, BCHistClusterLayout);
  const max = Math.min(C.load(c, 't_hist_maxclusters'), pool.count);
  const per = C.load(c, 't_hist_entries');
  let hops = 0;
  for (let k = C.load(c, 'c_history'); k !== 0; ) {
    if (k < 1 || k > max) return void out.push(`history: cluster index ${k} outside [1, ${max}]`);
    if (++hops > max) return void out.push('history: the cluster list has a cycle');
    const hc = pool.addr(k - 1);
    const n = H.load(hc, 'hc_entries');
    if (n < 0 || n > per) out.push(`history: cluster ${k} holds ${n} entries (at most ${per})`);
    const link = H.load(hc, 'hc_link');
    if (link !== 0 && link !== k - 1) return void out.push(`history: cluster ${k} links to cluster ${link}, not to ${k - 1} allocated before it: cluster(s) ${link + 1}..${k - 1} were lost from the list`);
    k = link;
  }
}

/** Blockmap/page agreement of one read extent: a message, or null. Caller holds its ce_lock. */
function pages(arena: Arena, data: number, map: number, length: number, bs: number): string | null {
  if (data === 0 || map === 0) return null;
  const BM = arena.view(BCBlockmapLayout);
  const nblk = Math.ceil(length / bs);
  const ppb = Math.max(1, PAGE_SIZE / bs);
  const present = (b: number) => (BM.load(map + 4 * ((b / CB_MAPFIELDBITS) | 0), 'cb_word') & (1 << b % CB_MAPFIELDBITS)) !== 0;
  const words = PAGE_SIZE / 4;
  /** Word `k` of the page at `pa` (a plain read of page data). */
  const word = (pa: number, k: number) => new Int32Array(arena.readBytes(pa + 4 * k, 4).buffer)[0];
  for (let p = 0; p * ppb < nblk; p++) {
    let any = false;
    for (let b = p * ppb; b < Math.min((p + 1) * ppb, nblk) && !any; b++) any = present(b);
    const pa = data + p * PAGE_SIZE;
    const looksFreed = word(pa, 0) === BC_POISON && word(pa, words >> 1) === BC_POISON && word(pa, words - 1) === BC_POISON;
    if (!any && !looksFreed) return `page ${p} has no block present but was not freed (not poisoned)`;
    if (any && looksFreed) {
      const page = new Int32Array(arena.readBytes(pa, PAGE_SIZE).buffer);
      if (page.every((w) => w === BC_POISON)) return `page ${p} has blocks present in the blockmap but was freed (poisoned)`;
    }
  }
  return null;
}
