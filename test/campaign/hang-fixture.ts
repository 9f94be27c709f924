/**
 * A race scenario for the campaign tests (local.test.ts), in a module of its own (a campaign
 * file names it as a scenario's "module"; a test file cannot be one, since it calls describe).
 *
 * `campaign-hang`: from iteration 2 one part loops forever without a scheduling point and never
 * looks at the run's abort, as a scenario with a runaway loop would. The race runner's own
 * timeout comes long after its budget; the campaign must kill the job at budget + hang margin
 * and report a hang.
 */
import { registerRaceScenario } from '../../src/race/scenario.js';

registerRaceScenario({
  name: 'campaign-hang',
  description: 'campaign test: from iteration 2 a part loops forever without a scheduling point',
  bugs: [],
  synthetic: true,
  parts: ['a', 'b'],
  attach: () => ({}),
  run(_c, part, iter) {
    if (part !== 'b' || iter < 2) return;
    for (;;) {
      // a runaway loop: no point, no abort check
    }
  },
});
