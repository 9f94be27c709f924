/**
 * The checker: samples the subsystems' instant invariants (src/<sub>/sample.ts) while a machine
 * runs, each under the subsystem's own lock, one lock at a time, never waiting long for one.
 *
 *  - race stress runs: a race daemon of its own (`CHECKER_DAEMON`, one more cpu) samples every
 *    `periodMs`; a violation is the run's failure (kind `invariant`, `checker` names the sampler).
 *  - race explore/replay runs: no checker cpu (it would have to join the schedule); the hook runs
 *    the samplers at every quiescent point instead, with try-locks only (`quiescentSampler`).
 *  - `kiolab bench <scenario> --check`: `armChecker()` makes every machine built meanwhile start a
 *    checker worker of its own (checker-worker.ts, main-thread rights: cpu -1, spinlocks and
 *    try-locks only); it starts sampling when the machine starts and stops when the machine
 *    shuts down. `disarmChecker()` stops them and returns what they found.
 */
import { Worker } from 'node:worker_threads';
import { sampleBootCache } from '../bootcache/sample.js';
import { sampleBufcache } from '../bufcache/sample.js';
import { workerModules } from '../engine/roles.js';
import { type Kernel, type MachineSpec, plannerNames, registerInitializer } from '../engine/spec.js';
import type { Arena } from '../shm/arena.js';
import { HostWord, hostSleep } from '../shm/view.js';
import { sampleSwap } from '../swap/sample.js';
import { LK_SPIN } from '../sync/layouts.js';
import { snapshot } from '../sync/snapshot.js';
import type { Sync } from '../sync/sync.js';
import type { RaceCtl } from './control.js';
import type { SampleCtx, SampleResult } from '../sync/sample.js';
export type { SampleCtx, SampleResult } from '../sync/sample.js';

/** The race daemon name of the checker (scenarios never use it). */
export const CHECKER_DAEMON = '@checker';
/** Default sampling period, ms. */
export const CHECK_PERIOD_MS = 20;

export interface Sampler {
  /** The subsystem it checks (names the checker in failures). */
  name: string;
  applies(spec: MachineSpec): boolean;
  sample(arena: Arena, spec: MachineSpec, x: SampleCtx): SampleResult;
}

export const SAMPLERS: Sampler[] = [
  { name: 'bufcache', applies: (s) => !!s.bufcache, sample: (a, _s, x) => sampleBufcache(a, x) },
  { name: 'swap', applies: (s) => !!s.swap, sample: (_a, s, x) => sampleSwap(s, x) },
  { name: 'bootcache', applies: (s) => !!s.bootcache, sample: (a, _s, x) => sampleBootCache(a, x) },
];

/** The samplers that have something to check in a machine of `spec`. */
export function samplersFor(spec: MachineSpec): Sampler[] {
  return SAMPLERS.filter((s) => s.applies(spec));
}

export interface CheckerViolation {
  /** The sampler that found it (bufcache, swap, bootcache). */
  checker: string;
  message: string;
}


/**
 * How samplers take locks: a try-lock, retried with short pauses up to `tries` times (1: a single
 * try, for explore's quiescent points) unless `stop()` says the machine is going away. Never
 * blocks in the host kernel for longer than a pause; a lock not taken is skipped.
 */
export function lockCtx(sync: Sync, tries: number, stop: () => boolean = () => false): SampleCtx {
  const spin = (lk: number) => sync.L.load(lk, 'lk_kind') === LK_SPIN;
  return {
    sync,
    take(lk) {
      const isSpin = spin(lk);
      for (let i = 0; ; i++) {
        if (isSpin ? sync.spin_trylock(lk) : sync.trylock(lk)) return true;
        if (i + 1 >= tries || stop()) return false;
        if (i >= 32) hostSleep(0.05);
      }
    },
    drop(lk) {
      if (spin(lk)) sync.spin_unlock(lk);
      else sync.unlock(lk);
    },
  };
}

/** One pass of every applicable sampler; the first violation (a sampler that throws is one too). */
export function sampleOnce(arena: Arena, spec: MachineSpec, x: SampleCtx): { violation: CheckerViolation | null; skipped: number } {
  let skipped = 0;
  for (const s of samplersFor(spec)) {
    try {
      const r = s.sample(arena, spec, x);
      skipped += r.skipped;
      if (r.violations.length > 0) return { violation: { checker: s.name, message: r.violations.slice(0, 3).join('; ') }, skipped };
    } catch (e) {
      return { violation: { checker: s.name, message: `the sampler failed: ${(e as Error).message}` }, skipped };
    }
  }
  return { violation: null, skipped };
}

/**
 * Explore/replay: a sampler pass for the hook's quiescent points (nobody runs), with one try per
 * lock and this cpu's hook off, so the pass adds no scheduling point. Null when nothing applies.
 */
export function quiescentSampler(k: Kernel): (() => CheckerViolation | null) | null {
  if (samplersFor(k.spec).length === 0) return null;
  const x = lockCtx(k.sync, 1);
  return () => k.sync.unhooked(() => sampleOnce(k.arena, k.spec, x).violation);
}

export interface CheckerRun {
  checkers: string[];
  samples: number;
  skipped: number;
}

