/** piscina worker entry: runs one role task (see src/engine/worker-main.ts). */
import type { RoleTask } from '../src/engine/protocol.js';
import { runRole } from '../src/engine/worker-main.js';

export default function (task: RoleTask): Promise<unknown> {
  return runRole(task);
}
