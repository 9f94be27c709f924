/**
 * The hit-path benchmark's BootCache machinery (workers/bench-hit.ts, bench/hit.ts,
 * bench/instrumentation.ts): what its figures rest on, not how fast anything is.
 */
import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import '../../workers/index.js';
import { repRates, runBootCacheMachine } from '../../bench/hit.js';
import { INSTRUMENTED_ROOT, IN_PROCESS } from '../../bench/instrumentation.js';

const MiB = 1024 * 1024;

describe('bootcache: the hit benchmark machinery', function () {
  this.timeout(60_000);

  it('pairs solo passes of caller 0 with passes of every caller, each pass ending when the first caller is done', async () => {
    const regionBytes = MiB;
    const nreq = regionBytes / 4096;
    const reps = 2;
    const passes = 3;
    // runBootCacheMachine itself fails when a request was not a hit or blocks were left unread.
    const r = await runBootCacheMachine({ locking: 'fine', callers: 2, regionBytes, reqBytes: 4096, modes: ['kiolab-solo', 'kiolab'], reps, passes, warmOps: 2 * nreq });
    const [c0, c1] = r.callers.map((c) => c.spans);
    for (const c of [c0, c1]) {
      expect(c['kiolab-solo']).to.have.length(reps);
      expect(c.kiolab).to.have.length(reps);
    }
    for (let rep = 0; rep < reps; rep++) {
      for (let p = 0; p < passes; p++) {
        expect(c0['kiolab-solo'][rep][p].ops, 'caller 0 alone issues its whole region').to.equal(nreq);
        expect(c1['kiolab-solo'][rep][p].ops, 'caller 1 sits the solo pass out').to.equal(0);
        const a = c0.kiolab[rep][p];
        const b = c1.kiolab[rep][p];
        expect(Math.max(a.ops, b.ops), 'one caller issued every request').to.equal(nreq);
        expect(Math.min(a.ops, b.ops), 'the other worked until it saw the pass end').to.be.greaterThan(0);
        expect(a.t1 >= a.t0 && b.t1 >= b.t0).to.equal(true);
      }
    }
    const solo = repRates([c0, c1], 'kiolab-solo');
    const all = repRates([c0, c1], 'kiolab');
    expect(solo.every((x) => Number.isFinite(x) && x > 0), `solo rates ${solo}`).to.equal(true);
    expect(all.every((x) => Number.isFinite(x) && x > 0), `2-caller rates ${all}`).to.equal(true);
    expect(r.stats.ss_hit_blkmissing).to.equal(0);
  });

  it('runs the one-thread BootCache hit loop of the instrumentation benchmark on hits only', async () => {
    const w = IN_PROCESS.find((x) => x.name.startsWith('BootCache'));
    expect(w, 'the in-process BootCache workload').to.not.equal(undefined);
    const run = await w!.prepare(INSTRUMENTED_ROOT);
    // A miss would go to a device nobody serves and sleep on this thread, which throws.
    for (let k = 0; k < 3; k++) expect(run(w!.n)).to.be.greaterThan(0);
  });
});
