/** Human reports of the race lab: one race's failure, the PCT parameters, the matrix table. */
import type { RaceResult } from './runner.js';
import { pctBound } from './runner.js';
import { raceScenario } from './scenario.js';

export function pctLine(r: Pick<RaceResult, 'scenario' | 'policy' | 'depth' | 'iterations' | 'failure' | 'steps'>): string {
  if (r.policy !== 'pct') return 'scheduler: uniform random choice at every point';
  const sc = raceScenario(r.scenario);
  const n = sc.parts.length + (sc.daemons ?? []).reduce((a, d) => a + (d.count ?? 1), 0);
  // k is what the iterations really took: every shared access and every primitive is a point.
  const k = Math.max(sc.steps ?? 200, r.steps?.max ?? 0);
  const b = pctBound(n, k, r.depth, Math.max(1, r.iterations));
  return `scheduler: PCT, n=${n} cpus, k=${k} steps (the most scheduling points of one iteration: every shared access and every lock, sleep and wakeup), depth d=${r.depth} (${r.depth - 1} priority change points); ` +
    `a bug of depth <= ${r.depth} is hit by one iteration with probability >= 1/(n*k^(d-1)) = ${b.perRun.toExponential(2)}` +
    (r.failure ? '' : `; the chance that ${r.iterations} iterations missed one is <= ${b.miss < 1e-4 ? b.miss.toExponential(2) : b.miss.toFixed(4)}`);
}

/** What bounded mode covered: a proof within its bound when every schedule was run. */
export function boundedLine(b: NonNullable<RaceResult['bounded']>, failed: boolean): string {
  const n = b.schedules.toLocaleString('en-US');
  if (failed) return `scheduler: bounded, at most ${b.preemptions} preemption(s); failed in schedule ${n}`;
  return b.complete
    ? `scheduler: bounded: all ${n} schedules with <= ${b.preemptions} preemption(s) explored, no failure (every shared access and every lock, sleep and wakeup was a scheduling point)`
    : `scheduler: bounded: ${n} schedules with <= ${b.preemptions} preemption(s) explored, no failure; the budget or the iteration limit ended the run before the last one: NOT all schedules were covered`;
}

export function formatRace(r: RaceResult, extra: { savedTo?: string | null; replayCommand?: string | null } = {}): string {
  const L: string[] = [];
  const what = `${r.scenario}${r.bug ? ` with ${r.bug}` : ' (no bug switch)'}`;
  const where = `mode ${r.mode}, seed ${r.seed}`;
  const rate = r.elapsedMs > 0 ? r.iterations / (r.elapsedMs / 1000) : 0;
  L.push(`race ${what}: ${where}, ${r.iterations} iterations in ${(r.elapsedMs / 1000).toFixed(2)} s (${rate >= 100 ? Math.round(rate).toLocaleString('en-US') : rate.toFixed(1)} iterations/s)`);
  if (r.mode === 'explore' || r.mode === 'replay') L.push(pctLine(r));
  if (r.bounded) L.push(boundedLine(r.bounded, !!r.failure));
  const outcomes = Object.entries(r.outcomes ?? {}).sort((a, b) => b[1] - a[1]);
  if (outcomes.length > 0) {
    const total = outcomes.reduce((n, [, c]) => n + c, 0);
    L.push('outcomes of the clean iterations:');
    for (const [o, c] of outcomes.slice(0, 12)) L.push(`  ${String(c).padStart(8)}  ${((100 * c) / total).toFixed(1).padStart(5)}%  ${o}`);
  }
  const f = r.failure;
  if (!f) {
    L.push('result: no failure found');
    return L.join('\n');
  }
  L.push('', `FAILURE ${f.kind} in iteration ${f.iteration}`, `  ${f.message}`);
  const involved = f.cpus.length ? f.cpus : [];
  L.push(`workers involved: ${involved.length ? involved.map((c) => `cpu ${c} (${f.workers[c]?.role ?? '?'})`).join(', ') : 'none named'}`);
  L.push(`locks held: ${f.held.filter((h) => h.owner >= 0).map((h) => `${h.className}@${h.addr} by cpu ${h.owner}${h.waiters.length ? ` (waiters ${h.waiters.join(', ')})` : ''}`).join(', ') || 'none'}`);
  L.push(`asleep: ${f.sleepers.map((s) => `cpu ${s.cpu} (${s.role}) on "${s.wmesg}" chan ${s.ident}`).join(', ') || 'nobody'}`);
  L.push('last events of each worker (oldest first):');
  for (const w of f.workers) {
    L.push(`  cpu ${w.cpu} ${w.role} [${w.state}]`);
    for (const e of w.lastEvents) L.push(`      ${e}`);
  }
  if (r.replay) {
    L.push(`schedule: ${r.replay.schedule.length / 3} switches of the turn (${r.replay.preemptions ?? 0} preemptions), ${r.replay.events.length} events in the failing iteration`);
    const tail = r.replay.events.slice(-12);
    L.push('  last events of the schedule:', ...tail.map((e) => `      ${e}`));
  } else if (r.mode === 'stress') {
    L.push('schedule: stress runs are not replayable; run --mode explore for a replayable schedule');
  }
  if (extra.savedTo) L.push(`saved schedule: ${extra.savedTo}`);
  if (extra.replayCommand) L.push(`replay: ${extra.replayCommand}`);
  return L.join('\n');
}

export interface MatrixRow {
  scenario: string;
  bug: string | null;
  mode: string;
  detected: boolean;
  kind: string | null;
  seconds: number;
  iterations: number;
  /** Explore: replays that reproduced the failure, "10/10"; '-' otherwise. */
  replayed: string;
  /** Clean runs: true when nothing was reported. Switch runs: true when detected. */
  ok: boolean;
}

export function formatMatrix(rows: MatrixRow[]): string {
  const w1 = Math.max(8, ...rows.map((r) => (r.bug ?? '(clean)').length));
  const w0 = Math.max(8, ...rows.map((r) => r.scenario.length));
  const head = `${'switch'.padEnd(w1)}  ${'scenario'.padEnd(w0)}  mode     result        kind          time s   iters   replayed`;
  const lines = [head, '-'.repeat(head.length)];
  for (const r of rows) {
    const result = r.bug === null ? (r.detected ? 'FALSE ALARM' : 'clean') : r.detected ? 'detected' : 'missed';
    lines.push(`${(r.bug ?? '(clean)').padEnd(w1)}  ${r.scenario.padEnd(w0)}  ${r.mode.padEnd(7)}  ${result.padEnd(12)}  ${(r.kind ?? '-').padEnd(12)}  ${r.seconds.toFixed(2).padStart(6)}  ${String(r.iterations).padStart(6)}   ${r.replayed}`);
  }
  const bad = rows.filter((r) => !r.ok);
  lines.push('', bad.length ? `${bad.length} problem(s): ${bad.map((r) => `${r.bug ?? 'clean'}/${r.scenario}/${r.mode}`).join(', ')}` : 'every switch detected in some mode; every clean run reported nothing');
  return lines.join('\n');
}
