/**
 * History recording (BC_add_history): every request the strategy path sees — hits, misses,
 * writes, tags — appended in order to clusters of entries in the arena, which become the next
 * boot's playlist. One global list under c_hlock.
 */
import { bugs } from '../sync/switches.js';
import type { BootCache } from './cache.js';
import { BC_FLAG_HTRUNCATED, BC_FLAG_RECORDING, HE_WORDS } from './defs.js';

/**
 * BC_add_history: append an entry to the current cluster, allocating a new cluster when it is
 * full; stop (HTRUNCATED) at the cluster limit; ignore reads past half of the configured memory.
 * Takes c_hlock (a spinlock: the reference's "not reentrant", which the funnel covered). Never
 * sleeps. Everything it writes is protected by c_hlock, so plain accesses do (c_history_bytes
 * is kept as its lo/hi words, the layout of the i64 field).
 */
export function add_history(bc: BootCache, offset: number, length: number, flags: number): void {
  const i32 = bc.i32;
  if (!(Atomics.load(i32, bc.w_flags) & BC_FLAG_RECORDING)) return;
  bc.sync.spin_lock(bc.hlock);
  try {
    // Plain: since START's atomic flag set that the look above read, HTRUNCATED and RECORDING
    // change only under c_hlock.
    const f = i32[bc.w_flags];
    if (f & BC_FLAG_HTRUNCATED || !(f & BC_FLAG_RECORDING)) return;
    const wb = bc.w_history_bytes;
    const bytes = (i32[wb] >>> 0) + i32[wb + 1] * 4294967296 + length;
    if (bytes > (i32[bc.w_mem_mb] * 1024 * 1024) / 2) return;
    i32[wb] = bytes | 0; // ToInt32 keeps the low 32 bits (a double's % is a slow call)
    i32[wb + 1] = Math.floor(bytes / 4294967296);
    const per = i32[bc.w_hist_entries];
    let cur = i32[bc.w_history];
    if (cur === 0 || bc.hc_entries.get(bc.cluster(cur)) >= per) {
      if (bugs.any && bugs.enabled('bc-history-no-recheck')) {
        // BootCache <= 64: drop the lock to allocate, then link the new cluster to the head seen
        // before (`cur`, now stale) without rechecking: a cluster added meanwhile is lost.
        bc.sync.spin_unlock(bc.hlock);
        bc.sync.point(bc.pt.historyAlloc, bc.c);
        bc.sync.spin_lock(bc.hlock);
      }
      const n = Atomics.add(i32, bc.s_history_clusters, 1) + 1;
      const max = i32[bc.w_hist_maxclusters];
      if (n > max) {
        bc.message(`too many history clusters (${n}, limit ${max})`);
        bc.setFlag(BC_FLAG_HTRUNCATED);
        Atomics.sub(i32, bc.s_history_clusters, 1);
        return;
      }
      const hc = bc.cluster(n);
      bc.hc_entries.set(hc, 0);
      bc.hc_link.set(hc, cur);
      cur = n;
      i32[bc.w_history] = cur;
    }
    const hc = bc.cluster(cur);
    const k = bc.hc_entries.get(hc);
    const w = bc.he_base + ((cur - 1) * per + k) * HE_WORDS;
    i32[w] = offset | 0;
    i32[w + 1] = Math.floor(offset / 4294967296);
    i32[w + 2] = length;
    i32[w + 3] = flags;
    bc.hc_entries.set(hc, k + 1);
  } finally {
    bc.sync.spin_unlock(bc.hlock);
  }
}
