/**
 * The race runner (main thread): builds a machine for a scenario with a bug switch on (or none),
 * runs its parts and daemons under the race hook in one mode, watches it (stress: a monitor
 * samples the machine for lost wakeups, deadlocks and stalls), and returns what was found:
 * the failure with the workers' last events, the schedule (explore/replay) and the replay file.
 */
import { Machine, MachineError, type RoleSpec } from '../engine/machine.js';
import type { MachineSpec } from '../engine/spec.js';
import { POINT_NAMES, PT_SHARED, Point, isAccessPoint } from '../sync/hooks.js';
import { snapshot } from '../sync/snapshot.js';
import type { Sync } from '../sync/sync.js';
import { bugInfo } from './bugs.js';
import { CHECKER_DAEMON, type CheckerRun, samplersFor } from './checker.js';
import { bugs } from '../sync/switches.js';
import { type Policy, RaceCtl, type RaceMode, STATE_NAMES, isSerial } from './control.js';
import { describeRace, findDataRace } from './datarace.js';
import { heldBy, lockState, lostWakeups, unwokenWaiters, waitForGraph } from './detect.js';
import type { HarnessArgs, HarnessResult } from './harness.js';
import { StallWatch, probeAccounting, sampleThreads, stallMessage } from './stall.js';
import { type RaceScenario, raceScenario } from './scenario.js';
import '../../workers/race.js'; // the race:harness and race:daemon roles, and every race scenario

export interface RaceOptions {
  scenario: string;
  /** Bug switch to turn on (null: a clean run). */
  bug: string | null;
  mode: RaceMode;
  seed?: number;
  policy?: Policy;
  depth?: number;
  /** Wall-clock budget of the run, ms. */
  budgetMs?: number;
  /** At most this many iterations. */
  iterations?: number;
  /** Replay: the switches and the iteration they belong to. */
  schedule?: number[];
  replayIter?: number;
  /** Stress monitor: a sleeper whose condition holds this long has lost its wakeup (ms, default 400: longer than a host preemption under load). */
  graceMs?: number;
  /**
   * Stress monitor: no progress of any harness cpu for this much time in which the host let the
   * machine run (or this much CPU time used by the harness cpus) is a hang (ms, default 3000;
   * stall.ts). A wall-time ceiling of 20x this is the last resort.
   */
  stallMs?: number;
  /** Stress: run the checker cpu (checker.ts) when the scenario has a subsystem to sample (default true). */
  checker?: boolean;
  /** User modules the scenario comes from (absolute paths), recorded in the replay file. */
  modules?: string[];
  /** Extra detectors: 'race', the happens-before data-race detector (explore, bounded, replay and stress). */
  detect?: 'race'[];
  /** Bounded: the preemption bound (default 2). */
  preemptions?: number;
  /** A replay that records the code site of these events of the failing iteration (see sites.ts). */
  captureSites?: number[];
  /** Stress: record the code site of each cpu's first access [cpu, point, addr] of these (RaceSpec.captureTargets). */
  captureTargets?: [number, number, number][];
}

export interface WorkerReport {
  cpu: number;
  role: string;
  state: string;
  lastEvents: string[];
}

export interface RaceFailure {
  kind: string;
  message: string;
  cpus: number[];
  iteration: number;
  sleepers: { cpu: number; role: string; ident: number; wmesg: string }[];
  held: { addr: number; className: string; kind: string; owner: number; waiters: number[] }[];
  workers: WorkerReport[];
  [k: string]: unknown;
}

export interface ReplayFile {
  kiolab: 'race-replay';
  version: 1;
  scenario: string;
  bug: string | null;
  seed: number;
  policy: Policy;
  depth: number;
  iteration: number;
  kind: string;
  message: string;
  /** [decider cpu, its point count, chosen cpu] per switch of the turn. */
  schedule: number[];
  /** Switches where the running cpu could have gone on (preemptions). */
  preemptions?: number;
  /** Which cpu passed which point, by name, in the failing iteration (for people). */
  events: string[];
  /** User modules the scenario came from (absolute paths; `kiolab race --module`), loaded again by `kiolab replay`. */
  modules?: string[];
  /** Extra detectors the run had on (`--detect race`), on again in a replay. */
  detect?: 'race'[];
  /** The mode that found it when not explore: a bounded failure is replayed by enumerating again with the same bound. */
  mode?: 'bounded';
  /** Bounded: the preemption bound of the enumeration. */
  bound?: number;
}

