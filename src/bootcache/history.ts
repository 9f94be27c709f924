/**
 * History recording (BC_add_history): every request the strategy path sees — hits, misses,
 * writes, tags — appended in order to clusters of entries in the arena, which become the next
 * boot's playlist. One global list under c_hlock.
 */
import { ContractError } from '../sync/errno.js';
import { bugs } from '../sync/switches.js';
import type { BootCache } from './cache.js';
import { BC_FLAG_HTRUNCATED, BC_FLAG_RECORDING, BC_HE_TAG } from './defs.js';

/**
 * BC_add_history: append an entry to the current cluster, allocating a new cluster when it is
 * full; stop (HTRUNCATED) when the count of clusters reaches the limit (`>=`, as the seed: at
 * most BC_HISTORY_MAXCLUSTERS - 1 are allocated); ignore reads past half of the configured
 * memory. A TAG is recorded whenever the seed records one: at any time, the cache running or
 * not, unless HTRUNCATED. The strategy path's entries also need kiolab's RECORDING flag, which
 * BC_terminate_history clears once the bypasses drained: a fine-mode caller that picked up
 * BootCache's strategy just before the device got its own back is not recorded into a history
 * being copied out (in the seed the funnel rules that caller out).
 * Takes c_hlock (a spinlock: the reference's "not reentrant", which the funnel covered). Never
 * sleeps. Everything it writes is protected by c_hlock, so plain accesses do (c_history_bytes
 * is read and written as its lo/hi words, the layout of the i64 field).
 */
export function add_history(bc: BootCache, offset: number, length: number, flags: number): void {
  const c = bc.c;
  // Relaxed looks at the flags (peek): the history is ordered by c_hlock, not by this word.
  const need = flags === BC_HE_TAG ? 0 : BC_FLAG_RECORDING;
  if ((bc.c_flags.peek(c) & need) !== need) return;
  bc.sync.spin_lock(bc.hlock);
  try {
    // HTRUNCATED and RECORDING change only under c_hlock, but other bits of the word change
    // atomically under other locks: a relaxed read.
    const f = bc.c_flags.peek(c);
    if (f & BC_FLAG_HTRUNCATED || (f & need) !== need) return;
    const bytes = bc.c_history_bytes.get64(c) + length;
    if (bytes > (bc.t_mem_mb.get(c) * 1024 * 1024) / 2) return;
    bc.c_history_bytes.set64(c, bytes);
    const per = bc.t_hist_entries.get(c);
    let cur = bc.c_history.get(c);
    if (cur === 0 || bc.hc_entries.get(bc.cluster(cur)) >= per) {
      if (bugs.any && bugs.enabled('bc-history-no-recheck')) {
        // BootCache <= 64: drop the lock to allocate, then link the new cluster to the head seen
        // before (`cur`, now stale) without rechecking: a cluster added meanwhile is lost.
        bc.sync.spin_unlock(bc.hlock);
        bc.sync.spin_lock(bc.hlock);
      }
      const n = bc.s_history_clusters.add(bc.st, 1) + 1;
      const max = bc.t_hist_maxclusters.get(c);
      if (n >= max) {
        bc.message(`too many history clusters (${n}, limit ${max})`);
        bc.setFlag(BC_FLAG_HTRUNCATED);
        bc.s_history_clusters.sub(bc.st, 1);
        return;
      }
      if (n > bc.hc_reserved) {
        bc.s_history_clusters.sub(bc.st, 1);
        throw new ContractError(`BC_add_history: cluster ${n} is past the ${bc.hc_reserved} the arena reserved (the machine spec's bootcache.historyReserveEntries is below what this scenario records)`);
      }
      const hc = bc.cluster(n);
      bc.hc_entries.set(hc, 0);
      bc.hc_link.set(hc, cur);
      cur = n;
      bc.c_history.set(c, cur);
    }
    const hc = bc.cluster(cur);
    const k = bc.hc_entries.get(hc);
    const he = bc.entry(cur, k, per);
    bc.he_offset_lo.set(he, offset | 0);
    bc.he_offset_hi.set(he, Math.floor(offset / 4294967296));
    bc.he_length.set(he, length);
    bc.he_flags.set(he, flags);
    bc.hc_entries.set(hc, k + 1);
  } finally {
    bc.sync.spin_unlock(bc.hlock);
  }
}
