import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { labChannel, labWords } from '../../workers/lab.js';
import { Machine } from '../../src/engine/machine.js';
import { ENOLCK, EWOULDBLOCK } from '../../src/sync/errno.js';
import { lockTable } from '../../src/sync/snapshot.js';

describe('sync: locks', () => {
  it('spinlock and sleep lock exclude: 4 workers on 2 cores, plain counters come out exact', async () => {
    const m = new Machine({ ncpu: 4, lab: true });
    const iters = 100_000;
    await m.run(
      [
        { role: 'lab:count-spin', args: { iters, work: 5 }, count: 2 },
        { role: 'lab:count-mtx', args: { iters, work: 5 }, count: 2 },
      ],
      { timeoutMs: 90_000 },
    );
    const w = labWords(m.arena);
    expect(w.spincount).to.equal(2 * iters);
    expect(w.mtxcount).to.equal(2 * iters);
    const table = lockTable(m.sync);
    const spin = table.find((t) => t.className === 'lab_spin')!;
    const mtx = table.find((t) => t.className === 'lab_mtx')!;
    expect(spin.acquisitions).to.equal(2 * iters);
    expect(mtx.acquisitions).to.equal(2 * iters);
    expect(spin.contended).to.be.at.most(spin.acquisitions);
    expect(mtx.sleeps).to.be.at.least(0);
  });

  it('each lock kind alone excludes 4 workers', async () => {
    for (const role of ['lab:count-spin', 'lab:count-mtx']) {
      const m = new Machine({ ncpu: 4, lab: true });
      await m.run([{ role, args: { iters: 50_000 }, count: 4 }], { timeoutMs: 90_000 });
      const w = labWords(m.arena);
      expect(role.endsWith('spin') ? w.spincount : w.mtxcount, role).to.equal(200_000);
    }
  });

  it('spinlock shared mode: two cpus hold it shared at once; an exclusive trylock fails meanwhile, and a wrong unlock names the holders', async () => {
    const m = new Machine({ ncpu: 2, lab: true });
    const [a, b] = await m.run(
      [
        { role: 'lab:hold-shared', args: { n: 2, probe: true } },
        { role: 'lab:hold-shared', args: { n: 2 } },
      ],
      { timeoutMs: 60_000 },
    );
    const p = a.value as Record<string, unknown>;
    const q = b.value as Record<string, unknown>;
    for (const r of [p, q]) expect(r).to.include({ together: true, sharedCount: 2 });
    expect(p.exclusiveTrylock).to.equal(false);
    expect(p.unlockError).to.match(/^spin_unlock: lab_spin@\d+ is held shared by 2 cpu\(s\), not by cpu \d \(the caller\)$/);
    for (const r of [p, q]) expect(r.secondUnlockError).to.match(/^spin_unlock_shared: lab_spin@\d+ is (held shared by 1 cpu\(s\)|not held by anyone), not held shared by cpu \d \(the caller\)$/);
    const spin = labChannel(m.arena, 'spin');
    expect(m.sync.lock_busy(spin)).to.equal(false);
    expect(lockTable(m.sync).find((t) => t.className === 'lab_spin')!.acquisitions).to.equal(2);
  });

  it('spinlock shared mode excludes both ways: 2 writers and 2 readers on 2 cores, the plain counter exact, no reader sees a writer inside', async () => {
    const m = new Machine({ ncpu: 4, lab: true });
    const iters = 50_000;
    const res = await m.run(
      [
        { role: 'lab:count-rw', args: { iters, side: 'writer', work: 5 }, count: 2 },
        { role: 'lab:count-rw', args: { iters, side: 'reader', work: 5 }, count: 2 },
      ],
      { timeoutMs: 90_000 },
    );
    for (const r of res) expect((r.value as { violations: number }).violations).to.equal(0);
    expect(labWords(m.arena).spincount).to.equal(2 * iters);
    const spin = lockTable(m.sync).find((t) => t.className === 'lab_spin')!;
    // Shared acquisitions are counted atomically beside each other: none is lost.
    expect(spin.acquisitions).to.equal(4 * iters);
    expect(spin.contended).to.be.at.most(spin.acquisitions);
  });

  it('lock_sleepfail sleeps until the lock is released, returns ENOLCK without it, and leaves no other waiter asleep', async () => {
    const m = new Machine({ ncpu: 3, lab: true });
    const res = await m.run(
      [
        { role: 'lab:sleepfail', args: { part: 'holder' } },
        { role: 'lab:sleepfail', args: { part: 'sleeper' } },
        { role: 'lab:sleepfail', args: { part: 'locker' } },
      ],
      { timeoutMs: 30_000 },
    );
    expect(res.map((r) => r.value)).to.deep.equal([{ bothAsleep: true }, { r: ENOLCK, held: false }, { locked: true }]);
    expect(m.sync.lock_busy(labChannel(m.arena, 'mtx'))).to.equal(false);
  });

  it('try-lock fails and the timed lock returns EWOULDBLOCK while held; unlock by a non-owner names both', async () => {
    const m = new Machine({ ncpu: 2, lab: true });
    const [, probe] = await m.run([{ role: 'lab:hold' }, { role: 'lab:try-timed' }], { timeoutMs: 30_000 });
    const r = probe.value as Record<string, unknown>;
    expect(r.trylockWhileHeld).to.equal(false);
    expect(r.spinTrylockWhileHeld).to.equal(false);
    expect(r.timedWhileHeld).to.equal(EWOULDBLOCK);
    expect(r.unlockError).to.match(/unlock: lab_mtx@\d+ is held by cpu 0, not by cpu 1 \(the caller\)/);
    expect(r.owner).to.equal(0);
    expect(r.timedAfterRelease).to.equal(0);
    expect(r.held).to.equal(true);
    expect(r.spinTrylockAfter).to.equal(true);
  });
});