export interface RaceResult {
  /** Bounded: the bound, the schedules run, and whether they were all the schedules within it. */
  bounded?: { preemptions: number; schedules: number; complete: boolean };
  /**
   * Explore/replay: scheduling points passed (every shared access of an instrumented view, every
   * lock, unlock, sleep and wakeup): the most in one iteration (PCT's k) and in all.
   */
  steps?: { max: number; total: number };
  scenario: string;
  bug: string | null;
  mode: RaceMode;
  seed: number;
  policy: Policy;
  depth: number;
  iterations: number;
  elapsedMs: number;
  failure: RaceFailure | null;
  /** Explore/replay failures: the schedule of the failing iteration. */
  replay: ReplayFile | null;
  preemptions: number;
  /** How often each outcome of an iteration was seen (jcstress-style table). */
  outcomes: Record<string, number>;
  /** Runs started again because a worker could not load its code (see LOAD_FAILURE). */
  loadRetries?: number;
  /** Stress: what the checker cpu sampled (absent when none ran). */
  checker?: CheckerRun;
  /** captureSites: the code site of each event asked for (null: not reached). */
  sites?: (string | null)[];
}

function describe(s: Sync, point: number, addr: number, name: number): string {
  const p = POINT_NAMES[point] ?? `point${point}`;
  switch (point) {
    case Point.USER:
      return `${s.nameOf(name) || p} @${addr}`;
    case Point.SLEEP_BLOCK:
    case Point.SLEEP_WOKE:
      return `${p} "${s.nameOf(name)}" chan ${addr}`;
    case Point.INTERLOCK:
    case Point.WAKEUP:
      return `${p} chan ${addr}`;
    case Point.READ_RANGE:
    case Point.WRITE_RANGE:
      return `${p} ${s.arena.describeAddr(addr)} (${name} bytes)`;
    default:
      if (isAccessPoint(point)) return `${p} ${s.arena.describeAddr(addr)}`;
      return `${p}${name === PT_SHARED ? ' shared' : ''} ${addr ? s.lockName(addr) : ''}`.trim();
  }
}

export function specFor(o: RaceOptions): MachineSpec {
  const sc = raceScenario(o.scenario);
  if (o.bug !== null) {
    const b = bugInfo(o.bug);
    if (!b.implemented) throw new RangeError(`race: bug switch ${o.bug} is not implemented yet (its subsystem, ${b.subsystem}, has not landed it)`);
    if (!sc.bugs.includes(o.bug)) throw new RangeError(`race: scenario ${sc.name} does not exercise ${o.bug}; it catches: ${sc.bugs.join(', ') || 'no switch'}`);
  }
  const ndaemons = (sc.daemons ?? []).reduce((n, d) => n + (d.count ?? 1), 0);
  const base = sc.spec?.() ?? {};
  const ncpu = sc.parts.length + ndaemons;
  // Stress runs get one more cpu, the checker; the buffer cache keeps the queue sets it had without it.
  const checker = o.mode === 'stress' && o.checker !== false && samplersFor({ ...base, ncpu }).length > 0;
  const bufcache = checker && base.bufcache ? { bufcache: { ...base.bufcache, queueSets: base.bufcache.queueSets ?? ncpu } } : {};
  return {
    ...base,
    ...bufcache,
    ncpu: ncpu + (checker ? 1 : 0),
    poison: true, // freed memory poisoned: a stale use is a finding
    race: {
      bugs: o.bug ? [o.bug] : [],
      scenario: sc.name,
      mode: o.mode,
      seed: o.seed ?? 1,
      policy: o.policy ?? 'pct',
      depth: o.depth ?? 3,
      steps: sc.steps ?? 200,
      idleLimit: sc.idleLimit,
      lockOrder: sc.lockOrder,
      schedule: o.schedule,
      ...(o.detect?.includes('race') ? { detectRaces: true } : {}),
      ...(o.mode === 'bounded' ? { preemptions: o.preemptions ?? 2 } : {}),
      ...(o.captureSites?.length ? { captureSites: { iteration: o.mode === 'replay' ? o.replayIter! : (o.iterations ?? 1) - 1, events: o.captureSites } } : {}),
      ...(o.captureTargets?.length ? { captureTargets: o.captureTargets } : {}),
    },
  };
}

