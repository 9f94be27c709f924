/**
 * What the race roles run in a worker: a harness part loops over iterations (barrier, the
 * coordinator resets and begins the iteration, each part runs its share under the hook, barrier,
 * the coordinator checks the invariants); a daemon joins the schedule and runs until shutdown.
 * A failure (an exception, a violated invariant, a detector in a hook) is recorded in the arena
 * and aborts the run; every role then returns.
 */
import { mix32 } from '../device/config.js';
import type { Kernel } from '../engine/spec.js';
import { snapshot } from '../sync/snapshot.js';
import { CHECKER_DAEMON, quiescentSampler, runCheckerDaemon } from './checker.js';
import { MAX_DECISIONS, NOBODY, RaceAbort, RaceCtl, S_OUT, S_READY, failureGraceMs, isSerial, pauseChecker } from './control.js';
import { heldBy } from './detect.js';
import { RaceHook } from './hook.js';
import { describeRace, findDataRace } from './datarace.js';
import { type RaceScenario, raceScenario } from './scenario.js';
import { withoutAccessHook } from '../shm/access.js';

export interface HarnessArgs {
  scenario: string;
  part: string;
  index: number;
  nharness: number;
  ndaemons: number;
  /** Stop after this many iterations (or the budget). */
  iterations: number;
  budgetMs: number;
  /** Replay mode: the iteration that follows the recorded schedule. */
  replayIter?: number;
}

export interface HarnessResult {
  iterations: number;
  aborted: boolean;
  /** Coordinator: how often each outcome of an iteration was seen (jcstress-style). */
  outcomes?: Record<string, number>;
}

function hookFor(k: Kernel, ctl: RaceCtl, scenario: string, replayIter?: number): RaceHook {
  const spec = k.spec.race;
  if (!spec) throw new RangeError('race: the machine spec has no race part (spec.race)');
  const inv = raceScenario(scenario).invariant ?? null;
  const serial = isSerial(spec.mode);
  return new RaceHook(spec, ctl, k.sync, () => k.shuttingDown(), replayIter ?? -1, inv, serial ? quiescentSampler(k) : null).install();
}

/** Record a worker's exception as the run's failure (owner death when it held locks). */
function recordCrash(k: Kernel, ctl: RaceCtl, e: unknown, where: string): void {
  const snap = snapshot(k.sync);
  const held = heldBy(snap, k.cpu);
  const msg = e instanceof Error ? e.message : String(e);
  ctl.recordFailure({
    kind: held.length > 0 ? 'owner-death' : 'assertion',
    message: held.length > 0 ? `cpu ${k.cpu} (${where}) died holding ${held.join(', ')}: ${msg}` : `cpu ${k.cpu} (${where}): ${msg}`,
    error: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
    cpus: [k.cpu],
    detectedBy: k.cpu,
    iteration: ctl.C.load(ctl.ctl, 'rc_iter'),
    sleepers: snap.sleepers,
    held: snap.held,
    heldAtDeath: held,
  }, failureGraceMs(k.spec.race));
}

