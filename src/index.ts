/**
 * kiolab's public API: `import { ... } from 'kiolab'`.
 *
 * Build on the lab with the same pieces kiolab's own subsystems use:
 *
 * - **Shared memory**: an {@link Arena} (one `SharedArrayBuffer`) planned from struct layouts
 *   ({@link defineStruct}); typed access through {@link StructView} and bound {@link Field}s.
 * - **Synchronization**: {@link Sync}, one per cpu: spinlocks, sleep locks, `tsleep`/`wakeup`/
 *   `msleep`/`ssleep` with `tsleep_interlock` + {@link PINTERLOCKED}, exactly as the kernel names them.
 * - **The machine**: a {@link Machine} runs named roles on `worker_threads` workers over one arena.
 *   A module registers its roles with {@link registerRoles} and its arena regions with
 *   {@link registerPlanner}/{@link registerInitializer}; every worker imports the same modules.
 * - **The race lab**: {@link registerRaceScenario} (with {@link registerBugSwitch} for your own
 *   switches and {@link registerWakeCondition} for your sleeps), then {@link runRace} in
 *   explore or stress mode, {@link replayTimes} to replay a failing schedule exactly.
 * - **Benchmarks**: {@link runBench} runs any `kiolab bench` scenario from code and returns the
 *   report `--json` prints; {@link registerBenchScenario} adds your own.
 *
 * Importing this module registers kiolab's own role sets and scenarios. Everything not exported
 * here is internal and may change.
 */
import { fileURLToPath } from 'node:url';
import '../workers/index.js';
import './cli/all.js';
import './cli/locks.js';

// ---- shared memory -------------------------------------------------------------------------
export { Arena, ArenaError, ArenaPlan, Pool, type RegionSpec } from './shm/arena.js';
export { CACHE_LINE, defineStruct, type FieldInfo, type FieldSpec, StructLayout } from './shm/layout.js';
export { Field, StructView } from './shm/view.js';

// ---- synchronization -----------------------------------------------------------------------
export { PINTERLOCKED, Sync, type SyncConfig } from './sync/sync.js';
export { LK_MTX, LK_SPIN, LockLayout } from './sync/layouts.js';
export {
  ContractError,
  EBUSY,
  EINVAL,
  EIO,
  ENOENT,
  ENOMEM,
  ENXIO,
  EPERM,
  ETIMEDOUT,
  EWOULDBLOCK,
  KernelError,
  errnoName,
} from './sync/errno.js';
export { type Hook } from './sync/hooks.js';
export { type LockClassStats, type LockInfo, type SleepStats, type SleeperInfo, type SyncSnapshot, lockTable, sleepTable, snapshot } from './sync/snapshot.js';
export { bugs } from './sync/switches.js';
export { assertLive, isPoisoned, poison } from './sync/poison.js';
export { registerWakeCondition, type WakeCondition } from './sync/wakecond.js';

// ---- the machine ---------------------------------------------------------------------------
export { Machine, MachineError, type RoleSpec, type RunOptions } from './engine/machine.js';
export type { RoleResult, WorkerMessage } from './engine/protocol.js';
export { onWorkerAttach, registerRoles, type RoleFn, roleNames, workerModule } from './engine/roles.js';
export { type Initializer, type Kernel, type MachineSpec, type Planner, registerInitializer, registerPlanner } from './engine/spec.js';
export { tuneV8 } from './engine/v8.js';

// ---- the race lab --------------------------------------------------------------------------
export { type RaceDaemon, type RaceScenario, raceScenarios, raceState, registerRaceScenario } from './race/scenario.js';
export { type BugInfo, allBugs, registerBugSwitch } from './race/bugs.js';
export type { Policy, RaceMode } from './race/control.js';
export { type RaceFailure, type RaceOptions, type RaceResult, type ReplayFile, runRace } from './race/runner.js';
export { loadReplay, replayOnce, replayTimes, saveReplay, shrink } from './race/replay.js';
export { formatRace } from './race/report.js';

// ---- benchmarks and reports ----------------------------------------------------------------
export { type BenchRun, runBench } from './cli/bench.js';
export { type OptionSpec, type Scenario as BenchScenario, UsageError, registerScenario as registerBenchScenario } from './cli/registry.js';
export type { CommonOptions, OptionValues, ProgressSink, RunContext } from './report/context.js';
export { OpRecorder, type RecorderJSON, type RecorderOptions } from './report/types.js';
export { KIOLAB_VERSION, type RunReport, buildRunReport, roleJob, runReportExitCode } from './report/run-report.js';
export { runMachine, withReport } from './report/run-machine.js';
export { formatRunReport } from './report/format.js';

/**
 * One kiolab per process: a second copy (another `node_modules/kiolab`) would keep its own role,
 * scenario and switch tables, and registrations made through it would never reach the command.
 */
const INSTANCE = Symbol.for('kiolab.instance');
const here = fileURLToPath(import.meta.url);
const g = globalThis as { [INSTANCE]?: string };
if (g[INSTANCE] !== undefined && g[INSTANCE] !== here) {
  throw new Error(`kiolab: two copies are loaded, ${g[INSTANCE]} and ${here}; import 'kiolab' from one installation only`);
}
g[INSTANCE] = here;
