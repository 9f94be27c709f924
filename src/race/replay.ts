/**
 * Replay files: the schedule of a failing explore iteration, saved as JSON (which cpu passed
 * which point, by name, and every switch of the turn). `replay` runs the scenario again with the
 * same switch and seed, explores the iterations before the failing one exactly as the original
 * run did (same seed, same choices), and follows the recorded switches in the failing one.
 * `shrink` drops switches one at a time and keeps each drop that still reproduces the failure.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { allBugs } from './bugs.js';
import { type ReplayFile, type RaceResult, runRace } from './runner.js';
import { raceScenarios } from './scenario.js';

export function saveReplay(path: string, r: ReplayFile): void {
  writeFileSync(path, `${JSON.stringify(r, null, 1)}\n`);
}

/**
 * Read a replay file and check it against its schema: every field present with its type and
 * range, a schedule of whole [decider cpu, point count, chosen cpu] triples that is not empty. A
 * RangeError names the file and the field. The names it holds (scenario, switch) are checked by
 * `checkReplayNames`, once the file's modules are loaded.
 */
export function loadReplay(path: string): ReplayFile {
  let r: ReplayFile;
  try {
    r = JSON.parse(readFileSync(path, 'utf8')) as ReplayFile;
  } catch (e) {
    throw new RangeError(`replay: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (r === null || typeof r !== 'object' || r.kiolab !== 'race-replay') throw new RangeError(`replay: ${path} is not a kiolab race replay file`);
  if (r.version !== 1) throw new RangeError(`replay: ${path}: version ${JSON.stringify(r.version)}; this kiolab reads version 1`);
  const bad = (field: string, what: string): never => {
    throw new RangeError(`replay: ${path}: "${field}" ${what}`);
  };
  const whole = (v: unknown, min: number, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
  if (typeof r.scenario !== 'string' || r.scenario === '') bad('scenario', 'must name a race scenario');
  if (!('bug' in r) || (r.bug !== null && (typeof r.bug !== 'string' || r.bug === ''))) bad('bug', 'must be a switch name, or null for a run with no switch');
  if (!whole(r.seed, 0, 2 ** 31 - 1)) bad('seed', `must be a whole number in [0, ${2 ** 31 - 1}], got ${JSON.stringify(r.seed)}`);
  if (!whole(r.iteration, 0, 1e12)) bad('iteration', `must be a whole number >= 0, got ${JSON.stringify(r.iteration)}`);
  if (r.policy !== 'pct' && r.policy !== 'random') bad('policy', `must be pct or random, got ${JSON.stringify(r.policy)}`);
  if (!whole(r.depth, 1, 10)) bad('depth', `must be a whole number in [1, 10], got ${JSON.stringify(r.depth)}`);
  if (typeof r.kind !== 'string' || r.kind === '') bad('kind', 'must name the failure kind (lost-wakeup, assertion, ...)');
  if (typeof r.message !== 'string') bad('message', 'must be the failure message');
  if (!Array.isArray(r.schedule) || r.schedule.length === 0) bad('schedule', 'must list the switches of the turn (a failing iteration has at least one)');
  if (r.schedule.length % 3 !== 0) bad('schedule', `must hold [decider cpu, point count, chosen cpu] triples; its ${r.schedule.length} numbers are not`);
  r.schedule.forEach((x, i) => {
    if (!whole(x, 0, 2 ** 31 - 1)) bad('schedule', `entry ${i} must be a whole number >= 0, got ${JSON.stringify(x)}`);
  });
  if (r.mode !== undefined && r.mode !== 'bounded') bad('mode', `must be bounded when present, got ${JSON.stringify(r.mode)}`);
  if (r.mode === 'bounded' && !whole(r.bound, 0, 10)) bad('bound', `must be the preemption bound in [0, 10] of a bounded replay, got ${JSON.stringify(r.bound)}`);
  if (r.detect !== undefined && (!Array.isArray(r.detect) || !r.detect.every((d) => d === 'race'))) bad('detect', 'must be a list of detectors (race)');
  if (r.modules !== undefined && (!Array.isArray(r.modules) || !r.modules.every((m) => typeof m === 'string'))) bad('modules', 'must be a list of module paths');
  if (r.events !== undefined && !Array.isArray(r.events)) bad('events', 'must be a list of lines');
  return r;
}

/** The scenario and switch of a replay file exist (after its modules are loaded); a RangeError names them. */
export function checkReplayNames(path: string, r: ReplayFile): void {
  const sc = raceScenarios().find((s) => s.name === r.scenario);
  if (!sc) throw new RangeError(`replay: ${path}: unknown scenario ${JSON.stringify(r.scenario)} (one of its "modules" defines it? none is loaded)`);
  if (r.bug !== null) {
    const b = allBugs().find((x) => x.name === r.bug);
    if (!b) throw new RangeError(`replay: ${path}: unknown switch ${JSON.stringify(r.bug)}`);
    if (!b.implemented) throw new RangeError(`replay: ${path}: switch ${r.bug} is not implemented`);
  }
}

/** Replay once; true when the same kind of failure happens in the same iteration. */
export async function replayOnce(r: ReplayFile, schedule = r.schedule): Promise<{ reproduced: boolean; result: RaceResult }> {
  // A bounded schedule is replayed by enumerating again: the enumeration is deterministic, so
  // the same bound reaches the same schedule in the same iteration.
  const result = await runRace(r.mode === 'bounded' ? {
    scenario: r.scenario,
    bug: r.bug,
    mode: 'bounded',
    seed: r.seed,
    preemptions: r.bound ?? 2,
    iterations: r.iteration + 1,
    budgetMs: 120_000,
    modules: r.modules,
    detect: r.detect,
  } : {
    scenario: r.scenario,
    bug: r.bug,
    mode: 'replay',
    seed: r.seed,
    policy: r.policy,
    depth: r.depth,
    schedule,
    replayIter: r.iteration,
    budgetMs: 120_000,
    modules: r.modules,
    detect: r.detect,
  });
  const f = result.failure;
  return { reproduced: !!f && f.kind === r.kind && f.iteration === r.iteration, result };
}

/** Replay `times` times; how many reproduced the failure. */
export async function replayTimes(r: ReplayFile, times: number): Promise<{ reproduced: number; times: number; last: RaceResult | null; misses: string[] }> {
  let reproduced = 0;
  let last: RaceResult | null = null;
  const misses: string[] = [];
  for (let i = 0; i < times; i++) {
    const o = await replayOnce(r);
    last = o.result;
    if (o.reproduced) reproduced++;
    else misses.push(o.result.failure ? `iteration ${o.result.failure.iteration}: ${o.result.failure.kind}: ${o.result.failure.message}` : `no failure in ${o.result.iterations} iterations`);
  }
  return { reproduced, times, last, misses };
}

/**
 * Remove the preemptions the failure does not need: drop one recorded switch at a time, replay,
 * and keep the run's actual schedule when it still fails the same way with no more preemptions
 * and no more switches. Greedy, within a budget.
 */
export async function shrink(r: ReplayFile, opts: { budgetMs?: number; progress?: (s: string) => void } = {}): Promise<{ file: ReplayFile; before: number; after: number; preemptionsBefore: number; preemptionsAfter: number; tries: number }> {
  const t0 = performance.now();
  const budget = opts.budgetMs ?? 60_000;
  const before = r.schedule.length / 3;
  const preemptionsBefore = r.preemptions ?? before;
  let best: ReplayFile = { ...r, preemptions: preemptionsBefore };
  let tries = 0;
  let improved = true;
  for (let pass = 0; improved && pass < 4; pass++) {
    improved = false;
    for (let i = best.schedule.length / 3 - 1; i >= 0; i--) {
      if (performance.now() - t0 > budget) break;
      const cand = best.schedule.slice(0, 3 * i).concat(best.schedule.slice(3 * i + 3));
      tries++;
      const o = await replayOnce(best, cand);
      const got = o.result.replay;
      if (o.reproduced && got) {
        const p = got.preemptions ?? Infinity;
        if (p < best.preemptions! || (p === best.preemptions && got.schedule.length <= best.schedule.length)) {
          if (p < best.preemptions! || got.schedule.length < best.schedule.length) improved = true;
          best = got;
          i = Math.min(i, best.schedule.length / 3);
        }
      }
      opts.progress?.(`shrink: ${best.preemptions} preemptions, ${best.schedule.length / 3} switches after ${tries} replays`);
    }
  }
  return { file: best, before, after: best.schedule.length / 3, preemptionsBefore, preemptionsAfter: best.preemptions!, tries };
}
