/**
 * buf_daemon and buf_daemon_hw: one function (buf_daemon1) with parameters — the dirty queue it
 * flushes, its limit function and its request word — each run in its own worker.
 *
 * A pass flushes while dirty + running space is above half of lodirtybufspace (each daemon owns
 * half of the aggregate low-water mark), throttled by waitrunningbufspace; then it resets its
 * request word and sleeps on it with an interlock ("psleep", hz ticks) until bd_speedup kicks
 * it. The machine's stop wakes every sleeper, so the seed's sleeps need no shortening.
 */
import { B_AGE, B_DELWRI, B_ERROR, B_INVAL, B_MARKER } from '../device/buf.js';
import { bugs } from '../sync/switches.js';
import { ContractError } from '../sync/errno.js';
import { PINTERLOCKED } from '../sync/sync.js';
import type { BufCache } from './core.js';
import { cluster_awrite } from './cluster.js';
import { brelse } from './io.js';
import type { GlobalField } from './layout.js';
import { waitrunningbufspace } from './space.js';
import { BQUEUE_DIRTY, BQUEUE_DIRTY_HW, BQUEUE_NONE, cdiv } from './tunables.js';

export interface DaemonParams {
  name: 'buf_daemon' | 'buf_daemon_hw';
  queue: number;
  limit: (bc: BufCache, limit: number) => boolean;
  request: GlobalField;
  /** Which of the two marker headers (after the nbuf real ones) it walks with. */
  marker: number;
}

/** buf_daemon_limit: normal dirty buffers still above the mark. */
export function buf_daemon_limit(bc: BufCache, limit: number): boolean {
  return bc.gl('runningbufspace') + bc.gl('dirtykvaspace') > limit || bc.gl('dirtybufcount') - bc.gl('dirtybufcounthw') >= cdiv(bc.nbuf, 2);
}

/** buf_daemon_hw_limit: heavy-weight dirty buffers still above the mark. */
export function buf_daemon_hw_limit(bc: BufCache, limit: number): boolean {
  return bc.gl('runningbufspace') + bc.gl('dirtykvaspace') > limit || bc.gl('dirtybufcounthw') >= cdiv(bc.nbuf, 2);
}

export const BUF_DAEMON: DaemonParams = { name: 'buf_daemon', queue: BQUEUE_DIRTY, limit: buf_daemon_limit, request: 'bd_request', marker: 0 };
export const BUF_DAEMON_HW: DaemonParams = { name: 'buf_daemon_hw', queue: BQUEUE_DIRTY_HW, limit: buf_daemon_hw_limit, request: 'bd_request_hw', marker: 1 };

export interface DaemonResult {
  daemon: string;
  passes: number;
  flushed: number;
}

/**
 * buf_daemon1: flush `p.queue` until the machine stops (`stop()`). Holds no lock between
 * passes. May sleep ("wdrn1", "psleep", "bioer").
 */
export function buf_daemon1(bc: BufCache, p: DaemonParams, stop: () => boolean): DaemonResult {
  bc.isDaemon = true;
  const marker = bc.buf(bc.nbuf + p.marker);
  if ((bc.b_flags.load(marker) & B_MARKER) === 0) throw new ContractError(`${p.name}: header ${bc.nbuf + p.marker} is not a marker`);
  bc.B.store(marker, 'b_qcpu', 0);
  const G = bc.G;
  const req = G.addrOf(bc.g, p.request);
  let passes = 0;
  let flushed = 0;
  let acked = 0;
  bc.stop = () => stop() || G.load(bc.g, 'quiesce') !== 0;
  const hz = bc.ticks(bc.hz);
  while (!stop()) {
    const qgen = G.load(bc.g, 'quiesce');
    if (qgen !== 0) {
      // kiolab's harness: the load asked the daemons to hold still (a quiescent point, or its
      // final sync). Acknowledge each request once and wait in psleep until it is lifted
      // (unquiesce wakes the request word).
      if (acked !== qgen) {
        G.add(bc.g, 'quiesced', 1);
        acked = qgen;
      }
      bc.sync.tsleep_interlock(req);
      if (G.load(bc.g, 'quiesce') === qgen && !stop()) bc.sync.tsleep(req, PINTERLOCKED, 'psleep', hz);
      else bc.sync.tsleep_remove();
      continue;
    }
    waitrunningbufspace(bc);
    const limit = cdiv(bc.gl('lodirtybufspace'), 2);
    while (!bc.stop() && p.limit(bc, limit)) {
      const n = flushbufqueues(bc, marker, p.queue);
      flushed += n;
      if (n === 0) break;
      if (bc.gl('runningbufspace') < bc.gl('hirunningspace')) continue;
      waitrunningbufspace(bc);
    }
    passes++;
    bc.sync.progress();
    // Low-water mark reached: reset the request and sleep until kicked.
    if (bugs.any && bugs.enabled('vfs-bufdaemon-no-interlock')) {
      // RACE SWITCH vfs-bufdaemon-no-interlock (off by default): the historical daemon reset
      // its request word and slept without an interlock; a bd_speedup between the two finds the
      // word 0, sets it and wakes nobody, and later kicks see it set and do not wake either.
      G.store(bc.g, p.request, 0);
      if (!bc.stop()) bc.sync.tsleep(req, 0, 'psleep', hz);
      continue;
    }
    bc.sync.tsleep_interlock(req);
    if (G.exchange(bc.g, p.request, 0) === 0 && !bc.stop()) bc.sync.tsleep(req, PINTERLOCKED, 'psleep', hz);
    else bc.sync.tsleep_remove();
  }
  return { daemon: p.name, passes, flushed };
}

