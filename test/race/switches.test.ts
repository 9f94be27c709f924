import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { replayTimes } from '../../src/race/replay.js';
import { runRace } from '../../src/race/runner.js';

const BIO_SWITCHES: { bug: string; scenario: string; kind: string; also?: string; message: RegExp }[] = [
  { bug: 'vfs-biowait-no-interlock', scenario: 'biowait', kind: 'lost-wakeup', message: /sleeps on "bio(rd|wr)" \(channel \d+\)/ },
  { bug: 'vfs-biodone-early-done', scenario: 'biowait', kind: 'assertion', message: /saw BIO_DONE but b_cmd is (READ|WRITE), not DONE/ },
  // The underflow throws in the completing worker; the stress watchdog may sample the negative count first.
  { bug: 'vfs-bio-track-double-release', scenario: 'bio-track', kind: 'assertion', also: 'invariant', message: /bio_track_rel: bad count|bio_track count underflowed/ },
];

describe('race: the bio layer switches', () => {
  for (const s of BIO_SWITCHES) {
    it(`explore catches ${s.bug} (${s.kind}) and the saved schedule replays it 10/10`, async () => {
      const r = await runRace({ scenario: s.scenario, bug: s.bug, mode: 'explore', seed: 9, budgetMs: 50_000 });
      expect(r.failure, 'a failure within the budget').to.not.equal(null);
      expect([s.kind, s.also], r.failure!.message).to.include(r.failure!.kind);
      expect(r.failure!.message).to.match(s.message);
      expect(r.failure!.workers.length).to.equal(3);
      expect(r.replay).to.not.equal(null);
      const rp = await replayTimes(r.replay!, 10);
      expect(rp.reproduced, `replays that missed: ${rp.misses.join(' | ')}`).to.equal(10);
    });
  }

  it('stress catches every bio switch too', async () => {
    for (const s of BIO_SWITCHES) {
      const r = await runRace({ scenario: s.scenario, bug: s.bug, mode: 'stress', seed: 2, budgetMs: 40_000 });
      expect([s.kind, s.also], `${s.bug}: ${r.failure?.message}`).to.include(r.failure?.kind);
      expect(r.replay).to.equal(null);
    }
  });

  it('explore with the same seed gives the same schedule and the same outcome', async () => {
    // PCT finds the lost wakeup in a few iterations: the failure, its schedule and its events repeat.
    const a = await runRace({ scenario: 'biowait', bug: 'vfs-biowait-no-interlock', mode: 'explore', policy: 'pct', seed: 9, budgetMs: 50_000 });
    const b = await runRace({ scenario: 'biowait', bug: 'vfs-biowait-no-interlock', mode: 'explore', policy: 'pct', seed: 9, budgetMs: 50_000 });
    expect(a.failure?.kind, a.failure?.message).to.equal('lost-wakeup');
    expect(b.failure?.kind, b.failure?.message).to.equal(a.failure!.kind);
    expect(b.failure!.message).to.equal(a.failure!.message);
    expect(b.replay!.iteration).to.equal(a.replay!.iteration);
    expect(b.replay!.schedule).to.deep.equal(a.replay!.schedule);
    expect(b.replay!.events).to.deep.equal(a.replay!.events);
    // Uniform random choices at every shared access rarely line up the device's whole biodone
    // inside the reader's short window; a fixed number of its iterations repeats exactly:
    // the same outcomes, the same points passed, the same preemptions.
    const ra = await runRace({ scenario: 'biowait', bug: 'vfs-biowait-no-interlock', mode: 'explore', policy: 'random', seed: 11, budgetMs: 50_000, iterations: 150 });
    const rb = await runRace({ scenario: 'biowait', bug: 'vfs-biowait-no-interlock', mode: 'explore', policy: 'random', seed: 11, budgetMs: 50_000, iterations: 150 });
    expect(rb.iterations).to.equal(ra.iterations);
    expect(rb.failure?.message).to.equal(ra.failure?.message);
    expect(rb.outcomes).to.deep.equal(ra.outcomes);
    expect(rb.steps).to.deep.equal(ra.steps);
    expect(rb.preemptions).to.equal(ra.preemptions);
    // A failure in a later iteration replays too (the earlier iterations are explored again).
    expect(a.replay!.iteration, 'the failure comes after some clean iterations').to.be.above(0);
    const rp = await replayTimes(a.replay!, 3);
    expect(rp.reproduced, `iteration ${a.replay!.iteration}; misses: ${rp.misses.join(' | ')}`).to.equal(3);
  });

  it('clean runs report nothing (explore and stress, every bio scenario)', async () => {
    for (const scenario of ['biowait', 'bio-track']) {
      for (const mode of ['explore', 'stress'] as const) {
        const r = await runRace({ scenario, bug: null, mode, seed: 9, budgetMs: 60_000, iterations: 60 });
        expect(r.failure, `${scenario}/${mode}: ${r.failure?.message}`).to.equal(null);
        expect(r.iterations, `${scenario}/${mode}`).to.equal(60);
      }
    }
  });
});
