/**
 * A machine spec: the whole configuration a worker needs to rebuild the arena plan and attach.
 * It is plain JSON (it crosses to every worker). Subsystems add their configuration under their
 * own key as later issues land.
 */
import { Arena, ArenaPlan } from '../shm/arena.js';
import { Sync } from '../sync/sync.js';
import { defineStruct } from '../shm/layout.js';
import type { DeviceSpecPart } from '../device/config.js';
import type { BufCacheSpec } from '../bufcache/tunables.js';
import type { SwapSpec } from '../swap/layout.js';
import type { BootCacheSpec } from '../bootcache/defs.js';

export interface MachineSpec extends DeviceSpecPart {
  /** cpus (workers) the arena has thread records for. */
  ncpu: number;
  /** Reserve the primitives lab (locks and words for tests and the primitives benchmark). */
  lab?: boolean;
  /** BootCache: the cache's arena regions and tunables (src/bootcache/defs.ts). */
  bootcache?: BootCacheSpec;
  /** Swap devices and the pager's page table (src/swap/layout.ts). */
  swap?: SwapSpec;
  /** The buffer cache: nbuf, files, queue sets, sysctl overrides (src/bufcache/tunables.ts). */
  bufcache?: BufCacheSpec;
  /**
   * Bug switches on outside a race (`bench --as-seed`: the seed's own variants). A race spec's
   * `race.bugs` wins over it.
   */
  bugs?: string[];
  /**
   * Fill what the subsystems free with poison, so that a stale use shows (BootCache's freed
   * pages). The race lab and `--check` turn it on; off by default, since it costs a page copy
   * on every freed page of a hit path.
   */
  poison?: boolean;
}

/** Machine-wide control words. */
export const MachineLayout = defineStruct(
  'machine',
  {
    m_go: { line: 'i32' },
    m_shutdown: { line: 'i32' },
    m_ready: { line: 'i32' },
    /** The run has `io` roles (device workers): they stop on m_io_stop, not on m_shutdown. */
    m_has_io: 'i32',
    /** Every role but the `io` ones has returned: the devices may stop once their queues are empty. */
    m_io_stop: { line: 'i32' },
  },
  { align: 64, internal: true },
);

export type Planner = (plan: ArenaPlan, spec: MachineSpec) => void;
const planners = new Map<string, Planner>();

/**
 * Subsystems register how they reserve arena space from a spec. Planners run in the order of
 * their names, so the arena layout never depends on the order modules were imported in.
 */
export function registerPlanner(name: string, p: Planner): void {
  planners.set(name, p);
}

/** The names of the registered planners, sorted. */
export function plannerNames(): string[] {
  return [...planners.keys()].sort();
}

/**
 * A worker checks that it registered the same planners as the main thread before it plans the
 * arena: a missing one means a module registered it without being a worker module.
 */
export function checkPlanners(mainNames: readonly string[]): void {
  const missing = mainNames.filter((n) => !planners.has(n));
  const extra = plannerNames().filter((n) => !mainNames.includes(n));
  if (missing.length || extra.length) {
    throw new Error(
      `worker: the arena planners differ from the main thread's (${missing.length ? `missing here: ${missing.join(', ')}` : ''}${missing.length && extra.length ? '; ' : ''}${extra.length ? `only here: ${extra.join(', ')}` : ''}); a module that calls registerPlanner must be loaded in workers too: call workerModule(import.meta.url) in it`,
    );
  }
}

export type Initializer = (arena: Arena, sync: Sync, spec: MachineSpec) => void;
const initializerTable = new Map<string, Initializer>();

/** Subsystems register how they initialize their part of a new arena (main thread, once; in name order). */
export function registerInitializer(name: string, f: Initializer): void {
  initializerTable.set(name, f);
}

export function initializers(): Initializer[] {
  return [...initializerTable.keys()].sort().map((k) => initializerTable.get(k)!);
}

export function planMachine(spec: MachineSpec): ArenaPlan {
  const plan = new ArenaPlan();
  plan.pool('machine', MachineLayout, 1);
  Sync.plan(plan, { ncpu: spec.ncpu });
  for (const name of [...planners.keys()].sort()) planners.get(name)!(plan, spec);
  return plan;
}

/** The per-cpu view of a machine that every role gets. */
export interface Kernel {
  arena: Arena;
  sync: Sync;
  cpu: number;
  spec: MachineSpec;
  /** Address of the machine control struct. */
  machine: number;
  /** True once the machine asked every role to stop. */
  shuttingDown(): boolean;
  /**
   * For a device worker: true once it may stop serving (when its queue is empty). In a run whose
   * device roles are marked `io`, only after every other role has returned, so that a daemon
   * still finishing its I/O (a BootCache reader mid-batch) never finds the disk gone; otherwise
   * as `shuttingDown`.
   */
  ioStopping(): boolean;
}

export function kernelFor(arena: Arena, spec: MachineSpec, sync: Sync): Kernel {
  const M = arena.view(MachineLayout);
  const machine = arena.pool('machine', MachineLayout).addr(0);
  return {
    arena,
    sync,
    cpu: sync.cpu,
    spec,
    machine,
    shuttingDown: () => M.load(machine, 'm_shutdown') !== 0,
    ioStopping: () => (M.load(machine, 'm_has_io') !== 0 ? M.load(machine, 'm_io_stop') !== 0 : M.load(machine, 'm_shutdown') !== 0),
  };
}
