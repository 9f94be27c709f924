/**
 * The happens-before data-race detector (src/race/datarace.ts) on hand-made event logs: what
 * orders two accesses (a lock, a wakeup, an atomic) and what does not.
 */
import '../../workers/index.js'; // kiolab's own roles
import './datarace-fixture.js'; // dr-counter, dr-counter-racy (a worker module)
import { expect } from 'chai';
import { findDataRace } from '../../src/race/datarace.js';
import { replayTimes } from '../../src/race/replay.js';
import { runRace } from '../../src/race/runner.js';
import { PT_SHARED, Point } from '../../src/sync/hooks.js';

const X = 4096; // a word
const Y = 8192; // another word
const LK = 64; // a lock
const CH = 128; // a sleep channel
const F = 256; // an atomic flag
const ev = (cpu: number, point: Point, addr: number, bytes = 4) => [cpu, point, addr, bytes];

describe('race: the data-race detector', () => {
  it('two plain writes of one word by two cpus with nothing between them race; the report names both', () => {
    const r = findDataRace([ev(0, Point.WRITE, X), ev(1, Point.WRITE, X)], 2);
    expect(r).to.deep.equal({ addr: X, range: false, first: { cpu: 0, kind: 'write', event: 0 }, second: { cpu: 1, kind: 'write', event: 1 } });
  });

  it('a plain write and a plain read race, in either order; two reads do not', () => {
    expect(findDataRace([ev(0, Point.WRITE, X), ev(1, Point.READ, X)], 2)?.second.kind).to.equal('read');
    expect(findDataRace([ev(1, Point.READ, X), ev(0, Point.WRITE, X)], 2)?.first.kind).to.equal('read');
    expect(findDataRace([ev(0, Point.READ, X), ev(1, Point.READ, X)], 2)).to.equal(null);
  });

  it('different words, or one cpu alone, never race', () => {
    expect(findDataRace([ev(0, Point.WRITE, X), ev(1, Point.WRITE, Y)], 2)).to.equal(null);
    expect(findDataRace([ev(0, Point.WRITE, X), ev(0, Point.READ, X), ev(0, Point.WRITE, X)], 2)).to.equal(null);
  });

  it('a lock orders them: unlock, then lock of the same lock (spin or sleep lock)', () => {
    for (const [locked, unlock] of [[Point.MTX_LOCKED, Point.MTX_UNLOCK], [Point.SPIN_LOCKED, Point.SPIN_UNLOCK]]) {
      const log = [ev(0, locked, LK), ev(0, Point.WRITE, X), ev(0, unlock, LK), ev(1, locked, LK), ev(1, Point.WRITE, X), ev(1, unlock, LK)];
      expect(findDataRace(log, 2)).to.equal(null);
    }
    // ... but another lock does not.
    const other = [ev(0, Point.MTX_LOCKED, LK), ev(0, Point.WRITE, X), ev(0, Point.MTX_UNLOCK, LK), ev(1, Point.MTX_LOCKED, LK + 4), ev(1, Point.WRITE, X)];
    expect(findDataRace(other, 2)).to.not.equal(null);
  });

  it('a spinlock held shared orders like a reader-writer lock: exclusive and shared holders are ordered, two shared holders are not', () => {
    const sh = (cpu: number, point: Point) => ev(cpu, point, LK, PT_SHARED);
    // exclusive writer, then a shared reader; shared reader, then an exclusive writer
    const wr = [ev(0, Point.SPIN_LOCKED, LK, 0), ev(0, Point.WRITE, X), ev(0, Point.SPIN_UNLOCK, LK, 0), sh(1, Point.SPIN_LOCKED), ev(1, Point.READ, X), sh(1, Point.SPIN_UNLOCK)];
    expect(findDataRace(wr, 2)).to.equal(null);
    const rw = [sh(0, Point.SPIN_LOCKED), ev(0, Point.READ, X), sh(0, Point.SPIN_UNLOCK), ev(1, Point.SPIN_LOCKED, LK, 0), ev(1, Point.WRITE, X), ev(1, Point.SPIN_UNLOCK, LK, 0)];
    expect(findDataRace(rw, 2)).to.equal(null);
    // Two shared holders may be inside at once: a write under the shared mode races.
    const rr = [sh(0, Point.SPIN_LOCKED), ev(0, Point.WRITE, X), sh(0, Point.SPIN_UNLOCK), sh(1, Point.SPIN_LOCKED), ev(1, Point.READ, X), sh(1, Point.SPIN_UNLOCK)];
    expect(findDataRace(rr, 2)).to.deep.include({ addr: X });
  });

  it('a wakeup orders what came before it with what the woken sleeper does after', () => {
    const log = [ev(0, Point.WRITE, X), ev(0, Point.WAKEUP, CH), ev(1, Point.SLEEP_WOKE, CH), ev(1, Point.READ, X)];
    expect(findDataRace(log, 2)).to.equal(null);
    const early = [ev(0, Point.WAKEUP, CH), ev(0, Point.WRITE, X), ev(1, Point.SLEEP_WOKE, CH), ev(1, Point.READ, X)];
    expect(findDataRace(early, 2)).to.not.equal(null);
  });

  it('an atomic write orders what came before it with what follows a later atomic read of the word (message passing)', () => {
    const log = [ev(0, Point.WRITE, X), ev(0, Point.ATOMIC_WRITE, F), ev(1, Point.ATOMIC_READ, F), ev(1, Point.READ, X)];
    expect(findDataRace(log, 2)).to.equal(null);
    const cas = [ev(0, Point.WRITE, X), ev(0, Point.ATOMIC_RMW, F), ev(1, Point.ATOMIC_RMW, F), ev(1, Point.WRITE, X)];
    expect(findDataRace(cas, 2)).to.equal(null);
    // The flag published before the data is the bug: the reader is not ordered after the write.
    const early = [ev(0, Point.ATOMIC_WRITE, F), ev(0, Point.WRITE, X), ev(1, Point.ATOMIC_READ, F), ev(1, Point.READ, X)];
    expect(findDataRace(early, 2)?.addr).to.equal(X);
  });

  it('two atomics never race; an atomic write and a plain read do', () => {
    expect(findDataRace([ev(0, Point.ATOMIC_WRITE, X), ev(1, Point.ATOMIC_RMW, X)], 2)).to.equal(null);
    expect(findDataRace([ev(0, Point.ATOMIC_WRITE, X), ev(1, Point.READ, X)], 2)?.first.kind).to.equal('atomic_write');
  });

  it('a peek (relaxed read) does not race with atomic writes, races with a plain write, and orders nothing after it', () => {
    expect(findDataRace([ev(0, Point.ATOMIC_RMW, F), ev(1, Point.PEEK, F)], 2)).to.equal(null);
    expect(findDataRace([ev(0, Point.WRITE, F), ev(1, Point.PEEK, F)], 2)?.second.kind).to.equal('peek');
    // Message passing through a peek is no message passing: the data read after it races.
    const relaxed = [ev(0, Point.WRITE, X), ev(0, Point.ATOMIC_WRITE, F), ev(1, Point.PEEK, F), ev(1, Point.READ, X)];
    expect(findDataRace(relaxed, 2)?.addr).to.equal(X);
  });

  it('happens-before is transitive across three cpus', () => {
    const log = [ev(0, Point.WRITE, X), ev(0, Point.MTX_UNLOCK, LK), ev(1, Point.MTX_LOCKED, LK), ev(1, Point.WAKEUP, CH), ev(2, Point.SLEEP_WOKE, CH), ev(2, Point.WRITE, X)];
    expect(findDataRace(log, 3)).to.equal(null);
  });

  it('byte ranges (page data) race on overlapping 64-byte blocks only', () => {
    expect(findDataRace([ev(0, Point.WRITE_RANGE, 4096, 4096), ev(1, Point.READ_RANGE, 8000, 64)], 2)).to.deep.include({ addr: 8000, range: true });
    expect(findDataRace([ev(0, Point.WRITE_RANGE, 4096, 4096), ev(1, Point.READ_RANGE, 8192, 4096)], 2)).to.equal(null);
  });
});

