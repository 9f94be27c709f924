import { expect } from 'chai';
import { type Accounting, type Stall, StallWatch, type ThreadSample, probeAccounting, stallMessage } from '../../src/race/stall.js';
import { hostThreadId, readSchedStat, readThreadStat } from '../../src/sync/hostthread.js';

/**
 * The stall rule alone, fed with made-up samples: a clock that advances 20 ms a sample and the
 * cumulative counters of each cpu's thread. Cpus 0 and 1 are the harness, cpu 2 a daemon.
 */
const STALL = 3000;
const CEILING = 20 * STALL;

/**
 * How each cpu's thread spends every 20 ms: on a CPU, waiting for one, its state letter, and
 * whether the kernel has yet to add the wait to its total (it does so when the wait ends).
 */
type Habit = { cpu: number; wait: number; state: string; unaccounted?: boolean };
const BLOCKED: Habit = { cpu: 0, wait: 0, state: 'S' };
const SPINNING: Habit = { cpu: 20, wait: 0, state: 'R' };
const STARVED: Habit = { cpu: 0, wait: 20, state: 'R' };
/** Starved, and still on the run queue: its counters stand still. */
const QUEUED: Habit = { ...STARVED, unaccounted: true };

class Feed {
  now = 1000;
  progress = 0;
  readonly totals: { cpu: number; wait: number; shown: number }[];
  readonly watch: StallWatch;

  constructor(accounting: Accounting, ncpu = 3) {
    this.watch = new StallWatch({ stallMs: STALL, ceilingMs: CEILING, nharness: 2, accounting, why: 'no /proc here' });
    this.totals = Array.from({ length: ncpu }, () => ({ cpu: 0, wait: 0, shown: 0 }));
    this.watch.observe(this.now, this.progress, this.samples([]));
  }

  private samples(habits: Habit[]): ThreadSample[] {
    const acc = this.watch.accounting;
    return this.totals.map((t, c) => {
      const h = habits[c] ?? BLOCKED;
      if (acc === 'stat') return { cpuMs: Math.floor(t.cpu / 10) * 10, state: h.state }; // whole ticks
      return { cpuMs: t.cpu, waitMs: t.shown, state: h.state };
    });
  }

  /** Run `ms` of wall time with each cpu doing what its habit says; the first hang, or null. */
  run(ms: number, habits: Habit[], progressEvery = 0): Stall | null {
    for (let t = 0; t < ms; t += 20) {
      this.now += 20;
      this.totals.forEach((x, c) => {
        const h = habits[c] ?? BLOCKED;
        x.cpu += h.cpu;
        x.wait += h.wait;
        if (!h.unaccounted) x.shown = x.wait;
      });
      if (progressEvery > 0 && (t / 20) % progressEvery === 0) this.progress++;
      const st = this.watch.observe(this.now, this.progress, this.samples(habits));
      if (st) return st;
    }
    return null;
  }
}

