/**
 * The stress watchdog's stall rule: when is "no harness cpu made progress" a hang?
 *
 * Wall time alone cannot say. On a loaded host (a load average of 8 on 2 cores) a runnable worker
 * may get no CPU for seconds, and the workers of a new machine may need most of the old 3 s
 * window just to load their code. So the watch starts only once the machine has started (every
 * worker attached), and it measures the time since the last progress with the host scheduler's
 * accounting of each cpu's thread (`src/sync/hostthread.ts`; every worker publishes its host
 * thread id in `td_tid`):
 *
 *  - **cpu**: the harness cpus used `stallMs` of CPU time without progress. They had the CPU and
 *    spun or livelocked with it.
 *  - **clear time**: time counts against the harness only while no cpu of the machine (harness,
 *    daemons, checker) was waiting for a host CPU, counted as the wall time since the last
 *    progress less the sum of every thread's run-queue waits in it (a lower bound: waits overlap).
 *    When the harness cpus made no progress for `stallMs` of such time, they were blocked (or
 *    busy) with everything they could wait for free to run: that is a hang, named by what the
 *    harness cpus did meanwhile (on a CPU half of it or more: the cpu kind; under a tenth:
 *    "blocked"). A thread the host does not run adds nothing, so a loaded host causes no false
 *    hang, however long it delays the machine. The kernel adds a wait to a thread's total only
 *    when the wait ends; a thread that is not asleep and whose counters stand still counts as
 *    waiting since they last moved.
 *  - **ceiling**: the last resort, `ceilingMs` (20x `stallMs`) of wall time without progress.
 *
 * Accounting, best first: `schedstat` (exact CPU and run-queue times); `stat` (Linux without
 * scheduler statistics: CPU time in clock ticks and the state letter; an interval between two
 * samples is clear only when every thread of the machine was asleep, S or D, at both its ends);
 * `wall` (no /proc: the old rule, wall time since the machine started, and the message says so).
 *
 * `StallWatch` is the rule alone, fed with samples, so that it can be tested without a host.
 */
import { readSchedStat, readThreadStat } from '../sync/hostthread.js';

export type Accounting = 'schedstat' | 'stat' | 'wall';

/** One cpu's host thread at one sample: cumulative CPU (and run-queue wait) ms, and its state letter (stat). */
export interface ThreadSample {
  cpuMs: number;
  /** Cumulative time runnable but not running, ms (schedstat only). */
  waitMs?: number;
  /** R (running or runnable), S, D (asleep), ... */
  state?: string;
}

export interface StallOptions {
  /** No progress for this much CPU time, or clear time, is a hang (ms). */
  stallMs: number;
  /** No progress for this much wall time is a hang whatever the accounting says (ms). */
  ceilingMs: number;
  /** Harness cpus are cpus [0, nharness). */
  nharness: number;
  accounting: Accounting;
  /** Why the accounting is `wall` (for the message). */
  why?: string;
}

export type StallRule = 'cpu' | 'blocked' | 'clear' | 'ceiling' | 'wall';

export interface Stall {
  rule: StallRule;
  /** Wall time since the last progress (or since the watch began), ms. */
  wallMs: number;
  /** Of it, time in which no cpu of the machine waited for a host CPU (a lower bound), ms. */
  clearMs: number;
  /** CPU time each harness cpu used since the last progress, ms. */
  cpuMs: number[];
  /** The least time any harness cpu spent blocked since the last progress (a lower bound), ms. */
  blockedMs: number;
}

const asleep = (state: string | undefined): boolean => state === 'S' || state === 'D';

/** One cpu's thread over the current window: its first and last sample, and since when it may have been waiting. */
interface Track {
  first: ThreadSample | null;
  last: ThreadSample | null;
  /** The last sample at which its counters moved or it was not runnable. */
  ref: number;
}

/** The stall rule over a stream of samples (the monitor feeds one every 20 ms). */
export class StallWatch {
  private progress = Number.NaN;
  private since = 0;
  private at = 0;
  private tracks: Track[] = [];
  /** stat: time in which every thread of the machine was asleep at both ends of an interval. */
  private asleepMs = 0;

  constructor(readonly o: StallOptions) {
    if (!(o.stallMs > 0) || !(o.ceilingMs >= o.stallMs)) throw new RangeError(`stall watch: stallMs (${o.stallMs}) must be > 0 and ceilingMs (${o.ceilingMs}) >= stallMs`);
    if (!Number.isInteger(o.nharness) || o.nharness < 1) throw new RangeError(`stall watch: nharness must be a positive integer, got ${o.nharness}`);
  }

  get accounting(): Accounting {
    return this.o.accounting;
  }

  /**
   * One sample: the wall clock (ms), the harness cpus' progress count, and every cpu's thread
   * (index = cpu; null for a thread that is gone or cannot be read; ignored under `wall`).
   * Returns the stall once it is a hang, else null.
   */
  observe(now: number, progress: number, threads: (ThreadSample | null)[]): Stall | null {
    if (progress !== this.progress) {
      this.progress = progress;
      this.since = now;
      this.at = now;
      this.asleepMs = 0;
      this.tracks = threads.map((t) => ({ first: t, last: t, ref: now }));
      return null;
    }
    if (now > this.at) {
      if (this.o.accounting === 'stat') {
        // Clear only when every thread was asleep at both ends: a thread seen runnable may have waited.
        const prev = this.tracks.map((t) => t.last);
        const all = Math.max(prev.length, threads.length);
        let quiet = true;
        for (let c = 0; c < all && quiet; c++) {
          const a = prev[c] ?? null;
          const b = threads[c] ?? null;
          quiet = (!a || asleep(a.state)) && (!b || asleep(b.state));
        }
        if (quiet) this.asleepMs += now - this.at;
      }
      for (let c = 0; c < threads.length; c++) {
        const t = (this.tracks[c] ??= { first: null, last: null, ref: now });
        const b = threads[c] ?? null;
        if (b === null) {
          t.ref = now; // gone: it can neither run nor wait
          continue;
        }
        t.first ??= b;
        const moved = t.last === null || b.cpuMs !== t.last.cpuMs || (b.waitMs ?? 0) !== (t.last.waitMs ?? 0);
        if (moved || asleep(b.state)) t.ref = now;
        t.last = b;
      }
      this.at = now;
    }
    return this.verdict(now);
  }

