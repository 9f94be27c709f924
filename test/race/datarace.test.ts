/**
 * The happens-before data-race detector (src/race/datarace.ts) on hand-made event logs: what
 * orders two accesses (a lock, a wakeup, an atomic) and what does not.
 */
import { expect } from 'chai';
import { findDataRace } from '../../src/race/datarace.js';
import { Point } from '../../src/sync/hooks.js';

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

  it('happens-before is transitive across three cpus', () => {
    const log = [ev(0, Point.WRITE, X), ev(0, Point.MTX_UNLOCK, LK), ev(1, Point.MTX_LOCKED, LK), ev(1, Point.WAKEUP, CH), ev(2, Point.SLEEP_WOKE, CH), ev(2, Point.WRITE, X)];
    expect(findDataRace(log, 3)).to.equal(null);
  });

  it('byte ranges (page data) race on overlapping 64-byte blocks only', () => {
    expect(findDataRace([ev(0, Point.WRITE_RANGE, 4096, 4096), ev(1, Point.READ_RANGE, 8000, 64)], 2)).to.deep.include({ addr: 8000, range: true });
    expect(findDataRace([ev(0, Point.WRITE_RANGE, 4096, 4096), ev(1, Point.READ_RANGE, 8192, 4096)], 2)).to.equal(null);
  });
});
