/**
 * The host thread behind a cpu: its id, and what the host's scheduler says about it. A worker
 * publishes its host thread id in its thread record (`td_tid`, written by `thread_start`); the
 * main thread reads the scheduler's accounting of that thread to tell "the cpu had the host's
 * CPU and did nothing useful with it" from "the host gave the cpu no CPU" (the race lab's stress
 * watchdog, src/race/stall.ts).
 *
 * Linux only (`/proc`). Elsewhere `hostThreadId()` is 0 and the readers return null; callers then
 * fall back to wall time.
 *
 *  - `/proc/self/task/<tid>/schedstat`: nanoseconds on a CPU, nanoseconds waiting on a run queue
 *    (runnable, not running), time slices. Exact; absent when the kernel has no CONFIG_SCHED_INFO,
 *    all zero when it keeps no such statistics.
 *  - `/proc/self/task/<tid>/stat`: the state letter (R running or runnable, S sleeping, D
 *    uninterruptible sleep, ...) and utime + stime in clock ticks. Coarse (10 ms a tick), but
 *    present on every Linux.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';

/** The calling thread's host (kernel) thread id, or 0 where the host does not say. */
export function hostThreadId(): number {
  try {
    // "<pid>/task/<tid>"
    const m = /\/task\/(\d+)$/.exec(readlinkSync('/proc/thread-self'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export interface SchedStat {
  /** Time the thread spent on a CPU, ms. */
  cpuMs: number;
  /** Time the thread spent runnable but waiting for a CPU, ms. */
  waitMs: number;
}

/** Thread `tid`'s scheduler statistics (of this process), or null when they cannot be read. */
export function readSchedStat(tid: number): SchedStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/self/task/${tid}/schedstat`, 'latin1');
  } catch {
    return null;
  }
  const f = text.trim().split(/\s+/);
  if (f.length < 2) return null;
  const run = Number(f[0]);
  const wait = Number(f[1]);
  if (!Number.isFinite(run) || !Number.isFinite(wait)) return null;
  return { cpuMs: run / 1e6, waitMs: wait / 1e6 };
}

export interface ThreadStat {
  /** The state letter: R, S, D, ... */
  state: string;
  /** utime + stime, ms (a clock tick's resolution). */
  cpuMs: number;
}

/** Thread `tid`'s state and CPU time (of this process), or null when they cannot be read. */
export function readThreadStat(tid: number): ThreadStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // "tid (comm) S ppid ..."; comm may hold spaces and parentheses: the fields start after the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(f[11]);
  const stime = Number(f[12]);
  if (!f[0] || !Number.isFinite(utime) || !Number.isFinite(stime)) return null;
  return { state: f[0], cpuMs: ((utime + stime) * 1000) / clockTicks() };
}

let ticks = 0;

/** The host's clock ticks per second (USER_HZ, what /proc's tick counts are in); 100 when it cannot be asked. */
export function clockTicks(): number {
  if (ticks === 0) {
    try {
      const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      ticks = Number.isInteger(n) && n > 0 ? n : 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}
