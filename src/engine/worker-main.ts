/**
 * What a worker does with a role task: import the machine's worker modules, attach to the arena,
 * run the attach hooks, post READY, wait for the machine's start word, run the role, mark the
 * thread dead. Errors propagate to the task's promise.
 */
import { Arena } from '../shm/arena.js';
import { Sync } from '../sync/sync.js';
import type { RoleTask, WorkerMessage } from './protocol.js';
import { importWorkerModules, resolveRole, runAttachHooks } from './roles.js';
import { MachineLayout, checkPlanners, kernelFor, planMachine } from './spec.js';

export async function runRole(task: RoleTask): Promise<unknown> {
  const { sab, spec, cpu, role, args, port, modules, planners } = task;
  await importWorkerModules(modules);
  checkPlanners(planners);
  const arena = Arena.attach(sab, planMachine(spec));
  const sync = new Sync(arena, cpu);
  const k = kernelFor(arena, spec, sync);
  runAttachHooks(k);
  const fn = resolveRole(role);
  sync.thread_start(role);
  const M = arena.view(MachineLayout);
  try {
    M.add(k.machine, 'm_ready', 1);
    port.postMessage({ type: 'ready', cpu } satisfies WorkerMessage);
    // Start barrier: every worker begins its role at the same moment.
    const go = M.field('m_go');
    while (go.load(k.machine) === 0) go.wait(k.machine, 0, 1000);
    sync.thread_running();
    return await fn(k, args);
  } finally {
    sync.thread_exit();
    port.close();
  }
}
