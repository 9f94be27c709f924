/**
 * The bench checker's worker (started by checker.ts `startChecker`): attaches to the machine's
 * arena with the main thread's rights (cpu -1: spinlocks and try-locks, never a sleep), waits for
 * the machine to start, then samples every period until the machine shuts down or the main thread
 * sets the stop word, always taking one last sample once the machine has started. It posts each
 * violation (then stops) and finally `done` with its sample count.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { importWorkerModules } from '../engine/roles.js';
import { MachineLayout, type MachineSpec, checkPlanners, planMachine } from '../engine/spec.js';
import { Arena } from '../shm/arena.js';
import { HostWord } from '../shm/view.js';
import { Sync } from '../sync/sync.js';
import { lockCtx, sampleOnce } from './checker.js';

const { sab, spec, periodMs, stop, modules, planners } = workerData as {
  sab: SharedArrayBuffer;
  spec: MachineSpec;
  periodMs: number;
  stop: SharedArrayBuffer;
  modules: string[];
  planners: string[];
};
await importWorkerModules(modules);
checkPlanners(planners);
const arena = Arena.attach(sab, planMachine(spec));
const sync = new Sync(arena, -1);
const M = arena.view(MachineLayout);
const m = arena.pool('machine', MachineLayout).addr(0);
const stopWord = new HostWord(stop);
const stopped = () => stopWord.load() !== 0;
const ended = () => stopped() || M.load(m, 'm_shutdown') !== 0;
const x = lockCtx(sync, 2000, ended);
while (M.load(m, 'm_go') === 0 && !stopped()) stopWord.wait(0, 5);
let samples = 0;
if (M.load(m, 'm_go') !== 0) {
  for (;;) {
    const last = ended();
    const r = sampleOnce(arena, spec, x);
    samples++;
    if (r.violation) {
      parentPort!.postMessage({ type: 'violation', ...r.violation });
      break;
    }
    if (last) break;
    stopWord.wait(0, periodMs);
  }
}
parentPort!.postMessage({ type: 'done', samples });
