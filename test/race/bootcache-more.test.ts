import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { bugInfo } from '../../src/race/bugs.js';
import { replayTimes } from '../../src/race/replay.js';
import { runRace } from '../../src/race/runner.js';
import { scenariosFor } from '../../src/race/scenario.js';
import '../../src/race/scenarios/index.js';

/** The BootCache switches of the drain and the hit-rate cutoff: what each mode must report. */
const SWITCHES: { bug: string; scenario: string; kind: string; message: RegExp; stress: RegExp }[] = [
  // The caller tested CACHEACTIVE and found its extent before counting itself: the teardown freed it.
  { bug: 'bc-drain-order', scenario: 'bc-drain', kind: 'assertion', message: /use after free: BC_cache_extent \d+ .* is poisoned/, stress: /use after free: BC_cache_extent \d+ .* is poisoned/ },
  // The caller that terminates inline sleeps in BC_terminate_cache's drain, waiting for itself.
  // Free-running, its drain gives up (EBUSY) and re-activates the cache, or the watchdog sees the stall.
  { bug: 'bc-inline-hitrate-terminate', scenario: 'bc-hitrate', kind: 'hang', message: /hang: .*"BC_terminate_cache"/, stress: /"BC_terminate_cache"|the hit-rate cutoff did not shut it down/ },
];

describe('race: the BootCache drain and hit-rate switches', function () {
  this.timeout(60_000);

  it('each switch is implemented and listed by its scenario', () => {
    for (const s of SWITCHES) {
      expect(bugInfo(s.bug).implemented, s.bug).to.equal(true);
      expect(scenariosFor(s.bug).map((x) => x.name), s.bug).to.include(s.scenario);
    }
  });

  for (const s of SWITCHES) {
    it(`explore catches ${s.bug} in ${s.scenario} (${s.kind}) and the schedule replays exactly`, async () => {
      const r = await runRace({ scenario: s.scenario, bug: s.bug, mode: 'explore', seed: 3, budgetMs: 20_000 });
      expect(r.failure, 'a failure within the budget').to.not.equal(null);
      expect(r.failure!.kind, r.failure!.message).to.equal(s.kind);
      expect(r.failure!.message).to.match(s.message);
      expect(r.replay).to.not.equal(null);
      const rp = await replayTimes(r.replay!, 3);
      expect(rp.reproduced, `replays that missed: ${rp.misses.join(' | ')}`).to.equal(3);
    });
  }

  it('stress catches both switches too', async () => {
    for (const s of SWITCHES) {
      const r = await runRace({ scenario: s.scenario, bug: s.bug, mode: 'stress', seed: 2, budgetMs: 20_000 });
      expect(r.failure, `${s.bug}: no failure in stress`).to.not.equal(null);
      expect(r.failure!.message, s.bug).to.match(s.stress);
    }
  });

  it('clean runs of bc-drain and bc-hitrate report nothing (explore and stress)', async () => {
    for (const scenario of ['bc-drain', 'bc-hitrate']) {
      for (const mode of ['explore', 'stress'] as const) {
        const r = await runRace({ scenario, bug: null, mode, seed: 9, budgetMs: 60_000, iterations: 60 });
        expect(r.failure, `${scenario}/${mode}: ${r.failure?.message}`).to.equal(null);
        expect(r.iterations, `${scenario}/${mode}`).to.equal(60);
      }
    }
  });
});