/**
 * The stress-mode checker daemon: samples every `periodMs` until the machine stops or a failure
 * is recorded; a violation is recorded as the run's failure (kind `invariant`). Runs without
 * the race hook (it observes, it is not part of the race). Sleeps with a timeout.
 */
export function runCheckerDaemon(k: Kernel, ctl: RaceCtl, periodMs = CHECK_PERIOD_MS): CheckerRun {
  const stop = () => k.shuttingDown() || ctl.aborted;
  const x = lockCtx(k.sync, 2000, stop);
  const run: CheckerRun = { checkers: samplersFor(k.spec).map((s) => s.name), samples: 0, skipped: 0 };
  const chan = ctl.cpu(k.cpu);
  const { C } = ctl;
  while (!stop()) {
    // Sample only while the parts run an iteration: the coordinator's reset and check see the
    // machine without the checker's locks (the handshake of control.ts pauseChecker).
    ctl.sampling.store(ctl.ctl, 1);
    if (C.load(ctl.ctl, 'rc_phase') === 0) {
      ctl.sampling.store(ctl.ctl, 0);
      ctl.sampling.notify(ctl.ctl);
      k.sync.tsleep(chan, 0, 'checker', 2);
      continue;
    }
    let r: ReturnType<typeof sampleOnce>;
    try {
      r = sampleOnce(k.arena, k.spec, x);
    } finally {
      ctl.sampling.store(ctl.ctl, 0);
      ctl.sampling.notify(ctl.ctl);
    }
    run.samples++;
    run.skipped += r.skipped;
    if (r.violation) {
      const snap = snapshot(k.sync);
      ctl.recordFailure({
        kind: 'invariant',
        message: `checker (${r.violation.checker}): ${r.violation.message}`,
        checker: r.violation.checker,
        cpus: [],
        detectedBy: k.cpu,
        iteration: ctl.C.load(ctl.ctl, 'rc_iter'),
        sleepers: snap.sleepers,
        held: snap.held,
      });
      break;
    }
    k.sync.tsleep(chan, 0, 'checker', periodMs);
  }
  return run;
}

// ------------------------------------------------------------------ bench: a worker per machine

export interface CheckerHandle {
  readonly checkers: string[];
  readonly violations: CheckerViolation[];
  readonly samples: number;
  /** Resolves when the worker has finished (after the machine shut down, or `stop()`). */
  readonly done: Promise<void>;
  /** Ask the worker to take its last sample and finish; terminate it if it does not. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Start a checker worker on a machine's arena (main thread). It waits for the machine to start,
 * samples every `periodMs` (and once more at the end) until the machine shuts down or `stop()`.
 */
export function startChecker(arena: Arena, spec: MachineSpec, periodMs = CHECK_PERIOD_MS): CheckerHandle {
  const stopWord = new HostWord();
  const w = new Worker(new URL('./checker-worker.js', import.meta.url), { workerData: { sab: arena.sab, spec, periodMs, stop: stopWord.sab, modules: workerModules(), planners: plannerNames() } });
  w.unref();
  const violations: CheckerViolation[] = [];
  let samples = 0;
  const done = new Promise<void>((res) => {
    w.on('message', (m: { type: string; checker?: string; message?: string; samples?: number }) => {
      if (m.type === 'violation') violations.push({ checker: m.checker!, message: m.message! });
      else if (m.type === 'done') samples = m.samples ?? 0;
    });
    w.on('error', (e) => violations.push({ checker: 'checker', message: `the checker worker failed: ${e.message}` }));
    w.on('exit', () => res());
  });
  return {
    checkers: samplersFor(spec).map((s) => s.name),
    violations,
    get samples() {
      return samples;
    },
    done,
    async stop(graceMs = 2000) {
      stopWord.store(1);
      stopWord.notify();
      let t: NodeJS.Timeout | undefined;
      await Promise.race([done, new Promise<void>((res) => (t = setTimeout(res, graceMs)))]);
      clearTimeout(t);
      await w.terminate();
    },
  };
}

let armed: { periodMs: number; handles: CheckerHandle[] } | null = null;

/** From now on every machine built (with a subsystem to sample) gets a checker worker. */
export function armChecker(periodMs = CHECK_PERIOD_MS): void {
  armed = { periodMs, handles: [] };
}

export interface CheckerSummary {
  machines: number;
  checkers: string[];
  samples: number;
  violations: CheckerViolation[];
}

/** Stop arming; stop the checkers started meanwhile and return what they found. */
export async function disarmChecker(): Promise<CheckerSummary> {
  const a = armed;
  armed = null;
  const handles = a?.handles ?? [];
  await Promise.all(handles.map((h) => h.stop()));
  return {
    machines: handles.length,
    checkers: [...new Set(handles.flatMap((h) => h.checkers))],
    samples: handles.reduce((n, h) => n + h.samples, 0),
    violations: handles.flatMap((h) => h.violations),
  };
}

// Runs last (initializers run in name order), on the main thread, for every machine built.
registerInitializer('zz.checker', (arena, _sync, spec) => {
  if (armed && samplersFor(spec).length > 0) armed.handles.push(startChecker(arena, spec, armed.periodMs));
});