/** A data race as a failure record: both accesses named by cpu, part, kind and what they touched. */
export function runHarness(k: Kernel, a: HarnessArgs): HarnessResult {
  const sc = raceScenario(a.scenario);
  const ctl = new RaceCtl(k.arena);
  const hook = hookFor(k, ctl, a.scenario, a.replayIter);
  const serial = isSerial(hook.mode);
  const coord = a.index === 0;
  const stop = () => k.shuttingDown();
  const { C } = ctl;
  const t0 = performance.now();
  let iter = 0;
  const outcomes: Record<string, number> = {};
  const sleeps = (c: number) => k.sync.T.load(k.sync.threads.addr(c), 'td_nsleeps');
  let before: number[] = [];
  // A run that only captures code sites for an earlier one (captureTargets) detects nothing itself.
  const detectRaces = k.spec.race?.detectRaces === true && k.spec.race.captureTargets === undefined;
  /** Stress: a data race found, its code sites being captured (RaceHook.capture) before it is reported. */
  let capturing: { failure: Record<string, unknown>; until: number; iters: number } | null = null;
  try {
    // The parts attach one at a time (each interns its names and binds its state under the sync
    // layer's own locks): only the iterations run them at once, so a broken primitive shows there,
    // where the detectors look, not in the set-up.
    let c!: ReturnType<typeof sc.attach>;
    for (let p = 0; p < a.nharness; p++) {
      if (p === a.index) c = sc.attach(k);
      ctl.barrier(a.nharness, stop);
    }
    if (coord && serial) settle(ctl, a.ndaemons, stop);
    for (;;) {
      ctl.barrier(a.nharness, stop);
      if (coord) {
        const sitesIn = k.spec.race?.captureTargets !== undefined && ctl.siteTaken(0) && ctl.siteTaken(1);
        const go = (capturing !== null || (iter < a.iterations && performance.now() - t0 < a.budgetMs && !sitesIn)) && !ctl.aborted && C.load(ctl.ctl, 'rc_bdone') === 0;
        if (go) {
          sc.reset?.(c, iter);
          before = Array.from({ length: a.nharness }, (_, h) => sleeps(h));
          if (serial) begin(ctl, k, a, iter, stop);
          else {
            C.store(ctl.ctl, 'rc_iter', iter);
            if (k.spec.race?.detectRaces) ctl.startStressLog(iter);
          }
        }
        C.store(ctl.ctl, 'rc_go', go ? 1 : 0);
        if (go && !serial) C.store(ctl.ctl, 'rc_phase', 1);
      }
      ctl.barrier(a.nharness, stop);
      if (C.load(ctl.ctl, 'rc_go') === 0) break;
      hook.enter();
      sc.run(c, a.part, iter);
      hook.leave();
      k.sync.progress();
      ctl.barrier(a.nharness, stop);
      if (coord) {
        if (!serial) pauseChecker(ctl, stop); // check() and reset() see the machine without the checker's locks
        if (capturing !== null) {
          // Stress: report the data race once both code sites are in, or after a few iterations.
          capturing.iters++;
          if ((ctl.siteTaken(0) && ctl.siteTaken(1)) || capturing.iters >= 50 || performance.now() > capturing.until) {
            ctl.recordFailure(withSites(ctl, capturing.failure));
            return { iterations: iter + 1, aborted: true };
          }
          iter++;
          continue;
        }
        if (detectRaces) {
          const events = serial ? ctl.events() : ctl.stressEvents();
          const race = withoutAccessHook(() => findDataRace(events, ctl.ncpu));
          if (race) {
            const snap = snapshot(k.sync);
            const failure = { ...describeRace(k.arena, sc, race, iter), cpus: [race.first.cpu, race.second.cpu], detectedBy: k.cpu, iteration: iter, sleepers: snap.sleepers, held: snap.held };
            if (serial) {
              ctl.recordFailure(failure);
              return { iterations: iter + 1, aborted: true };
            }
            const target = (e: number): [number, number, number] => [events[e][0], events[e][1], events[e][2]];
            ctl.armCapture([target(race.first.event), target(race.second.event)]);
            capturing = { failure, until: performance.now() + 5000, iters: 0 };
            iter++;
            continue;
          }
        }
        const bad = sc.check?.(c, iter) ?? null;
        if (bad !== null) {
          const snap = snapshot(k.sync);
          ctl.recordFailure({ kind: 'invariant', message: bad, cpus: [], detectedBy: k.cpu, iteration: iter, sleepers: snap.sleepers, held: snap.held });
          return { iterations: iter + 1, aborted: true };
        }
        // The outcome of the iteration: the scenario's, else which parts had to sleep.
        const o = sc.outcome?.(c, iter) ?? sc.parts.map((p, h) => `${p}:${sleeps(h) > before[h] ? 'slept' : 'ran'}`).join(' ');
        outcomes[o] = (outcomes[o] ?? 0) + 1;
        C.add(ctl.ctl, 'rc_iters_done', 1);
        if (hook.mode === 'bounded' && !nextSchedule(ctl, k.spec.race?.preemptions ?? 2)) C.store(ctl.ctl, 'rc_bdone', 1);
      }
      iter++;
    }
    return { iterations: iter, aborted: false, outcomes };
  } catch (e) {
    if (!(e instanceof RaceAbort)) recordCrash(k, ctl, e, `race:${a.scenario}/${a.part}`);
    return { iterations: iter, aborted: true, outcomes };
  } finally {
    k.sync.hook = null;
  }
}

/**
 * Bounded mode, between iterations: the next schedule of a depth-first enumeration of every
 * schedule with at most `bound` preemptions. Take the deepest decision of the last iteration
 * that has an alternative not tried yet and affordable (choosing anything but the default when
 * the running cpu could go on is a preemption; when it could not, the choice is free), try it,
 * and let every later decision take its default. False when no schedule is left.
 */
function nextSchedule(ctl: RaceCtl, bound: number): boolean {
  const { C, W } = ctl;
  const n = Math.min(C.load(ctl.ctl, 'rc_bdec'), MAX_DECISIONS);
  const dec = Array.from({ length: n }, (_, d) => [W.load(ctl.bdec + 12 * d), W.load(ctl.bdec + 12 * d + 4), W.load(ctl.bdec + 12 * d + 8)]);
  const used: number[] = [];
  let p = 0;
  for (const [, couldGoOn, choice] of dec) {
    used.push(p);
    if (couldGoOn && choice > 0) p++;
  }
  for (let d = n - 1; d >= 0; d--) {
    const [ncands, couldGoOn, choice] = dec[d];
    if (choice + 1 >= ncands) continue;
    if (used[d] + (couldGoOn ? 1 : 0) > bound) continue;
    for (let j = 0; j < d; j++) W.store(ctl.bvec + 4 * j, dec[j][2]);
    W.store(ctl.bvec + 4 * d, choice + 1);
    C.store(ctl.ctl, 'rc_bvec', d + 1);
    return true;
  }
  return false;
}

/**
 * A stress data race with the code sites captured (race.first.site, race.second.site, and in the
 * message), or as it was when a side was not met again.
 */