describe('race: the stress watchdog rule (stall.ts)', () => {
  it('a harness the host does not run is no hang, however long; the wall-time ceiling is the last resort', () => {
    const f = new Feed('schedstat');
    expect(f.run(CEILING - 100, [STARVED, STARVED, STARVED])).to.equal(null);
    const st = f.run(200, [STARVED, STARVED, STARVED])!;
    expect(st.rule).to.equal('ceiling');
    expect(st.clearMs).to.equal(0);
    expect(stallMessage(st, f.watch.o, 'nobody asleep')).to.match(/^hang: no harness cpu made progress for 60,0\d\d ms of wall time, the watchdog's last-resort ceiling \(20x the stall time/);
  });

  it('a blocked harness whose daemon waits for a CPU is not blamed for the wait', () => {
    const f = new Feed('schedstat');
    // The harness sleeps in biowait while the device worker is runnable but gets no CPU.
    expect(f.run(10 * STALL, [BLOCKED, BLOCKED, STARVED])).to.equal(null);
  });

  it('every harness cpu blocked while nobody waits for a CPU: a hang after stallMs', () => {
    const f = new Feed('schedstat');
    const st = f.run(2 * STALL, [BLOCKED, BLOCKED, BLOCKED])!;
    expect(st.rule).to.equal('blocked');
    expect(st.clearMs).to.be.at.least(STALL).and.below(STALL + 20);
    expect(stallMessage(st, f.watch.o, 'cpu 1 (x/b) on "swpin"')).to.match(/^hang: every harness cpu has been blocked for 3,0\d\d ms without progress.*\(cpu 1 \(x\/b\) on "swpin"\)$/);
  });

  it('counts only the time nobody waited: half the time starved takes twice the wall time', () => {
    const f = new Feed('schedstat');
    const half: Habit = { cpu: 0, wait: 10, state: 'S' }; // woken, waited 10 ms for a CPU, asleep again
    const st = f.run(4 * STALL, [BLOCKED, BLOCKED, half])!;
    expect(st.rule).to.equal('blocked');
    expect(st.wallMs).to.be.at.least(2 * STALL);
  });

  it('a wait the kernel has not added up yet counts as a wait (a runnable thread whose counters stand still)', () => {
    const f = new Feed('schedstat');
    expect(f.run(10 * STALL, [BLOCKED, BLOCKED, QUEUED])).to.equal(null);
    // The daemon finally runs: its whole wait shows at once, and the harness is no more to blame.
    expect(f.run(STALL / 2, [BLOCKED, BLOCKED, BLOCKED])).to.equal(null);
    const st = f.run(2 * STALL, [BLOCKED, BLOCKED, BLOCKED])!;
    expect(st.rule).to.equal('blocked');
    expect(st.wallMs).to.be.at.least(11 * STALL);
  });

  it('a harness cpu that burns stallMs of CPU without progress is a hang, even on a busy host', () => {
    const f = new Feed('schedstat');
    // It gets a quarter of a CPU: 5 ms of every 20 on a CPU, 15 waiting.
    const st = f.run(10 * STALL, [BLOCKED, { cpu: 5, wait: 15, state: 'R' }, STARVED])!;
    expect(st.rule).to.equal('cpu');
    expect(st.cpuMs[1]).to.be.at.least(STALL);
    expect(st.wallMs).to.be.at.least(4 * STALL);
    expect(stallMessage(st, f.watch.o, 'nobody asleep')).to.match(/^hang: harness cpus used 3,0\d\d ms of CPU without progress \(cpu 0 0 ms, cpu 1 3,0\d\d ms;/);
  });

  it('progress starts the count again', () => {
    const f = new Feed('schedstat');
    expect(f.run(5 * STALL, [BLOCKED, SPINNING, BLOCKED], 100)).to.equal(null);
    expect(f.run(5 * STALL, [BLOCKED, BLOCKED, BLOCKED], 100)).to.equal(null);
    expect(f.run(2 * STALL, [BLOCKED, BLOCKED, BLOCKED])?.rule).to.equal('blocked');
  });

  it('stat accounting: state letters and clock ticks, with the same verdicts', () => {
    expect(new Feed('stat').run(10 * STALL, [BLOCKED, BLOCKED, STARVED])).to.equal(null);
    expect(new Feed('stat').run(10 * STALL, [STARVED, STARVED, BLOCKED])).to.equal(null);
    expect(new Feed('stat').run(10 * STALL, [BLOCKED, BLOCKED, QUEUED])).to.equal(null);
    expect(new Feed('stat').run(2 * STALL, [BLOCKED, BLOCKED, BLOCKED])?.rule).to.equal('blocked');
    expect(new Feed('stat').run(2 * STALL, [BLOCKED, SPINNING, BLOCKED])?.rule).to.equal('cpu');
  });

  it('wall accounting (no /proc): the old rule, and the message says so', () => {
    const f = new Feed('wall');
    const st = f.run(2 * STALL, [STARVED, STARVED, STARVED])!;
    expect(st.rule).to.equal('wall');
    expect(stallMessage(st, f.watch.o, 'nobody asleep')).to.match(/^hang: no harness cpu made progress for 3,0\d\d ms of wall time \(wall time only: no \/proc here/);
  });

  it('rejects a ceiling below the stall time', () => {
    expect(() => new StallWatch({ stallMs: 3000, ceilingMs: 1000, nharness: 1, accounting: 'wall' })).to.throw(/ceilingMs \(1000\) >= stallMs/);
  });

  it('reads this thread from the host where the host tells (Linux)', function () {
    const tid = hostThreadId();
    if (tid === 0) this.skip();
    const a = readSchedStat(tid);
    const b = readThreadStat(tid);
    expect(b, 'stat').to.not.equal(null);
    expect(b!.state).to.equal('R'); // it is running: it reads itself
    expect(b!.cpuMs).to.be.at.least(0);
    if (a !== null) expect(a.cpuMs).to.be.above(0);
    expect(probeAccounting([tid], 1).accounting).to.equal(a !== null && a.cpuMs > 0 ? 'schedstat' : 'stat');
    expect(probeAccounting([0, tid], 1)).to.deep.equal({ accounting: 'wall', why: 'the host gives no thread ids (no /proc/thread-self)' });
    expect(readThreadStat(0x7ffffff0)).to.equal(null);
  });
});