/** The stress watchdog's default stall time (RaceOptions.stallMs), ms. */
const STALL_MS = 3000;
/** The stress watchdog's last resort: this many times stallMs of wall time without progress is a hang. */
const STALL_CEILING = 20;

/**
 * A worker that could not load its code (a module that failed to evaluate, e.g. while dist/ is
 * being rebuilt on a shared machine; Node reports it as an internal assertion) is not an outcome
 * of the race: such a run is started again, at most twice.
 */
const LOAD_FAILURE = /imported again after being required|ERR_INTERNAL_ASSERTION|Cannot find module|ERR_MODULE_NOT_FOUND|SyntaxError/;

/** Run one race: returns the first failure found, or none within the budget. */
export async function runRace(o: RaceOptions): Promise<RaceResult> {
  for (let attempt = 0; ; attempt++) {
    const r = await runRaceOnce(o);
    const f = r.failure;
    if (attempt < 2 && f && f.kind === 'crash' && LOAD_FAILURE.test(f.message)) continue;
    return { ...r, loadRetries: attempt };
  }
}

async function runRaceOnce(o: RaceOptions): Promise<RaceResult> {
  const sc = raceScenario(o.scenario);
  if (o.mode === 'replay' && (o.schedule === undefined || o.replayIter === undefined)) throw new RangeError('race: replay needs a schedule and its iteration');
  if (o.detect?.includes('race') && o.mode === 'check') throw new RangeError('race: --detect race needs a race mode (explore, bounded, replay or stress), not check');
  const spec = specFor(o);
  const budgetMs = o.budgetMs ?? 10_000;
  const m = new Machine(spec);
  sc.prepare?.(m);
  const ctl = new RaceCtl(m.arena);
  const daemons = sc.daemons ?? [];
  const ndaemons = daemons.reduce((n, d) => n + (d.count ?? 1), 0);
  const iterations = o.mode === 'replay' ? o.replayIter! + 1 : (o.iterations ?? 1_000_000);
  const roles: RoleSpec[] = sc.parts.map((part, index) => ({
    role: 'race:harness',
    args: { scenario: sc.name, part, index, nharness: sc.parts.length, ndaemons, iterations, budgetMs, replayIter: o.replayIter } satisfies HarnessArgs,
  }));
  for (const d of daemons) {
    for (let i = 0; i < (d.count ?? 1); i++) roles.push({ role: 'race:daemon', args: { scenario: sc.name, daemon: d.name, index: i, replayIter: o.replayIter }, daemon: true });
  }
  const withChecker = spec.ncpu > sc.parts.length + ndaemons;
  if (withChecker) roles.push({ role: 'race:daemon', args: { scenario: sc.name, daemon: CHECKER_DAEMON, index: 0 }, daemon: true });
  const t0 = performance.now();
  const watching = o.mode === 'stress' || o.mode === 'check';
  const monitor = startMonitor(m, ctl, sc.parts.length, o, watching, sc.invariant ?? null);
  // The machine's own timeout comes after the watchdog's wall-time ceiling, so that the ceiling can fire.
  const timeoutMs = budgetMs + 20_000 + (watching ? STALL_CEILING * (o.stallMs ?? STALL_MS) : 0);
  let crash: MachineError | null = null;
  let res: HarnessResult[] = [];
  let checker: CheckerRun | undefined;
  try {
    const out = await m.run(roles, { timeoutMs });
    res = out.slice(0, sc.parts.length).map((r) => r.value as HarnessResult);
    if (withChecker) checker = out[out.length - 1].value as CheckerRun;
  } catch (e) {
    if (!(e instanceof MachineError)) throw e;
    crash = e;
  } finally {
    monitor?.stop();
    // The main thread planned the arena too: leave its switch table off after the run.
    bugs.configure(undefined);
  }
  const elapsedMs = performance.now() - t0;
  let raw = ctl.failure();
  if (!raw && crash) {
    const held = crash.cpu >= 0 && crash.snapshot ? heldBy(crash.snapshot, crash.cpu) : [];
    raw = {
      kind: held.length ? 'owner-death' : crash.cpu < 0 ? 'hang' : 'crash',
      message: held.length ? `${crash.message} (it held ${held.join(', ')})` : crash.message,
      cpus: crash.cpu >= 0 ? [crash.cpu] : [],
      iteration: ctl.C.load(ctl.ctl, 'rc_iter'),
      sleepers: crash.snapshot?.sleepers ?? [],
      held: crash.snapshot?.held ?? [],
    };
  }
  const seed = spec.race!.seed;
  const policy = spec.race!.policy!;
  const depth = spec.race!.depth!;
  let failure: RaceFailure | null = null;
  let replay: ReplayFile | null = null;
  /** Stress: the accesses of a data race named behind another failure, whose code sites are wanted. */
  let stressTargets: [number, number, number][] | null = null;
  if (raw) {
    const labels = cpuLabels(sc.name, withChecker);
    const relabel = <T extends { cpu: number; role: string }>(x: T): T => ({ ...x, role: labels[x.cpu] ?? x.role });
    failure = { ...(raw as object), workers: workers(m, ctl, labels) } as RaceFailure;
    failure.sleepers = (failure.sleepers ?? []).map(relabel);
    failure.message = failure.message.replace(/cpu (\d+) \(race:(harness|daemon)\)/g, (all, c: string) => `cpu ${c} (${labels[Number(c)] ?? 'race'})`);
    if (o.detect?.includes('race') && failure.kind !== 'data-race') {
      // Another detector stopped the iteration first: a data race in what ran of it is often the
      // cause, so the report names it too.
      const events = isSerial(o.mode) ? ctl.events() : ctl.stressEvents(0);
      const race = findDataRace(events, spec.ncpu);
      if (race) {
        const d = describeRace(m.arena, sc, race, failure.iteration);
        failure.race = d.race;
        failure.message = `${failure.message}\n  and the iteration had a ${d.message}`;
        if (o.mode === 'stress') {
          const at = (e: number): [number, number, number] => [events[e][0], events[e][1], events[e][2]];
          stressTargets = [at(race.first.event), at(race.second.event)];
        }
      }
    }
    if (isSerial(o.mode)) {
      const events = ctl.events().slice(-4000).map(([c, p, a, n]) => `cpu ${c} ${describe(m.sync, p, a, n)}`);
      replay = { kiolab: 'race-replay', version: 1, scenario: sc.name, bug: o.bug, seed, policy, depth, iteration: failure.iteration, kind: failure.kind, message: failure.message, schedule: ctl.switches(), preemptions: ctl.C.load(ctl.ctl, 'rc_npreempt'), events, ...(o.modules?.length ? { modules: o.modules } : {}), ...(o.detect?.length ? { detect: o.detect } : {}), ...(o.mode === 'bounded' ? { mode: 'bounded' as const, bound: o.preemptions ?? 2 } : {}) };
    }
  }
  const sites = o.captureSites?.map((_, j) => ctl.site(j)) ?? (o.captureTargets ? o.captureTargets.map((_, j) => ctl.site(j)) : undefined);
  if (failure && replay && failure.race && !o.captureSites) await nameSites(o, failure, replay);
  if (failure && stressTargets && !o.captureTargets) await nameSitesStress(o, failure, stressTargets);
  const done = ctl.C.load(ctl.ctl, 'rc_iters_done') + (failure ? 1 : 0);
  return {
    scenario: sc.name,
    bug: o.bug,
    mode: o.mode,
    seed,
    policy,
    depth,
    iterations: Math.max(done, res[0]?.iterations ?? 0),
    elapsedMs,
    failure,
    replay,
    preemptions: ctl.C.load(ctl.ctl, 'rc_npreempt'),
    ...(o.mode === 'bounded'
      ? {
          bounded: {
            preemptions: o.preemptions ?? 2,
            schedules: ctl.C.load(ctl.ctl, 'rc_iters_done') + (failure ? 1 : 0),
            complete: !failure && ctl.C.load(ctl.ctl, 'rc_bdone') === 1 && ctl.C.load(ctl.ctl, 'rc_btrunc') === 0,
          },
        }
      : {}),
    steps: {
      max: Math.max(ctl.C.load(ctl.ctl, 'rc_maxsteps'), ctl.C.load(ctl.ctl, 'rc_steps')),
      total: ctl.C.load(ctl.ctl, 'rc_allsteps') + ctl.C.load(ctl.ctl, 'rc_steps'),
    },
    outcomes: res[0]?.outcomes ?? {},
    ...(checker && (checker as { samples?: number }).samples !== undefined ? { checker } : {}),
    ...(sites ? { sites } : {}),
  };
}

