/**
 * A race scenario for the stress watchdog's tests (watchdog.test.ts), in a module of its own: a
 * module that registers a race scenario is imported by every worker of the machine (`module`
 * below), and a test file cannot be, since it calls mocha's describe.
 *
 * `stall-spin`: two parts run empty iterations until iteration 3, where the spinner polls a word
 * that nobody sets, on its cpu, as a spin-wait for a flag that is never raised would (the other
 * part waits for it at the barrier). No progress, although the spinner has all the CPU it asks
 * for: the watchdog must call it a hang by the CPU time the spinner burns. The poll also stops
 * once the run is aborted, so that the failure ends the run.
 */
import { RaceCtl } from '../../src/race/control.js';
import { raceState, registerRaceScenario } from '../../src/race/scenario.js';
import type { Kernel } from '../../src/engine/spec.js';
import { defineStruct } from '../../src/shm/layout.js';
import type { StructView } from '../../src/shm/view.js';

/** st_flag: atomic; never set (the flag the spinner waits for). */
const SpinLayout = defineStruct('stall_spin', { st_flag: { line: 'i32' } }, { align: 64 });

/** The iteration in which the spinner starts to spin. */
export const SPIN_FROM = 3;

interface Spin {
  V: StructView<keyof typeof SpinLayout.off>;
  addr: number;
  ctl: RaceCtl;
}

registerRaceScenario<Spin>({
  name: 'stall-spin',
  description: 'watchdog test: from iteration 3 a cpu spins on a flag nobody sets',
  bugs: [],
  synthetic: true,
  parts: ['waiter', 'spinner'],
  state: { layout: SpinLayout },
  module: import.meta.url,
  attach: (k: Kernel) => ({ V: k.arena.view(SpinLayout), addr: raceState(k), ctl: new RaceCtl(k.arena) }),
  run(c, part, iter) {
    if (part !== 'spinner' || iter < SPIN_FROM) return;
    while (c.V.load(c.addr, 'st_flag') === 0 && !c.ctl.aborted) {
      // spin: the flag is never raised
    }
  },
});
