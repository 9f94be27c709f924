/**
 * Race scenarios: small deterministic harnesses (a few cpus, a few operations) that run many
 * iterations in one machine. Each names the bug switches it catches.
 *
 * How a subsystem plugs in its switches:
 *  1. In the code path, `if (bugs.any && bugs.enabled('my-switch')) { the historical variant }`
 *     (import `bugs` from src/sync/switches.js); mark the catalogue entry `implemented` (bugs.ts).
 *  2. Write a scenario module in src/race/scenarios/ (or your own folder) calling
 *     `registerRaceScenario({ name, bugs: ['my-switch'], parts, daemons, spec, attach, reset, run, check })`,
 *     and import it from src/race/scenarios/index.ts so that workers and the command load it.
 *     Reserve arena space with `registerPlanner('race.<name>', (plan, spec) => { if (spec.race?.scenario === '<name>') ... })`.
 *  3. Teach the detectors: `registerWakeCondition(wmesg, (arena, ident) => condition)` for your
 *     sleeps, `poison()`/`assertLive()` for freed structs, `check()` for your invariants.
 * `kiolab race --matrix` then runs the new switch in every mode, and clean runs of the scenario.
 */
import type { MachineSpec, Kernel } from '../engine/spec.js';
import type { Arena } from '../shm/arena.js';

export interface RaceDaemon {
  /** Name used in role args and reports (e.g. "device"). */
  name: string;
  count?: number;
  /** Runs until `stop()` (the machine shuts down); must sleep with timeouts (<= 100 ms). */
  run(k: Kernel, stop: () => boolean, index: number): unknown;
}

export interface RaceScenario<C = any> {
  name: string;
  description: string;
  /** Bug switches this scenario catches. */
  bugs: string[];
  /** One cpu per part; part 0 is the coordinator (resets and checks between iterations). */
  parts: string[];
  daemons?: RaceDaemon[];
  /** Devices and other spec parts (ncpu and race are filled in by the runner). */
  spec?(): Omit<Partial<MachineSpec>, 'ncpu' | 'race'>;
  /** Main thread, once, after the machine is built (format devices...). */
  prepare?(m: { arena: Kernel['arena']; sync: Kernel['sync']; spec: MachineSpec }): void;
  /** Per worker, before the first iteration. */
  attach(k: Kernel): C;
  /** Coordinator, before each iteration, with no other cpu running scenario code. */
  reset?(c: C, iter: number): void;
  /** One part's work for one iteration. */
  run(c: C, part: string, iter: number): void;
  /** Coordinator, after each iteration: a violated invariant's message, or null. */
  check?(c: C, iter: number): string | null;
  /**
   * An invariant that holds at every instant (read without locks): sampled by the stress
   * watchdog every 20 ms, checked by explore at every quiescent point. Its message, or null.
   */
  invariant?(arena: Arena): string | null;
  /** Coordinator, after each clean iteration: its outcome for the outcome table (default: which parts slept). */
  outcome?(c: C, iter: number): string;
  /** Explore: rounds of daemon timeouts without progress before a hang is declared. */
  idleLimit?: number;
  /** Check the lock order (default true; false for a scenario that deadlocks on purpose). */
  lockOrder?: boolean;
  /** A detector's test case: no catalogue switch; the matrix skips it. */
  synthetic?: boolean;
  /** PCT's bound k on steps per iteration. */
  steps?: number;
}

const table = new Map<string, RaceScenario>();

export function registerRaceScenario<C>(s: RaceScenario<C>): void {
  if (table.has(s.name)) throw new RangeError(`race: scenario ${s.name} registered twice`);
  if (s.parts.length < 1) throw new RangeError(`race: scenario ${s.name} has no parts`);
  table.set(s.name, s as RaceScenario);
}

export function raceScenario(name: string): RaceScenario {
  const s = table.get(name);
  if (!s) throw new RangeError(`race: unknown scenario ${JSON.stringify(name)}; known: ${[...table.keys()].join(', ') || 'none'}`);
  return s;
}

export function raceScenarios(): RaceScenario[] {
  return [...table.values()];
}

/** Scenarios that catch switch `bug`. */
export function scenariosFor(bug: string): RaceScenario[] {
  return raceScenarios().filter((s) => s.bugs.includes(bug));
}