describe('race: the data-race detector in a run (--detect race)', function () {
  this.timeout(120_000);

  it('names an update outside its lock, both sides, with the code site of each (explore)', async () => {
    const r = await runRace({ scenario: 'dr-counter-racy', bug: null, mode: 'explore', seed: 1, budgetMs: 30_000, detect: ['race'] });
    expect(r.failure?.kind, r.failure?.message).to.equal('data-race');
    const race = r.failure!.race as { what: string; first: { cpu: number; kind: string; site?: string }; second: { cpu: number; kind: string; site?: string } };
    expect(race.what).to.match(/dr_count$/);
    expect([race.first.cpu, race.second.cpu].sort()).to.deep.equal([0, 1]);
    // Part b's unlocked update is one side; the other is part a's locked one (or b's own write after a's read).
    const sites = [race.first.site, race.second.site].join(' | ');
    expect(sites, r.failure!.message).to.match(/addUnlocked \(test\/race\/datarace-fixture\.ts:\d+\)/);
    expect(r.failure!.message).to.match(/data race on .*dr_count: cpu \d \(dr-counter-racy\/[ab]\) (read|write) \(event \d+\) and cpu \d/);
    expect(r.failure!.message).to.match(/\n {2}first: {2}\S+ \(test\/race\/datarace-fixture\.ts:\d+\)/).and.match(/\n {2}second: \S+ \(test\/race\/datarace-fixture\.ts:\d+\)/);
    // The failure replays, and the replay finds the same race.
    const rp = await replayTimes(r.replay!, 3);
    expect(rp.reproduced, rp.misses.join(' | ')).to.equal(3);
  });

  it('bounded mode names it too, in its first schedules', async () => {
    const r = await runRace({ scenario: 'dr-counter-racy', bug: null, mode: 'bounded', preemptions: 1, seed: 1, budgetMs: 30_000, detect: ['race'] });
    expect(r.failure?.kind, r.failure?.message).to.equal('data-race');
    expect(r.failure!.message).to.match(/first: .*datarace-fixture\.ts/);
  });

  it('the same counter under its lock is clean: every schedule with <= 2 preemptions, and explore', async () => {
    const b = await runRace({ scenario: 'dr-counter', bug: null, mode: 'bounded', preemptions: 2, seed: 1, budgetMs: 60_000, detect: ['race'] });
    expect(b.failure, b.failure?.message).to.equal(null);
    expect(b.bounded?.complete, 'all schedules covered').to.equal(true);
    const e = await runRace({ scenario: 'dr-counter', bug: null, mode: 'explore', seed: 2, budgetMs: 60_000, iterations: 300, detect: ['race'] });
    expect(e.failure, e.failure?.message).to.equal(null);
  });

  it('clean runs of kiolab scenarios report no data race', async () => {
    for (const scenario of ['biowait', 'bc-teardown', 'getblk-recycle', 'flushbufqueues', 'swap-xfer', 'torture-sleep']) {
      const r = await runRace({ scenario, bug: null, mode: 'explore', seed: 4, budgetMs: 60_000, iterations: 30, detect: ['race'] });
      expect(r.failure, `${scenario}: ${r.failure?.message}`).to.equal(null);
    }
  });

  it('stress names it too, with both code sites, although the cpus run at once', async () => {
    const r = await runRace({ scenario: 'dr-counter-racy', bug: null, mode: 'stress', seed: 1, budgetMs: 60_000, detect: ['race'] });
    expect(r.failure?.kind, r.failure?.message).to.equal('data-race');
    const race = r.failure!.race as { what: string; first: { cpu: number; site?: string }; second: { cpu: number; site?: string } };
    expect(race.what).to.match(/dr_count$/);
    expect([race.first.cpu, race.second.cpu].sort()).to.deep.equal([0, 1]);
    expect([race.first.site, race.second.site].join(' | '), r.failure!.message).to.match(/addUnlocked \(test\/race\/datarace-fixture\.ts:\d+\)/);
    expect(r.failure!.message).to.match(/stress cannot replay the iteration/);
    expect(r.replay).to.equal(null);
  });

  it('clean stress runs report no data race (the log order respects happens-before)', async () => {
    for (const scenario of ['dr-counter', 'biowait', 'bc-write', 'flushbufqueues', 'swap-start', 'torture-msleep']) {
      const r = await runRace({ scenario, bug: null, mode: 'stress', seed: 5, budgetMs: 4000, iterations: 150, detect: ['race'] });
      expect(r.failure, `${scenario}: ${r.failure?.message}`).to.equal(null);
    }
  });

  it('is refused in check mode, saying why', async () => {
    let err: Error | null = null;
    try {
      await runRace({ scenario: 'dr-counter', bug: null, mode: 'check', seed: 1, budgetMs: 1000, detect: ['race'] });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/--detect race needs a race mode/);
  });
});
