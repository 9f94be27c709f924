/**
 * Race lab roles: `race:harness` runs one part of a race scenario over many iterations under the
 * race hook; `race:daemon` runs a scenario's daemon (a device worker...) inside the schedule.
 * Importing this module registers the race planner (the bug switches are resolved there, in
 * every worker) and every race scenario.
 */
import '../race/control.js';
import '../race/scenarios/index.js';
import { type HarnessArgs, runDaemon, runHarness } from '../race/harness.js';
import type { RoleFn } from './roles.js';

export const roles: Record<string, RoleFn> = {
  'race:harness': (k, a: HarnessArgs) => runHarness(k, a),
  'race:daemon': (k, a: { scenario: string; daemon: string; index: number; replayIter?: number }) => runDaemon(k, a),
};
