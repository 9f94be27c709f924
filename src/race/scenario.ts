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
import { workerModule } from '../engine/roles.js';
import { type Kernel, type MachineSpec, registerInitializer, registerPlanner } from '../engine/spec.js';
import type { Arena } from '../shm/arena.js';
import type { StructLayout } from '../shm/layout.js';
import type { Sync } from '../sync/sync.js';

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
  /**
   * The scenario's own shared state: one struct of `layout` in the arena, reserved only while
   * this scenario runs (its address: `raceState(k)`); `init` runs once on the main thread when
   * the machine is built (`sync.lock_init(...)` of its locks; memory starts zeroed).
   */
  state?: { layout: StructLayout<string>; init?(sync: Sync, addr: number, arena: Arena): void };
  /**
   * The module that registers the scenario (`import.meta.url`), so that every worker imports it.
   * Not needed for a module loaded with `--module`, nor when the module calls `workerModule` or
   * `registerRoles` itself.
   */
  module?: string;
}

const table = new Map<string, RaceScenario>();

export function registerRaceScenario<C>(s: RaceScenario<C>): void {
  if (table.has(s.name)) throw new RangeError(`race: scenario ${s.name} registered twice`);
  if (s.parts.length < 1) throw new RangeError(`race: scenario ${s.name} has no parts`);
  if (s.module !== undefined) workerModule(s.module);
  if (s.state) {
    const { layout, init } = s.state;
    const region = stateRegion(s.name);
    registerPlanner(region, (plan, spec) => {
      if (spec.race?.scenario === s.name) plan.pool(region, layout, 1);
    });
    registerInitializer(region, (arena, sync, spec) => {
      if (spec.race?.scenario === s.name) init?.(sync, arena.pool(region, layout).addr(0), arena);
    });
  }
  table.set(s.name, s as RaceScenario);
}

const stateRegion = (name: string) => `race.state.${name}`;

/** The address of the running scenario's `state` struct (in a worker or on the main thread). */
export function raceState(k: Pick<Kernel, 'arena' | 'spec'>): number {
  const name = k.spec.race?.scenario;
  if (name === undefined) throw new RangeError('raceState: this machine runs no race scenario');
  return raceStateIn(k.arena, name);
}

/**
 * The address of scenario `name`'s `state` struct in `arena`: for a scenario's `invariant`,
 * which is given the arena only (the scenario knows its own name).
 */
export function raceStateIn(arena: Arena, name: string): number {
  const sc = table.get(name);
  if (!sc?.state) throw new RangeError(`raceState: ${sc ? `race scenario ${name} declares no state` : `no race scenario ${name}`}`);
  return arena.pool(stateRegion(sc.name), sc.state.layout).addr(0);
}

export function raceScenario(name: string): RaceScenario {
  const s = table.get(name);
  if (!s) {
    throw new RangeError(
      `race: unknown scenario ${JSON.stringify(name)}; known: ${[...table.keys()].join(', ') || 'none'} (a scenario of your own: load its module with --module, or register it from a worker module)`,
    );
  }
  return s;
}

export function raceScenarios(): RaceScenario[] {
  return [...table.values()];
}

/** Scenarios that catch switch `bug`. */
export function scenariosFor(bug: string): RaceScenario[] {
  return raceScenarios().filter((s) => s.bugs.includes(bug));
}
