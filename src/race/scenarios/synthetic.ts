/**
 * Synthetic scenarios: the detectors' own test cases, each a textbook bug in a few lines over
 * two lab locks and two words. They catch no catalogue switch (the matrix skips them).
 *
 *  - `synthetic-lor`: cpu 0 takes a then b; afterwards cpu 1 takes b then a. Never hangs; the
 *    lock-order checker reports the reversal.
 *  - `synthetic-deadlock`: cpu 0 takes a then b while cpu 1 takes b then a (ABBA).
 *  - `synthetic-lost-wakeup`: the waiter tests a flag and sleeps without an interlock; the waker
 *    sets the flag and wakes in between.
 *  - `synthetic-owner-death`: a cpu throws while holding a sleep lock.
 */
import { registerInitializer, registerPlanner, type Kernel } from '../../engine/spec.js';
import { defineStruct } from '../../shm/layout.js';
import { LK_MTX, LockLayout } from '../../sync/layouts.js';
import { PINTERLOCKED } from '../../sync/sync.js';
import { registerWakeCondition } from '../detect.js';
import { registerRaceScenario } from '../scenario.js';

export const SynLayout = defineStruct(
  'race_syn',
  {
    sy_a: { struct: LockLayout },
    sy_b: { struct: LockLayout },
    sy_flag: { line: 'i32' },
    sy_phase: { line: 'i32' },
  },
  { align: 64 },
);

const isSyn = (name?: string) => !!name && name.startsWith('synthetic-');

registerPlanner('race.synthetic', (plan, spec) => {
  if (isSyn(spec.race?.scenario)) plan.pool('race.syn', SynLayout, 1);
});
registerInitializer('race.synthetic', (arena, sync, spec) => {
  if (!isSyn(spec.race?.scenario)) return;
  const b = arena.pool('race.syn', SynLayout).addr(0);
  sync.lock_init(SynLayout.addrOf(b, 'sy_a'), 'syn_a', LK_MTX);
  sync.lock_init(SynLayout.addrOf(b, 'sy_b'), 'syn_b', LK_MTX);
});

registerWakeCondition('synflag', (arena, flag) => arena.word().load(flag) !== 0);
registerWakeCondition('synphase', (arena, phase) => arena.word().load(phase) !== 0);

interface Syn {
  k: Kernel;
  base: number;
  V: ReturnType<Kernel['arena']['view']>;
  a: number;
  b: number;
  flag: number;
  phase: number;
  pointId: number;
}

function attach(k: Kernel): Syn {
  const base = k.arena.pool('race.syn', SynLayout).addr(0);
  return {
    k,
    base,
    V: k.arena.view(SynLayout),
    a: SynLayout.addrOf(base, 'sy_a'),
    b: SynLayout.addrOf(base, 'sy_b'),
    flag: SynLayout.addrOf(base, 'sy_flag'),
    phase: SynLayout.addrOf(base, 'sy_phase'),
    pointId: k.sync.intern('syn:window'),
  };
}

function reset(c: Syn): void {
  c.k.arena.word().store(c.flag, 0);
  c.k.arena.word().store(c.phase, 0);
}

/** Correct sleep until the word at `w` is non-zero. */
function sleepUntil(c: Syn, w: number, wmesg: string): void {
  const s = c.k.sync;
  while (c.k.arena.word().load(w) === 0) {
    s.tsleep_interlock(w);
    if (c.k.arena.word().load(w) !== 0) {
      s.tsleep_remove();
      break;
    }
    s.tsleep(w, PINTERLOCKED, wmesg, 0);
  }
}

function nested(c: Syn, x: number, y: number): void {
  const s = c.k.sync;
  s.lock(x);
  s.point(c.pointId, x);
  s.lock(y);
  s.unlock(y);
  s.unlock(x);
}

registerRaceScenario<Syn>({
  name: 'synthetic-lor',
  description: 'detector test: a then b, later b then a (a lock-order reversal without a hang)',
  bugs: [],
  synthetic: true,
  steps: 30,
  parts: ['ab', 'ba'],
  attach,
  reset,
  run(c, part) {
    if (part === 'ab') {
      nested(c, c.a, c.b);
      c.k.arena.word().store(c.phase, 1);
      c.k.sync.wakeup(c.phase);
    } else {
      sleepUntil(c, c.phase, 'synphase');
      nested(c, c.b, c.a);
    }
  },
});

registerRaceScenario<Syn>({
  name: 'synthetic-deadlock',
  description: 'detector test: ABBA deadlock of two cpus on two sleep locks',
  bugs: [],
  lockOrder: false,
  synthetic: true,
  steps: 30,
  parts: ['ab', 'ba'],
  attach,
  reset,
  run(c, part) {
    if (part === 'ab') nested(c, c.a, c.b);
    else nested(c, c.b, c.a);
  },
});

registerRaceScenario<Syn>({
  name: 'synthetic-lost-wakeup',
  description: 'detector test: test-then-sleep without an interlock loses a wakeup',
  bugs: [],
  synthetic: true,
  steps: 30,
  parts: ['waiter', 'waker'],
  attach,
  reset,
  run(c, part) {
    const s = c.k.sync;
    if (part === 'waiter') {
      if (c.k.arena.word().load(c.flag) === 0) {
        s.point(c.pointId, c.flag); // the window between the test and the sleep
        s.tsleep(c.flag, 0, 'synflag', 0);
      }
    } else {
      c.k.arena.word().store(c.flag, 1);
      s.wakeup(c.flag);
    }
  },
});

registerRaceScenario<Syn>({
  name: 'synthetic-owner-death',
  description: 'detector test: a cpu dies holding a sleep lock',
  bugs: [],
  synthetic: true,
  steps: 30,
  parts: ['victim'],
  attach,
  reset,
  run(c, _part, iter) {
    c.k.sync.lock(c.a);
    if (iter === 2) throw new Error('synthetic-owner-death: the worker dies on purpose');
    c.k.sync.unlock(c.a);
  },
});
