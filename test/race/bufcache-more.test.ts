import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { replayTimes } from '../../src/race/replay.js';
import { runRace } from '../../src/race/runner.js';
import { bugInfo } from '../../src/race/bugs.js';
import { scenariosFor } from '../../src/race/scenario.js';

/**
 * vfs-runningbuf-lockholder (FreeBSD 6c8b634f): cluster_awrite charges the run's running space
 * before it takes the next buffer's lock, whose holder waits in waitrunningbufspace.
 */
const BUG = 'vfs-runningbuf-lockholder';
const SCENARIO = 'cluster-wdrain';
const CYCLE =
  /^wait-for cycle through running space: cpu 1 \(cluster-wdrain\/writer\) sleeps in waitrunningbufspace \("wdrn1"\) until vfs\.runningbufspace \(\d+ bytes\) drains, but \d+ bytes of it are charged to buffer \d+, whose write cpu 0 \(cluster-wdrain\/flusher\) has not issued \(nothing of it is in flight\), and cpu 0 waits for buf@\d+ held by cpu 1$/;

// `kiolab replay FILE --times 10` reproduces it 10/10; the test replays 5 times to stay short.
const REPLAYS = 5;

describe('race: vfs-runningbuf-lockholder (cluster write vs a lock holder in waitrunningbufspace)', function () {
  this.timeout(60_000);

  it('is implemented and caught by the cluster-wdrain scenario', () => {
    expect(bugInfo(BUG).implemented).to.equal(true);
    expect(scenariosFor(BUG).map((s) => s.name)).to.deep.equal([SCENARIO]);
  });

  it(`explore catches it as a wait-for cycle through running space and the schedule replays it ${REPLAYS}/${REPLAYS}`, async () => {
    const r = await runRace({ scenario: SCENARIO, bug: BUG, mode: 'explore', seed: 1, budgetMs: 30_000 });
    expect(r.failure, 'a failure within the budget').to.not.equal(null);
    expect(r.failure!.kind, r.failure!.message).to.equal('invariant');
    expect(r.failure!.message).to.match(CYCLE);
    // Both sides of the cycle are in the report: the flusher holds the run's first buffer, the writer block 1.
    expect(r.failure!.held.filter((h) => h.className === 'buf').map((h) => h.owner).sort()).to.deep.equal([0, 1]);
    expect(r.failure!.sleepers.find((s) => s.cpu === 1)?.wmesg).to.equal('wdrn1');
    expect(r.replay).to.not.equal(null);
    const rp = await replayTimes(r.replay!, REPLAYS);
    expect(rp.reproduced, `replays that missed: ${rp.misses.join(' | ')}`).to.equal(REPLAYS);
  });

  it('stress catches it too', async () => {
    const r = await runRace({ scenario: SCENARIO, bug: BUG, mode: 'stress', seed: 2, budgetMs: 30_000 });
    expect(r.failure?.kind, r.failure?.message).to.equal('invariant');
    expect(r.failure!.message).to.match(CYCLE);
  });

  it('clean runs report nothing, and both orders of the run and the writer occur (explore and stress)', async () => {
    for (const mode of ['explore', 'stress'] as const) {
      const r = await runRace({ scenario: SCENARIO, bug: null, mode, seed: 9, budgetMs: 60_000, iterations: 150 });
      expect(r.failure, `${mode}: ${r.failure?.message}`).to.equal(null);
      expect(r.iterations, mode).to.equal(150);
      expect(Object.keys(r.outcomes).sort(), mode).to.deep.equal(['the run took block 1 first', 'the writer took block 1 first']);
    }
  });
});