describe('sync: the lock registry', () => {
  it('is threaded through the locks: each lock once, in the order of its first init, a re-init keeps its one link, and no region of its own', () => {
    const m = new Machine({ ncpu: 2, lab: true, devices: [{ name: 'md0', blocks: 256 }], bufcache: { nbuf: 32, files: 2, fileBlocks: 8, bsize: 4096 } });
    const s = m.sync;
    const locks = s.registeredLocks();
    expect(new Set(locks).size, 'no lock twice').to.equal(locks.length);
    const classes = locks.map((lk) => s.nameOf(s.L.load(lk, 'lk_class')));
    expect(classes[0], 'the first lock Sync.init makes').to.equal('names');
    expect(classes.filter((c) => c === 'buf'), 'nbuf + 2 headers').to.have.length(34);
    expect(classes.filter((c) => c === 'v_token')).to.have.length(2);
    expect(classes.filter((c) => c === 'bufpcpu')).to.have.length(2);
    expect(m.arena.hasRegion('sync.lockreg'), 'no registry region').to.equal(false);
    // A re-init of an idle lock resets it and keeps its single registration.
    const buf = locks[classes.indexOf('buf')];
    s.lock(buf);
    s.unlock(buf);
    s.lock_init(buf, 'buf_again', 2);
    const after = s.registeredLocks();
    expect(after).to.deep.equal(locks);
    expect(s.nameOf(s.L.load(buf, 'lk_class'))).to.equal('buf_again');
    expect(lockTable(s).find((t) => t.className === 'buf_again')!.acquisitions, 'reset').to.equal(0);
  });

  it('names a broken link instead of walking into the weeds', () => {
    const m = new Machine({ ncpu: 1, lab: true });
    const s = m.sync;
    const locks = s.registeredLocks();
    const last = locks[locks.length - 1];
    s.L.store(last, 'lk_next', 7); // a link no lock can have (not word aligned)
    expect(() => s.registeredLocks()).to.throw(/lock registry: a link points outside the arena \(7\)/);
  });
});
