/**
 * Roles of the `locks` scenario (src/cli/locks.ts): a load of reads and writes of a shared word
 * under one of the lab's locks, recorded with OpRecorder, so that the whole report pipeline
 * (figures, lock and sleep tables, timeline, trace) runs on a real machine.
 */
import { PINTERLOCKED } from '../src/sync/sync.js';
import { OpRecorder } from '../src/report/types.js';
import { LabLayout } from './lab.js';
import { registerRoles } from '../src/engine/roles.js';

export interface LockLoadArgs {
  kind: 'spin' | 'mtx';
  /** Ops of this worker (0: until the deadline). */
  ops: number;
  /** Epoch ms the load started (0: when the role starts), ramp length and load length (ms, 0: no deadline). */
  startMs: number;
  rampMs: number;
  durationMs: number;
  binMs: number;
  /** Iterations of busy work inside the critical section. */
  work: number;
  /** Percent of ops that are reads. */
  readPct: number;
  /** Every this many ops, wake the others and tsleep 1 ms on the lab channel (0: never). */
  sleepEvery: number;
  seed: number;
}

function busy(n: number): number {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x * 31 + i) | 0;
  return x;
}

registerRoles(import.meta.url, {
  'report:lock-load': (k, a: LockLoadArgs) => {
    const base = k.arena.pool('lab', LabLayout).addr(0);
    const V = k.arena.view(LabLayout);
    const lk = LabLayout.addrOf(base, a.kind === 'spin' ? 'spin' : 'mtx');
    const chan = LabLayout.addrOf(base, 'cond');
    const s = k.sync;
    const wm = s.intern('lkload');
    const start = a.startMs || performance.timeOrigin + performance.now();
    const rec = new OpRecorder({ startMs: start, rampMs: a.rampMs, binMs: a.binMs });
    const deadline = a.durationMs > 0 ? start + a.rampMs + a.durationMs : Infinity;
    let x = (a.seed ^ Math.imul(k.cpu + 1, 0x9e3779b1)) >>> 0 || 1;
    let sink = 0;
    for (let i = 0; a.ops === 0 || i < a.ops; i++) {
      if ((i & 63) === 0 && (k.shuttingDown() || performance.timeOrigin + performance.now() >= deadline)) break;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const read = (x >>> 0) % 100 < a.readPct;
      const t0 = performance.now();
      if (a.kind === 'spin') s.spin_lock(lk);
      else s.lock(lk);
      if (read) sink += V.get(base, 'mtxcount');
      else V.set(base, 'mtxcount', V.get(base, 'mtxcount') + 1);
      sink += busy(a.work);
      if (a.kind === 'spin') s.spin_unlock(lk);
      else s.unlock(lk);
      const t1 = performance.now();
      const ns = (t1 - t0) * 1e6;
      if (read) rec.read(ns, 4, t1);
      else rec.write(ns, 4, t1);
      if (a.sleepEvery > 0 && i % a.sleepEvery === a.sleepEvery - 1) {
        s.wakeup(chan);
        s.tsleep_interlock(chan);
        s.tsleep(chan, PINTERLOCKED, wm, 1);
      }
    }
    return { io: rec.toJSON(), sink };
  },
});
