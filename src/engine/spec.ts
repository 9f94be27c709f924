/**
 * A machine spec: the whole configuration a worker needs to rebuild the arena plan and attach.
 * It is plain JSON (it crosses to every worker). Subsystems add their configuration under their
 * own key as later issues land.
 */
import { Arena, ArenaPlan } from '../shm/arena.js';
import { Sync } from '../sync/sync.js';
import { defineStruct } from '../shm/layout.js';

export interface MachineSpec {
  /** cpus (workers) the arena has thread records for. */
  ncpu: number;
  maxLocks?: number;
  /** Reserve the primitives lab (locks and words for tests and the primitives benchmark). */
  lab?: boolean;
}

/** Machine-wide control words. */
export const MachineLayout = defineStruct(
  'machine',
  {
    m_go: { line: 'i32' },
    m_shutdown: { line: 'i32' },
    m_ready: { line: 'i32' },
  },
  { align: 64 },
);

export type Planner = (plan: ArenaPlan, spec: MachineSpec) => void;
const planners: Planner[] = [];

/** Subsystems register how they reserve arena space from a spec (in a fixed order). */
export function registerPlanner(p: Planner): void {
  if (!planners.includes(p)) planners.push(p);
}

export type Initializer = (arena: Arena, sync: Sync, spec: MachineSpec) => void;
export const initializers: Initializer[] = [];

/** Subsystems register how they initialize their part of a new arena (main thread, once). */
export function registerInitializer(f: Initializer): void {
  if (!initializers.includes(f)) initializers.push(f);
}

export function planMachine(spec: MachineSpec): ArenaPlan {
  const plan = new ArenaPlan();
  plan.pool('machine', MachineLayout, 1);
  Sync.plan(plan, { ncpu: spec.ncpu, maxLocks: spec.maxLocks });
  for (const p of planners) p(plan, spec);
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
  };
}
