import { expect } from 'chai';
import { runMatrix } from '../../src/race/matrix.js';
import type { MatrixRow } from '../../src/race/report.js';

/**
 * CI's short matrix: one fast switch per subsystem (bio, bufcache, BootCache, swap) in explore
 * mode, each detected and replayed 10 times out of 10, and clean runs of their scenarios that
 * report nothing. Two halves run side by side (explore is deterministic per run, so sharing the
 * host's two cores changes no outcome).
 */
describe('race: the CI matrix over a subset of switches', function () {
  this.timeout(120_000);

  it('detects and replays each switch, and the clean runs report nothing', async () => {
    const halves = [
      ['vfs-biowait-no-interlock', 'swap-vx-busy-missing'],
      ['vfs-bdwait-no-recheck', 'bc-history-no-recheck'],
    ];
    const rows: MatrixRow[] = (
      await Promise.all(halves.map((bugs) => runMatrix({ bugs, modes: ['explore'], budgetMs: 20_000, cleanBudgetMs: 1000, seed: 9, replays: 10 })))
    ).flat();
    const show = JSON.stringify(rows, null, 1);
    for (const bug of halves.flat()) {
      const r = rows.find((x) => x.bug === bug);
      expect(r, `${bug} ran: ${show}`).to.not.equal(undefined);
      expect(r!.detected, `${bug} detected: ${show}`).to.equal(true);
      expect(r!.replayed, `${bug} replayed: ${show}`).to.equal('10/10');
      expect(r!.ok).to.equal(true);
    }
    const clean = rows.filter((x) => x.bug === null);
    expect(clean.map((x) => x.scenario).sort()).to.deep.equal(['bc-history', 'bdwait', 'biowait', 'swap-xfer']);
    for (const c of clean) expect(c.detected, `clean ${c.scenario}: ${c.kind}`).to.equal(false);
    expect(clean.every((c) => c.iterations > 0)).to.equal(true);
  });
});
