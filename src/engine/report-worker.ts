/**
 * What every worker does for the report layer when it attaches (called from worker-main.ts):
 * install the trace hook and live counter when the spec asks (src/report/trace.ts), and make the
 * `report:` role family (report-roles.ts) loadable.
 */
import { traceAttach } from '../report/trace.js';
import { registerRoleFamily } from './roles.js';
import type { Kernel } from './spec.js';

registerRoleFamily('report', () => import('./report-roles.js').then((m) => m.roles));

export function reportAttach(k: Kernel): void {
  traceAttach(k);
}
