import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { Machine } from '../../src/engine/machine.js';
import { unwokenWaiters } from '../../src/race/detect.js';
import { runRace, specFor } from '../../src/race/runner.js';
import { raceScenario, raceStateIn } from '../../src/race/scenario.js';
import { TortureLayout } from '../../src/race/scenarios/torture.js';
import { TDF_SLEEPING } from '../../src/sync/layouts.js';
import { snapshot } from '../../src/sync/snapshot.js';
import { wakeConditionOf } from '../../src/sync/wakecond.js';

const TORTURE = ['torture-spin', 'torture-mtx', 'torture-sleep', 'torture-msleep', 'torture-ssleep'];
/** Iterations of each clean run; the budget is far more than they need on two busy cores. */
const ITERS = { explore: 300, stress: 100 } as const;
const BUDGET_MS = 120_000;

describe('race: torture scenarios (the lab on its own primitives)', function () {
  this.timeout(TORTURE.length * (BUDGET_MS + 30_000));

  it('are scenarios of the matrix: no switch, not synthetic', () => {
    for (const name of TORTURE) {
      const sc = raceScenario(name);
      expect(sc.bugs, name).to.deep.equal([]);
      expect(sc.synthetic, name).to.not.equal(true);
      expect(sc.parts, name).to.have.length(3);
    }
  });

  for (const mode of ['explore', 'stress'] as const) {
    it(`clean ${mode} runs of every torture scenario report nothing (${ITERS[mode]} iterations each)`, async () => {
      for (const scenario of TORTURE) {
        const r = await runRace({ scenario, bug: null, mode, seed: 5, budgetMs: BUDGET_MS, iterations: ITERS[mode] });
        expect(r.failure, `${scenario}/${mode}: ${r.failure?.message}`).to.equal(null);
        expect(r.iterations, `${scenario}/${mode}`).to.equal(ITERS[mode]);
      }
    });
  }

  it('explore runs are deterministic for a seed (the same outcomes twice, other ones for another seed)', async () => {
    const run = (scenario: string, seed: number) => runRace({ scenario, bug: null, mode: 'explore', seed, budgetMs: BUDGET_MS, iterations: 200 });
    for (const scenario of TORTURE) {
      const a = await run(scenario, 11);
      const b = await run(scenario, 11);
      expect(a.failure, scenario).to.equal(null);
      expect(a.iterations, scenario).to.equal(200);
      expect(b.outcomes, scenario).to.deep.equal(a.outcomes);
    }
    // Not vacuous: the outcomes do depend on the schedule.
    const c = await run('torture-mtx', 11);
    const d = await run('torture-mtx', 12);
    expect(d.outcomes).to.not.deep.equal(c.outcomes);
  });

  it('the wake conditions name what each sleeper waits for', () => {
    const m = new Machine(specFor({ scenario: 'torture-msleep', bug: null, mode: 'explore' }));
    const V = m.arena.view(TortureLayout);
    const base = raceStateIn(m.arena, 'torture-msleep');
    const turn = (i: number) => V.addrOf(base, (['tt_turn0', 'tt_turn1', 'tt_turn2'] as const)[i]);
    const holds = (wmesg: string, chan: number) => wakeConditionOf(wmesg)!(m.arena, chan);
    V.store(base, 'tt_token', 1);
    expect([0, 1, 2].map((i) => holds(`tttoken${i}`, turn(i)))).to.deep.equal([false, true, false]);
    V.store(base, 'tt_level', 0);
    V.store(base, 'tt_room', 1);
    for (const w of ['tmlevel', 'tslevel']) expect(holds(w, V.addrOf(base, 'tt_level')), w).to.equal(false);
    for (const w of ['tmroom', 'tsroom']) expect(holds(w, V.addrOf(base, 'tt_room')), w).to.equal(true);
    V.store(base, 'tt_level', 1);
    V.store(base, 'tt_room', 0);
    expect(holds('tmlevel', V.addrOf(base, 'tt_level'))).to.equal(true);
    expect(holds('tsroom', V.addrOf(base, 'tt_room'))).to.equal(false);
  });

  it('the stress watchdog sees a cpu let go that still waits: a woken sleeper, a waiter on a free sleep lock', () => {
    const m = new Machine(specFor({ scenario: 'torture-mtx', bug: null, mode: 'stress' }));
    const s = m.sync;
    const base = raceStateIn(m.arena, 'torture-mtx');
    const mtx = TortureLayout.addrOf(base, 'tt_mtx');
    // cpu 0: sleeping, but a waker has cleared its channel; cpu 1: blocked on torture_mtx.
    s.T.store(s.threads.addr(0), 'td_wmesg', s.intern('tmlevel'));
    s.T.store(s.threads.addr(0), 'td_flags', TDF_SLEEPING);
    s.T.store(s.threads.addr(1), 'td_blockaddr', mtx);
    s.L.store(mtx, 'lk_word', 2);
    expect(unwokenWaiters(s, snapshot(s)).map((u) => [u.cpu, u.kind, u.what])).to.deep.equal([[0, 'sleep', 'tmlevel']]);
    s.L.store(mtx, 'lk_word', 0);
    const u = unwokenWaiters(s, snapshot(s));
    expect(u.map((x) => [x.cpu, x.kind])).to.deep.equal([[0, 'sleep'], [1, 'mutex']]);
    expect(u[1].what).to.match(/^torture_mtx@\d+$/);
    // Still sleeping on its channel, or no longer blocked: nothing to report.
    s.T.store(s.threads.addr(0), 'td_wchan', TortureLayout.addrOf(base, 'tt_level'));
    s.T.store(s.threads.addr(1), 'td_blockaddr', 0);
    expect(unwokenWaiters(s, snapshot(s))).to.deep.equal([]);
  });
});

