/**
 * The matrix: every implemented switch in every scenario that catches it, in every mode, then a
 * replay of each explore failure (10 times), then clean runs of every scenario in every mode,
 * which must report nothing. With `bugs` (a subset, e.g. CI's short matrix) the clean runs are
 * those of the scenarios that catch the chosen switches.
 */
import { BUGS } from './bugs.js';
import type { RaceMode } from './control.js';
import type { MatrixRow } from './report.js';
import { replayTimes } from './replay.js';
import { runRace } from './runner.js';
import { raceScenarios } from './scenario.js';

export interface MatrixOptions {
  /** Budget of each run, ms. */
  budgetMs: number;
  /** Budget of each clean run, ms (default budgetMs). */
  cleanBudgetMs?: number;
  seed?: number;
  modes?: RaceMode[];
  replays?: number;
  /** Only these switches (default: every implemented one). */
  bugs?: string[];
  /** Skip the clean runs. */
  noClean?: boolean;
  progress?: (line: string) => void;
}

export async function runMatrix(o: MatrixOptions): Promise<MatrixRow[]> {
  const modes = o.modes ?? ['stress', 'explore'];
  const rows: MatrixRow[] = [];
  const scenarios = raceScenarios().filter((s) => !s.synthetic);
  const wanted = (o.bugs ?? BUGS.filter((b) => b.implemented).map((b) => b.name));
  for (const bug of wanted) {
    for (const sc of scenarios.filter((s) => s.bugs.includes(bug))) {
      for (const mode of modes) {
        o.progress?.(`matrix: ${bug} / ${sc.name} / ${mode}`);
        const r = await runRace({ scenario: sc.name, bug, mode, seed: o.seed ?? 1, budgetMs: o.budgetMs });
        let replayed = '-';
        if (r.replay) {
          const rp = await replayTimes(r.replay, o.replays ?? 10);
          replayed = `${rp.reproduced}/${rp.times}`;
        }
        rows.push({ scenario: sc.name, bug, mode, detected: !!r.failure, kind: r.failure?.kind ?? null, seconds: r.elapsedMs / 1000, iterations: r.iterations, replayed, ok: true });
      }
    }
  }
  for (const r of rows) {
    const anyMode = rows.some((x) => x.bug === r.bug && x.detected);
    r.ok = anyMode && (r.replayed === '-' || r.replayed.split('/')[0] === r.replayed.split('/')[1]);
  }
  if (!o.noClean) {
    // With a subset of switches, the clean runs are those of the scenarios that catch them.
    const cleanOf = o.bugs ? scenarios.filter((s) => s.bugs.some((b) => wanted.includes(b))) : scenarios;
    for (const sc of cleanOf) {
      for (const mode of modes) {
        o.progress?.(`matrix: clean / ${sc.name} / ${mode}`);
        const r = await runRace({ scenario: sc.name, bug: null, mode, seed: o.seed ?? 1, budgetMs: o.cleanBudgetMs ?? o.budgetMs });
        rows.push({ scenario: sc.name, bug: null, mode, detected: !!r.failure, kind: r.failure?.kind ?? null, seconds: r.elapsedMs / 1000, iterations: r.iterations, replayed: '-', ok: !r.failure });
      }
    }
  }
  return rows;
}