/**
 * Stress cannot replay: the code sites of a data race named behind another failure come from a
 * second stress run of the same scenario, seed and switch, which takes each cpu's first access of
 * the same kind to the same word (the arena's addresses are the same in every run). The sites go
 * into the failure and its message, marked as such; a run that meets neither changes nothing.
 */
async function nameSitesStress(o: RaceOptions, failure: RaceFailure, targets: [number, number, number][]): Promise<void> {
  const race = failure.race as { first: { site?: string }; second: { site?: string } } | undefined;
  if (!race) return;
  // The same spec but for the targets (the stress log's region included): the same addresses.
  const again = await runRaceOnce({ ...o, budgetMs: 10_000, captureTargets: targets });
  const [a, b] = again.sites ?? [];
  if (!a && !b) return;
  if (a) race.first.site = a;
  if (b) race.second.site = b;
  failure.message = `${failure.message}\n  first:  ${a ?? 'not met again'}\n  second: ${b ?? 'not met again'}\n  (stress cannot replay the iteration: each site is where that cpu made the same access to the same word in a second run)`;
}

/**
 * A data race names both accesses by cpu, struct and field; this adds where in the code each
 * was made: the failing iteration is replayed with the two events' stacks captured (sites.ts),
 * and the sites go into the failure (race.first.site, race.second.site), its message and the
 * replay file's message. A replay that does not reach the same race leaves the report as it was.
 */
