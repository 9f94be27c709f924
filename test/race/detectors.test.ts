import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { Arena, ArenaPlan } from '../../src/shm/arena.js';
import { assertLive, isPoisoned, poison } from '../../src/race/detect.js';
import { runRace } from '../../src/race/runner.js';

describe('race: detectors on synthetic cases', () => {
  it('reports a lock-order reversal although nothing hangs (stress and explore)', async () => {
    for (const mode of ['stress', 'explore'] as const) {
      const r = await runRace({ scenario: 'synthetic-lor', bug: null, mode, seed: 3, budgetMs: 20_000, iterations: 50 });
      expect(r.failure?.kind, mode).to.equal('lock-order');
      expect(r.failure!.message).to.match(/syn_a@\d+ -> syn_b@\d+ \(cpu 0\) and syn_b@\d+ -> syn_a@\d+ \(cpu 1\)/);
    }
  });

  it('finds the ABBA deadlock of two workers, with the wait-for cycle and the locks held', async () => {
    const r = await runRace({ scenario: 'synthetic-deadlock', bug: null, mode: 'explore', seed: 1, budgetMs: 20_000, iterations: 500 });
    expect(r.failure?.kind).to.equal('deadlock');
    expect(r.failure!.cpus).to.have.members([0, 1]);
    expect(r.failure!.message).to.match(/waits for syn_b@\d+ held by cpu 1/).and.match(/waits for syn_a@\d+ held by cpu 0/);
    expect(r.failure!.held.map((h) => h.className)).to.include.members(['syn_a', 'syn_b']);
  });

  it('finds a lost wakeup, naming the channel and the wait message', async () => {
    const r = await runRace({ scenario: 'synthetic-lost-wakeup', bug: null, mode: 'explore', seed: 1, budgetMs: 20_000, iterations: 500 });
    expect(r.failure?.kind).to.equal('lost-wakeup');
    expect(r.failure!.message).to.match(/sleeps on "synflag" \(channel \d+\)/);
    expect(r.failure!.sleepers.map((s) => s.wmesg)).to.include('synflag');
  });

  it('names the lock a dying worker held (owner death)', async () => {
    const r = await runRace({ scenario: 'synthetic-owner-death', bug: null, mode: 'explore', seed: 1, budgetMs: 20_000, iterations: 10 });
    expect(r.failure?.kind).to.equal('owner-death');
    expect(r.failure!.message).to.match(/died holding syn_a@\d+ \(mutex\).*dies on purpose/);
    expect(r.failure!.iteration).to.equal(2);
  });

  it('poisons freed structs and catches a use after free', () => {
    const plan = new ArenaPlan().bytes('x', 4096, 64);
    const arena = Arena.create(plan);
    const a = arena.region('x').offset;
    expect(isPoisoned(arena, a)).to.equal(false);
    assertLive(arena, a, 'extent 3');
    poison(arena, a, 64);
    expect(isPoisoned(arena, a)).to.equal(true);
    expect(() => assertLive(arena, a, 'extent 3')).to.throw(/use after free: extent 3 at \d+ is poisoned/);
  });
});