function withSites(ctl: RaceCtl, failure: Record<string, unknown>): Record<string, unknown> {
  const race = failure.race as { first: { site?: string }; second: { site?: string } };
  const a = ctl.site(0);
  const b = ctl.site(1);
  if (a) race.first.site = a;
  if (b) race.second.site = b;
  if (!a && !b) return failure;
  const note = '(stress cannot replay the iteration: each site is where that cpu next made the same access to the same word)';
  return { ...failure, message: `${failure.message}\n  first:  ${a ?? 'not met again'}\n  second: ${b ?? 'not met again'}\n  ${note}` };
}

/** Let the daemons run until they block, so every iteration starts from the same state. */
function settle(ctl: RaceCtl, ndaemons: number, stop: () => boolean): void {
  const { C, R } = ctl;
  while (C.load(ctl.ctl, 'rc_daemons') < ndaemons) {
    if (ctl.aborted || stop()) throw new RaceAbort();
    C.field('rc_daemons').wait(ctl.ctl, C.load(ctl.ctl, 'rc_daemons'), 5);
  }
  for (let c = 0; c < ctl.ncpu; c++) {
    if (R.load(ctl.cpu(c), 'rs_daemon') && R.load(ctl.cpu(c), 'rs_state') !== S_OUT) {
      turnTo(ctl, c);
      awaitNobody(ctl, stop);
    }
  }
}

function turnTo(ctl: RaceCtl, c: number): void {
  ctl.turn.store(ctl.ctl, c);
  ctl.turn.notify(ctl.ctl);
}

function awaitNobody(ctl: RaceCtl, stop: () => boolean): void {
  for (;;) {
    const t = ctl.turn.load(ctl.ctl);
    if (t === NOBODY) return;
    if (ctl.aborted || stop()) throw new RaceAbort();
    ctl.turn.wait(ctl.ctl, t, 50);
  }
}

/** Coordinator: start iteration `iter` of the serialized schedule (daemons are all blocked). */
function begin(ctl: RaceCtl, k: Kernel, a: HarnessArgs, iter: number, stop: () => boolean): void {
  awaitNobody(ctl, stop);
  const { C, R } = ctl;
  const spec = k.spec.race!;
  // PCT's k follows the iterations: the most steps any earlier one took (deterministic per seed).
  const steps = C.load(ctl.ctl, 'rc_steps');
  if (steps > C.load(ctl.ctl, 'rc_maxsteps')) C.store(ctl.ctl, 'rc_maxsteps', steps);
  C.add(ctl.ctl, 'rc_allsteps', steps);
  for (const f of ['rc_steps', 'rc_nswitch', 'rc_npreempt', 'rc_nevents', 'rc_idle', 'rc_bdec'] as const) C.store(ctl.ctl, f, 0);
  C.store(ctl.ctl, 'rc_iter', iter);
  // PCT: distinct random priorities >= d for every participant (a seeded shuffle).
  const seed = mix32(spec.seed, iter);
  const d = spec.depth ?? 3;
  const order = Array.from({ length: ctl.ncpu }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = mix32(seed, 1000 + i) % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  order.forEach((c, rank) => R.store(ctl.cpu(c), 'rs_prio', d + rank));
  for (let c = 0; c < ctl.ncpu; c++) {
    const r = ctl.cpu(c);
    R.store(r, 'rs_npoints', 0);
    if (c < a.nharness + a.ndaemons && !R.load(r, 'rs_daemon')) R.store(r, 'rs_state', S_READY);
  }
  turnTo(ctl, k.cpu);
}

/** A race daemon: joins the schedule, then runs the scenario's daemon until the machine stops. */
export async function runDaemon(k: Kernel, a: { scenario: string; daemon: string; index: number; replayIter?: number }): Promise<unknown> {
  if (a.daemon === CHECKER_DAEMON) return runChecker(k, a.scenario);
  const sc = raceScenario(a.scenario);
  const d = sc.daemons?.find((x) => x.name === a.daemon);
  if (!d) throw new RangeError(`race: scenario ${a.scenario} has no daemon ${JSON.stringify(a.daemon)}`);
  const ctl = new RaceCtl(k.arena);
  const hook = hookFor(k, ctl, a.scenario, a.replayIter);
  hook.registerDaemon();
  try {
    return await d.run(k, () => k.shuttingDown() || ctl.aborted, a.index);
  } catch (e) {
    if (!(e instanceof RaceAbort)) recordCrash(k, ctl, e, `race:${a.scenario}/${a.daemon}`);
    return { aborted: true };
  } finally {
    k.sync.hook = null;
  }
}

/** The stress-mode checker cpu (checker.ts): outside the race hook; its own exception is a failure too. */
function runChecker(k: Kernel, scenario: string): unknown {
  const ctl = new RaceCtl(k.arena);
  try {
    return runCheckerDaemon(k, ctl);
  } catch (e) {
    if (!(e instanceof RaceAbort)) recordCrash(k, ctl, e, `race:${scenario}/checker`);
    return { aborted: true };
  }
}