async function nameSites(o: RaceOptions, failure: RaceFailure, replay: ReplayFile): Promise<void> {
  const race = failure.race as { first: { event: number; site?: string }; second: { event: number; site?: string } } | undefined;
  if (!race) return;
  const again = await runRaceOnce(
    replay.mode === 'bounded'
      ? { ...o, iterations: replay.iteration + 1, budgetMs: 120_000, captureSites: [race.first.event, race.second.event] }
      : { ...o, mode: 'replay', schedule: replay.schedule, replayIter: replay.iteration, budgetMs: 120_000, captureSites: [race.first.event, race.second.event] },
  );
  const [a, b] = again.sites ?? [];
  if (again.failure?.kind !== failure.kind || !a || !b) return;
  race.first.site = a;
  race.second.site = b;
  failure.message = `${failure.message}\n  first:  ${a}\n  second: ${b}`;
  replay.message = failure.message;
}

/** `scenario/part` (or `scenario/daemon`) of every cpu, as the runner assigned them. */
export function cpuLabels(scenario: string, checker = false): string[] {
  const sc = raceScenario(scenario);
  const out = sc.parts.map((p) => `${sc.name}/${p}`);
  for (const d of sc.daemons ?? []) for (let i = 0; i < (d.count ?? 1); i++) out.push(`${sc.name}/${d.name}${(d.count ?? 1) > 1 ? i : ''}`);
  if (checker) out.push(`${sc.name}/checker`);
  return out;
}

