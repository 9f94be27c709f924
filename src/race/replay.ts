/**
 * Replay files: the schedule of a failing explore iteration, saved as JSON (which cpu passed
 * which point, by name, and every switch of the turn). `replay` runs the scenario again with the
 * same switch and seed, explores the iterations before the failing one exactly as the original
 * run did (same seed, same choices), and follows the recorded switches in the failing one.
 * `shrink` drops switches one at a time and keeps each drop that still reproduces the failure.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { type ReplayFile, type RaceResult, runRace } from './runner.js';

export function saveReplay(path: string, r: ReplayFile): void {
  writeFileSync(path, `${JSON.stringify(r, null, 1)}\n`);
}

export function loadReplay(path: string): ReplayFile {
  let r: ReplayFile;
  try {
    r = JSON.parse(readFileSync(path, 'utf8')) as ReplayFile;
  } catch (e) {
    throw new RangeError(`replay: cannot read ${path}: ${(e as Error).message}`);
  }
  if (r?.kiolab !== 'race-replay' || r.version !== 1) throw new RangeError(`replay: ${path} is not a kiolab race replay file (version 1)`);
  if (!Array.isArray(r.schedule) || r.schedule.length % 3 !== 0 || !Number.isInteger(r.iteration)) {
    throw new RangeError(`replay: ${path} has a malformed schedule or iteration`);
  }
  if (r.modules !== undefined && (!Array.isArray(r.modules) || !r.modules.every((m) => typeof m === 'string'))) {
    throw new RangeError(`replay: ${path}: "modules" must be a list of module paths`);
  }
  return r;
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
