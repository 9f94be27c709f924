/**
 * Race lab roles: `race:harness` runs one part of a race scenario over many iterations under the
 * race hook; `race:daemon` runs a scenario's daemon (a device worker...) inside the schedule.
 * Importing this module registers the race planner (the bug switches are resolved there, in
 * every worker) and every race scenario.
 */
import './device.js'; // the role sets and planners the race scenarios build on
import './lab.js';
import './bootcache.js';
import './bufcache.js';
import './swap.js';
import '../src/race/control.js';
import '../src/race/scenarios/index.js';
import { type HarnessArgs, runDaemon, runHarness } from '../src/race/harness.js';
import { registerRoles } from '../src/engine/roles.js';

registerRoles(import.meta.url, {
  'race:harness': (k, a: HarnessArgs) => runHarness(k, a),
  'race:daemon': (k, a: { scenario: string; daemon: string; index: number; replayIter?: number }) => runDaemon(k, a),
});