function workers(m: Machine, ctl: RaceCtl, labels: string[]): WorkerReport[] {
  const s = m.sync;
  return Array.from({ length: s.ncpu }, (_, c) => ({
    cpu: c,
    role: labels[c] ?? s.nameOf(s.T.load(s.threads.addr(c), 'td_role')),
    state: STATE_NAMES[ctl.R.load(ctl.cpu(c), 'rs_state')] ?? '?',
    lastEvents: ctl.lastEvents(c).map(([p, a, n]) => describe(s, p, a, n)),
  }));
}

/**
 * Stress/check mode's watchdog on the main thread (it never waits on a shared word): samples
 * the machine every 20 ms for a sleeper whose wake condition has held past the grace period,
 * a cycle of lock waits, or harness cpus that made no progress for stallMs of time in which the
 * host let them run (stall.ts: their threads' CPU and run-queue times, not wall time alone).
 */
function startMonitor(m: Machine, ctl: RaceCtl, nharness: number, o: RaceOptions, detect: boolean, invariant: RaceScenario['invariant'] | null): { stop(): void } {
  const grace = o.graceMs ?? 400;
  const stall = o.stallMs ?? STALL_MS;
  const seen = new Map<string, number>();
  const s = m.sync;
  // Begins once the machine has started: a loaded host may take seconds to load the workers' code.
  let watch: StallWatch | null = null;
  let tids: number[] = [];
  const fail = (f: { kind: string; message: string; cpus: number[]; [k: string]: unknown }): void => {
    const snap = snapshot(s);
    if (ctl.recordFailure({ ...f, detectedBy: -1, iteration: ctl.C.load(ctl.ctl, 'rc_iter'), sleepers: snap.sleepers, held: snap.held })) unstick(m);
  };
  let unstuck = false;
  let cycleKey = '';
  let cycleSince = 0;
  const timer = setInterval(() => {
    if (ctl.expireGrace()) {
      // A failure found anywhere: make sure sleepers without timeouts see it.
      if (!unstuck) unstick(m);
      unstuck = true;
      return;
    }
    if (!detect || ctl.C.load(ctl.ctl, 'rc_fail') !== 0) return; // a failure in its grace: nothing more to find
    const bad = invariant?.(m.arena) ?? null;
    if (bad !== null) return fail({ kind: 'invariant', message: bad, cpus: [] });
    const snap = snapshot(s);
    const now = performance.now();
    const lost = lostWakeups(m.arena, snap);
    const live = new Set<string>();
    // A cpu a wakeup or an unlock let go that still waits in the host: its notify was lost. Looked
    // at first: the sleepers it would have woken next are the symptom, it is the cause.
    for (const u of unwokenWaiters(s, snap)) {
      live.add(u.key);
      const first = seen.get(u.key) ?? now;
      seen.set(u.key, first);
      if (now - first >= grace) {
        const ms = Math.round(now - first);
        return fail({
          kind: 'lost-wakeup',
          message:
            u.kind === 'sleep'
              ? `lost wakeup: cpu ${u.cpu} (${u.role}) still sleeps on "${u.what}" ${ms} ms after a waker took it off its channel: the wakeup did not reach it`
              : `lost wakeup: cpu ${u.cpu} (${u.role}) still waits for ${u.what}, free for ${ms} ms: the unlock did not wake it`,
          cpus: [u.cpu],
          unwoken: u,
        });
      }
    }
    for (const l of lost) {
      const key = `${l.cpu}:${l.ident}:${snap.sleepers.find((x) => x.cpu === l.cpu)?.since}`;
      live.add(key);
      const first = seen.get(key) ?? now;
      seen.set(key, first);
      if (now - first >= grace) {
        return fail({
          kind: 'lost-wakeup',
          message: `lost wakeup: cpu ${l.cpu} (${l.role}) sleeps on "${l.wmesg}" (channel ${l.ident}) although its wake condition has held for ${Math.round(now - first)} ms`,
          cpus: [l.cpu],
          lost,
        });
      }
    }
    for (const k of seen.keys()) if (!live.has(k)) seen.delete(k);
    const g = waitForGraph(s, snap);
    // A sample is not atomic: a cycle counts once it has persisted for the grace period.
    const key = g.cycle ? g.cycle.map((c) => `${c}>${g.edges.find((e) => e.cpu === c)?.lock}`).join(',') : '';
    if (key !== cycleKey) {
      cycleKey = key;
      cycleSince = now;
    }
    if (g.cycle && now - cycleSince >= grace) {
      return fail({ kind: 'deadlock', message: `deadlock: ${g.edges.filter((e) => g.cycle!.includes(e.cpu)).map((e) => `cpu ${e.cpu} (${e.role}) waits for ${e.lock} held by cpu ${e.owner}`).join('; ')}`, cpus: g.cycle, waitFor: g.edges });
    }
    if (watch === null) {
      if (!m.started) return;
      tids = Array.from({ length: s.ncpu }, (_, c) => s.T.load(s.threads.addr(c), 'td_tid'));
      watch = new StallWatch({ stallMs: stall, ceilingMs: STALL_CEILING * stall, nharness, ...probeAccounting(tids, nharness) });
    }
    let p = 0;
    for (let c = 0; c < nharness; c++) p += s.T.load(s.threads.addr(c), 'td_progress');
    const threads = sampleThreads(tids, watch.accounting);
    const st = watch.observe(performance.now(), p, threads);
    if (st !== null) {
      const asleep = snap.sleepers.map((x) => `cpu ${x.cpu} (${x.role}) on "${x.wmesg}"`).join(', ') || 'nobody asleep';
      const waits = snap.blocked.map((b) => `cpu ${b.cpu} (${b.role}) waits for ${s.lockName(b.lock)}, ${lockState(s, b.lock)}`).join(', ') || 'no lock waits';
      // Involved: the cpus that burned CPU (a tenth of the busiest one's or more) unless the rule
      // says the harness was blocked, and every sleeper and lock waiter.
      const top = Math.max(...st.cpuMs);
      const burned = st.rule === 'blocked' || top <= 0 ? [] : st.cpuMs.flatMap((x, c) => (x >= top / 10 ? [c] : []));
      const cpus = [...new Set([...burned, ...snap.sleepers.map((x) => x.cpu), ...snap.blocked.map((b) => b.cpu)])];
      return fail({ kind: 'hang', message: stallMessage(st, watch.o, `${asleep}; ${waits}`), cpus, stall: { ...st, accounting: watch.accounting } });
    }
  }, 20);
  return { stop: () => clearInterval(timer) };
}

/** After a failure: wake every sleeper and every lock waiter so that their hooks see the abort. */
function unstick(m: Machine): void {
  const s = m.sync;
  s.wakeup_all_cpus();
  // A sleeper whose channel was cleared without a kick (the failure may be that) waits on its
  // generation word with no channel left to clear: kick every cpu's.
  const gen = s.T.field('td_wakegen');
  for (let c = 0; c < s.ncpu; c++) {
    gen.add(s.threads.addr(c), 1);
    gen.notify(s.threads.addr(c));
  }
  const word = s.L.field('lk_word');
  for (const lk of s.registeredLocks()) word.notify(lk);
}

/** PCT's guarantee: a bug of depth d is found by one run with probability >= 1 / (n k^(d-1)). */
export function pctBound(n: number, k: number, d: number, iterations: number): { perRun: number; miss: number } {
  const perRun = 1 / (n * Math.pow(k, d - 1));
  return { perRun, miss: Math.pow(1 - perRun, iterations) };
}