/**
 * flushbufqueues: flush up to flushperqueue buffers of queue `q` of one cpu's set, walking with
 * `marker` so the queue spinlock can be dropped around each buffer; B_DELWRI is rechecked
 * after the buffer lock; invalid buffers are freed, not written; the others are written with
 * the dirty buffers that follow them in their file (cluster_awrite), those in error after a
 * one-tick back-off. Moves on to the next set when this one ran out. Returns the number of
 * flush operations (a cluster counts once, as the seed counts). Entry/exit: no lock held.
 * May sleep ("bioer", cluster_awrite's locks).
 */
export function flushbufqueues(bc: BufCache, marker: number, q: number): number {
  const B = bc.B;
  const F = bc.b_flags;
  const s = bc.sync;
  if (bc.b_qindex.load(marker) !== BQUEUE_NONE) throw new ContractError('flushbufqueues: the marker is already on a queue');
  let r = 0;
  let loops = bc.gl('flushperqueue');
  const lcpu = B.load(marker, 'b_qcpu');
  for (;;) {
    const set = B.load(marker, 'b_qcpu');
    const spin = bc.spinOf(set);
    s.spin_lock(spin);
    bc.qinsert(set, q, marker, true);
    let bp = marker;
    let exhausted = false;
    for (;;) {
      // spinlock held at the top of the loop
      bp = bc.b_qnext.get(bp);
      if (bp === 0) {
        exhausted = true;
        break;
      }
      const f = F.load(bp);
      if (f & B_MARKER) continue;
      if (bc.stop()) break; // the machine is stopping: issue nothing more
      if ((f & B_DELWRI) === 0) continue; // unexpected clean buffer
      if (!bc.BUF_TRYLOCK(bp)) continue;
      if (B.load(bp, 'b_qcpu') !== set || bc.b_qindex.load(bp) !== q) {
        s.spin_unlock(spin);
        throw new ContractError(`flushbufqueues: ${bc.describe(bp)} found on queue ${q} of set ${set}`);
      }
      // RACE SWITCH vfs-flush-no-marker (off by default): the historical walk neither moved a
      // marker nor rechecked B_DELWRI under the buffer lock; it resumes from the written buffer's
      // own (stale) queue link once the spinlock is dropped, skipping the rest of the queue.
      const nomarker = bugs.any && bugs.enabled('vfs-flush-no-marker');
      if (!nomarker) {
        // Move the marker after bp: the walk resumes from it once the spinlock was dropped.
        bc.qremove(set, q, marker);
        bc.qinsertAfter(set, q, bp, marker);
      }
      if (!nomarker && (F.load(bp) & B_DELWRI) === 0) {
        s.spin_unlock(spin);
        bc.BUF_UNLOCK(bp);
        s.spin_lock(spin);
        bp = marker;
        continue;
      }
      bc.bremfree_locked(bp);
      s.spin_unlock(spin);
      if (F.load(bp) & B_INVAL) {
        bc.stat('flush_inval');
        brelse(bc, bp);
      } else if (F.load(bp) & B_ERROR) {
        bc.stat('flush_errors');
        s.tsleep(bp, 0, 'bioer', bc.ticks(1));
        F.and(bp, ~B_AGE);
        cluster_awrite(bc, bp);
      } else {
        F.or(bp, B_AGE);
        bc.stat('flushed', -1, cluster_awrite(bc, bp));
      }
      s.spin_lock(spin);
      r++;
      if (--loops === 0) break;
      if (!nomarker) bp = marker;
    }
    bc.qremove(set, q, marker);
    s.spin_unlock(spin);
    B.store(marker, 'b_qcpu', (set + 1) % bc.nsets);
    if (exhausted && B.load(marker, 'b_qcpu') !== lcpu) continue;
    return r;
  }
}

export { BQUEUE_DIRTY, BQUEUE_DIRTY_HW };