  private verdict(now: number): Stall | null {
    const { stallMs, ceilingMs, accounting, nharness } = this.o;
    const wallMs = now - this.since;
    const cpuMs = new Array<number>(nharness).fill(0);
    const blocked = new Array<number>(nharness).fill(wallMs);
    let waited = 0;
    this.tracks.forEach((t, c) => {
      const used = t.first && t.last ? t.last.cpuMs - t.first.cpuMs : 0;
      // The kernel adds a run-queue wait to the thread's total only when the wait ends: a thread
      // that is not asleep and whose counters stood still since `ref` may be waiting all along.
      const pending = t.last !== null && !asleep(t.last.state) ? now - t.ref : 0;
      const wait = (t.first && t.last ? (t.last.waitMs ?? 0) - (t.first.waitMs ?? 0) : 0) + pending;
      waited += wait;
      if (c < nharness) {
        cpuMs[c] = used;
        blocked[c] = Math.max(0, wallMs - used - wait);
      }
    });
    const clearMs = accounting === 'wall' ? wallMs : accounting === 'stat' ? this.asleepMs : Math.max(0, wallMs - waited);
    const st = (rule: StallRule): Stall => ({ rule, wallMs, clearMs, cpuMs, blockedMs: accounting === 'schedstat' ? Math.min(...blocked) : accounting === 'stat' ? clearMs : 0 });
    if (accounting === 'wall') return clearMs >= stallMs ? st('wall') : null;
    const used = cpuMs.reduce((x, y) => x + y, 0);
    const spun = used >= stallMs;
    if (spun || clearMs >= stallMs) {
      // Named by what the harness did meanwhile: mostly on a CPU, next to never, or some of both.
      return st(spun || used >= clearMs / 2 ? 'cpu' : used < clearMs / 10 ? 'blocked' : 'clear');
    }
    if (wallMs >= ceilingMs) return st('ceiling');
    return null;
  }
}

const ms = (x: number): string => `${Math.round(x).toLocaleString('en-US')} ms`;

/** The hang message for a stall: which signal fired, what the harness cpus did, and `context` (who sleeps on what). */
export function stallMessage(s: Stall, o: StallOptions, context: string): string {
  const used = s.cpuMs.reduce((x, y) => x + y, 0);
  const perCpu = s.cpuMs.map((x, c) => `cpu ${c} ${ms(x)}`).join(', ');
  switch (s.rule) {
    case 'cpu':
      return `hang: harness cpus used ${ms(used)} of CPU without progress (${perCpu}; ${ms(s.wallMs)} of wall time; ${context})`;
    case 'blocked':
      return `hang: every harness cpu has been blocked for ${ms(s.blockedMs)} without progress, while no cpu of the machine waited for a host CPU for ${ms(s.clearMs)} of it (${context})`;
    case 'clear':
      return `hang: no harness cpu made progress in ${ms(s.clearMs)} during which no cpu of the machine waited for a host CPU (harness cpus used ${ms(used)} of CPU: ${perCpu}; ${context})`;
    case 'ceiling':
      return `hang: no harness cpu made progress for ${ms(s.wallMs)} of wall time, the watchdog's last-resort ceiling (${Math.round(o.ceilingMs / o.stallMs)}x the stall time; in only ${ms(s.clearMs)} of it did no cpu of the machine wait for a host CPU; harness cpus used ${ms(used)} of CPU; ${context})`;
    case 'wall':
      return `hang: no harness cpu made progress for ${ms(s.wallMs)} of wall time (wall time only: ${o.why ?? 'no per-thread CPU accounting on this host'}, so a busy host may look like a hang; ${context})`;
  }
}

/** Which accounting the host offers for these threads (the cpus' `td_tid`; cpus [0, nharness) are the harness). */
export function probeAccounting(tids: number[], nharness: number): { accounting: Accounting; why?: string } {
  if (tids.slice(0, nharness).some((t) => t === 0)) return { accounting: 'wall', why: 'the host gives no thread ids (no /proc/thread-self)' };
  const live = tids.filter((t) => t !== 0);
  const sched = live.map(readSchedStat);
  if (sched.every((x) => x !== null && x.cpuMs > 0)) return { accounting: 'schedstat' };
  if (live.every((t) => readThreadStat(t) !== null)) return { accounting: 'stat' };
  return { accounting: 'wall', why: "the host's per-thread accounting (/proc/self/task/<tid>/stat) cannot be read" };
}

/** One sample of every cpu's thread (index = cpu; null where there is none or it cannot be read). */
export function sampleThreads(tids: number[], accounting: Accounting): (ThreadSample | null)[] {
  if (accounting === 'wall') return [];
  return tids.map((t) => {
    if (t === 0) return null;
    const st = readThreadStat(t);
    if (accounting === 'stat') return st;
    const ss = readSchedStat(t);
    // Without the state letter the thread counts as runnable: its standing counters may hide a wait.
    return ss === null ? null : { cpuMs: ss.cpuMs, waitMs: ss.waitMs, state: st?.state ?? 'R' };
  });
}
