/**
 * Race scenarios for the data-race detector's end-to-end tests (datarace.test.ts), in a module of
 * their own (every worker of the machine imports it; see stall-fixture.ts).
 *
 * `dr-counter`: two parts add to one plain counter, each under a spinlock, then publish through
 * an atomic flag. `dr-counter-racy`: part b forgets the lock, an update outside its lock nobody
 * put a switch or a point in: the detector must name both accesses and their code sites.
 */
import type { Kernel } from '../../src/engine/spec.js';
import { raceState, registerRaceScenario } from '../../src/race/scenario.js';
import { defineStruct } from '../../src/shm/layout.js';
import type { Field, StructView } from '../../src/shm/view.js';
import { LK_SPIN, LockLayout } from '../../src/sync/layouts.js';
import type { Sync } from '../../src/sync/sync.js';

/** dr_lock protects dr_count (plain); dr_done is atomic. */
const CounterLayout = defineStruct('dr_counter', { dr_lock: { struct: LockLayout }, dr_count: { line: 'i32' }, dr_done: 'i32' }, { align: 64 });

interface Counter {
  s: Sync;
  V: StructView<keyof typeof CounterLayout.off>;
  base: number;
  lock: number;
  count: Field;
}

const state = {
  layout: CounterLayout,
  init(sync: Sync, addr: number) {
    sync.lock_init(CounterLayout.addrOf(addr, 'dr_lock'), 'dr_lock', LK_SPIN);
  },
};

function attach(k: Kernel): Counter {
  const V = k.arena.view(CounterLayout);
  const base = raceState(k);
  return { s: k.sync, V, base, lock: V.addrOf(base, 'dr_lock'), count: V.field('dr_count') };
}

/** count++ under the lock. */
export function addLocked(c: Counter): void {
  c.s.spin_lock(c.lock);
  c.count.set(c.base, c.count.get(c.base) + 1);
  c.s.spin_unlock(c.lock);
}

/** count++ without it: the bug. */
export function addUnlocked(c: Counter): void {
  c.count.set(c.base, c.count.get(c.base) + 1);
}

for (const racy of [false, true]) {
  registerRaceScenario<Counter>({
    name: racy ? 'dr-counter-racy' : 'dr-counter',
    description: `data-race test: two cpus add to a plain counter${racy ? ', one without its lock' : ' under its lock'}`,
    bugs: [],
    synthetic: true,
    parts: ['a', 'b'],
    steps: 40,
    state,
    module: import.meta.url,
    attach,
    reset: (c) => {
      c.V.store(c.base, 'dr_count', 0);
      c.V.store(c.base, 'dr_done', 0);
    },
    run(c, part) {
      if (part === 'b' && racy) addUnlocked(c);
      else addLocked(c);
      c.V.add(c.base, 'dr_done', 1);
    },
  });
}
