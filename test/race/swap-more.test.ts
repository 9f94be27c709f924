import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { bugInfo } from '../../src/race/bugs.js';
import { replayTimes } from '../../src/race/replay.js';
import { runRace } from '../../src/race/runner.js';
import { scenariosFor } from '../../src/race/scenario.js';
import '../../src/race/scenarios/index.js';

/** The two swap switches of RACES.md wired last: what explore and stress must report. */
const SWITCHES = [
  // A completion starts the next child with sw_reg_start while the other pager holds the vnode lock in VOP_BMAP.
  { bug: 'swap-iodone-inline', scenario: 'swap-start', seed: 13, message: /sleep in a completion context: sw_reg_start would sleep on swapvnode@\d+, the vnode lock of \/swapfile \((held by cpu \d+|held by another cpu, released since)\)/ },
  // SWAP_OFF frees A while the completion of the child that brought its last page in still runs.
  { bug: 'swap-off-inflight', scenario: 'swap-off-io', seed: 3, message: /use after free: sw_reg_(start|iodone) touched swapdev A after SWAP_OFF tore it down/ },
];

describe('race: swap-iodone-inline and swap-off-inflight', function () {
  this.timeout(60_000);

  it('both switches are implemented and listed by their scenarios', () => {
    for (const s of SWITCHES) {
      expect(bugInfo(s.bug).implemented, s.bug).to.equal(true);
      expect(scenariosFor(s.bug).map((x) => x.name), s.bug).to.include(s.scenario);
    }
  });

  for (const s of SWITCHES) {
    // `kiolab replay FILE --times 10` reproduces each of these 10/10; three replays keep the suite short.
    it(`explore catches ${s.bug} in ${s.scenario} (assertion) and the schedule replays exactly`, async () => {
      const r = await runRace({ scenario: s.scenario, bug: s.bug, mode: 'explore', seed: s.seed, budgetMs: 20_000 });
      expect(r.failure, 'a failure within the budget').to.not.equal(null);
      expect(r.failure!.kind, r.failure!.message).to.equal('assertion');
      expect(r.failure!.message).to.match(s.message);
      expect(r.replay).to.not.equal(null);
      const rp = await replayTimes(r.replay!, 3);
      expect(rp.reproduced, `replays that missed: ${rp.misses.join(' | ')}`).to.equal(3);
      expect(rp.last!.failure!.iteration).to.equal(r.failure!.iteration);
      expect(rp.last!.failure!.message).to.equal(r.failure!.message);
    });

    it(`stress catches ${s.bug} in ${s.scenario}`, async () => {
      const r = await runRace({ scenario: s.scenario, bug: s.bug, mode: 'stress', seed: 2, budgetMs: 20_000 });
      expect(r.failure, 'a failure within the budget').to.not.equal(null);
      expect(r.failure!.message).to.match(s.message);
    });
  }

  it('clean runs of swap-start and swap-off-io report nothing (explore and stress); SWAP_OFF\'s drain is exercised', async () => {
    for (const scenario of ['swap-start', 'swap-off-io']) {
      for (const mode of ['explore', 'stress'] as const) {
        const r = await runRace({ scenario, bug: null, mode, seed: 11, budgetMs: 60_000, iterations: 60 });
        expect(r.failure, `${scenario}/${mode}: ${r.failure?.message}`).to.equal(null);
        expect(r.iterations, `${scenario}/${mode}`).to.equal(60);
        if (scenario === 'swap-off-io' && mode === 'explore') {
          // Some iterations had SWAP_OFF wait for a completion still running on the device cpu.
          const waited = Object.entries(r.outcomes).filter(([o]) => o.includes('drain:waited'));
          expect(waited.length, JSON.stringify(r.outcomes)).to.be.greaterThan(0);
        }
      }
    }
  });
});
