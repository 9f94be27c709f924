/**
 * What a worker does with a role task: attach to the arena, post READY, wait for the machine's
 * start word, run the role, mark the thread dead. Errors propagate to the task's promise.
 */
import { Arena } from '../shm/arena.js';
import { Sync } from '../sync/sync.js';
import type { RoleTask, WorkerMessage } from './protocol.js';
import { resolveRole } from './roles.js';
import { MachineLayout, kernelFor, planMachine } from './spec.js';
import { reportAttach } from './report-worker.js';
import './subsystems.js';

export async function runRole(task: RoleTask): Promise<unknown> {
  const { sab, spec, cpu, role, args, port } = task;
  const arena = Arena.attach(sab, planMachine(spec));
  const sync = new Sync(arena, cpu);
  const k = kernelFor(arena, spec, sync);
  reportAttach(k); // trace ring and live counters, when the spec asks (src/report/trace.ts)
  const fn = await resolveRole(role);
  sync.thread_start(role);
  const M = arena.view(MachineLayout);
  try {
    M.add(k.machine, 'm_ready', 1);
    port.postMessage({ type: 'ready', cpu } satisfies WorkerMessage);
    // Start barrier: every worker begins its role at the same moment.
    const go = M.idx(k.machine, 'm_go');
    while (Atomics.load(arena.i32, go) === 0) Atomics.wait(arena.i32, go, 0, 1000);
    return await fn(k, args);
  } finally {
    sync.thread_exit();
    port.close();
  }
}
