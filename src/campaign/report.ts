/**
 * A campaign's report, the same whether its jobs ran here or on a queue's workers: the matrix
 * (each switch or clean run × scenario × mode: in how many seeds it was detected, the iterations
 * and time to detection, the replays that reproduced it), the failures with their replay
 * commands, the iterations run per scenario and mode, and the jobs that hung, failed or have not
 * finished. As text, JSON, and a self-contained HTML page (no script, no network).
 */
import { type CampaignJob, jobLabel } from './file.js';
import type { JobResult } from './job.js';
import { replayName } from './store.js';

/** What became of a job: its result, a queue's failure (no result), or nothing yet. */
export type JobOutcome = { result: JobResult } | { failed: string } | { pending: true };

export interface MatrixCell {
  bug: string | null;
  scenario: string;
  mode: string;
  /** Jobs (seeds) of this cell, and how many of them finished. */
  jobs: number;
  finished: number;
  detected: number;
  kinds: string[];
  /** Iterations and seconds (the run's own time) to detection: min and median over the detecting seeds. */
  iterations: { min: number; median: number } | null;
  seconds: { min: number; median: number } | null;
  /** Replays that reproduced a failure, summed over the seeds ("28/30"), or "-". */
  replayed: string;
  hangs: number;
  errors: number;
  /** Switch: detected in some mode, every replay reproduced; clean: nothing reported. */
  ok: boolean;
}

export interface CampaignReport {
  campaign: string;
  version: string;
  generatedAt: string;
  jobs: number;
  finished: number;
  detected: number;
  matrix: MatrixCell[];
  failures: { id: string; label: string; kind: string | null; message: string | null; iterations: number | null; seconds: number | null; replayed: string; replayFile: string | null; command: string }[];
  iterations: { scenario: string; mode: string; jobs: number; iterations: number }[];
  problems: { id: string; label: string; what: string }[];
  results: { id: string; scenario: string; bug: string | null; mode: string; seed: number; status: string; kind: string | null; iterations: number | null; seconds: number | null; capped: boolean; replayed: string; worker: string | null }[];
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * Build the report. `outDir`: where the replay files are (DIR/replays), for the replay commands;
 * null when they were not written.
 */
export function buildReport(name: string, version: string, jobs: { id: string; job: CampaignJob }[], outcomes: JobOutcome[], outDir: string | null): CampaignReport {
  const cells = new Map<string, { cell: MatrixCell; its: number[]; secs: number[]; rep: [number, number] | null }>();
  const iters = new Map<string, { scenario: string; mode: string; jobs: number; iterations: number }>();
  const rep: CampaignReport = { campaign: name, version, generatedAt: new Date().toISOString(), jobs: jobs.length, finished: 0, detected: 0, matrix: [], failures: [], iterations: [], problems: [], results: [] };
  jobs.forEach(({ id, job }, i) => {
    const o = outcomes[i];
    const key = `${job.bug ?? ''}\0${job.scenario}\0${job.mode}`;
    let c = cells.get(key);
    if (!c) {
      c = { cell: { bug: job.bug, scenario: job.scenario, mode: job.mode, jobs: 0, finished: 0, detected: 0, kinds: [], iterations: null, seconds: null, replayed: '-', hangs: 0, errors: 0, ok: true }, its: [], secs: [], rep: null };
      cells.set(key, c);
    }
    c.cell.jobs++;
    const label = jobLabel(job);
    if ('pending' in o) {
      rep.problems.push({ id, label, what: 'not finished' });
      return;
    }
    if ('failed' in o) {
      c.cell.errors++;
      rep.finished++;
      rep.problems.push({ id, label, what: `failed on the queue: ${o.failed}` });
      return;
    }
    const r = o.result;
    rep.finished++;
    c.cell.finished++;
    const seconds = r.elapsedMs !== null ? r.elapsedMs / 1000 : null;
    const replayed = r.replayed ? `${r.replayed.reproduced}/${r.replayed.times}` : '-';
    rep.results.push({ id, scenario: job.scenario, bug: job.bug, mode: job.mode, seed: job.seed, status: r.status, kind: r.kind, iterations: r.iterations, seconds, capped: r.capped, replayed, worker: r.worker });
    if (r.iterations !== null) {
      const ik = `${job.scenario}\0${job.mode}`;
      const it = iters.get(ik) ?? { scenario: job.scenario, mode: job.mode, jobs: 0, iterations: 0 };
      it.jobs++;
      it.iterations += r.iterations;
      iters.set(ik, it);
    }
    if (r.status === 'hang') {
      c.cell.hangs++;
      rep.problems.push({ id, label, what: r.message ?? 'hang' });
    } else if (r.status === 'error') {
      c.cell.errors++;
      rep.problems.push({ id, label, what: r.message ?? 'error' });
    } else if (r.status === 'detected') {
      rep.detected++;
      c.cell.detected++;
      if (r.kind && !c.cell.kinds.includes(r.kind)) c.cell.kinds.push(r.kind);
      if (r.iterations !== null) c.its.push(r.iterations);
      if (seconds !== null) c.secs.push(seconds);
      if (r.replayed) c.rep = [(c.rep?.[0] ?? 0) + r.replayed.reproduced, (c.rep?.[1] ?? 0) + r.replayed.times];
      const file = r.replayText !== null ? replayName(r) : null;
      const rerun = `kiolab race ${job.scenario}${job.bug ? ` --bug ${job.bug}` : ''} --mode ${job.mode} --seed ${job.seed} --budget ${job.budget}${job.iterations !== null ? ` --iterations ${job.iterations}` : ''}${job.detect ? ` --detect ${job.detect}` : ''}${job.module ? ` --module ${job.module.name}` : ''}`;
      const command = file === null ? `not replayable (${job.mode}); run it again: ${rerun}` : outDir !== null ? `kiolab replay ${outDir}/replays/${file}` : `kiolab replay replays/${file} (write the replay files with --out DIR)`;
      rep.failures.push({ id, label, kind: r.kind, message: r.message, iterations: r.iterations, seconds, replayed, replayFile: file, command });
    }
  });
  for (const { cell, its, secs, rep: rp } of cells.values()) {
    if (its.length) cell.iterations = { min: Math.min(...its), median: median(its) };
    if (secs.length) cell.seconds = { min: Math.min(...secs), median: median(secs) };
    if (rp) cell.replayed = `${rp[0]}/${rp[1]}`;
    rep.matrix.push(cell);
  }
  for (const cell of rep.matrix) {
    if (cell.bug === null) cell.ok = cell.detected === 0 && cell.hangs === 0 && cell.errors === 0;
    else {
      const anyMode = rep.matrix.some((x) => x.bug === cell.bug && x.scenario === cell.scenario && x.detected > 0);
      cell.ok = anyMode && cell.errors === 0 && cell.hangs === 0 && (cell.replayed === '-' || cell.replayed.split('/')[0] === cell.replayed.split('/')[1]);
    }
  }
  rep.iterations = [...iters.values()];
  return rep;
}

const cellRow = (c: MatrixCell): string[] => {
  const result = c.finished === 0 ? 'pending' : c.bug === null ? (c.detected ? 'FALSE ALARM' : 'clean') : c.detected ? 'detected' : 'missed';
  return [
    c.bug ?? '(clean)',
    c.scenario,
    c.mode,
    result,
    `${c.detected}/${c.jobs}`,
    c.kinds.join(',') || '-',
    c.seconds ? `${c.seconds.min.toFixed(2)} / ${c.seconds.median.toFixed(2)}` : '-',
    c.iterations ? `${c.iterations.min} / ${c.iterations.median}` : '-',
    c.replayed,
    c.hangs || c.errors ? `${c.hangs} hang, ${c.errors} error` : '',
  ];
};
const MATRIX_HEAD = ['switch', 'scenario', 'mode', 'result', 'seeds', 'kind', 'time s (min / median)', 'iters (min / median)', 'replayed', 'problems'];

function textTable(head: string[], rows: string[][]): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(w[i])).join('  ').trimEnd();
  return [line(head), '-'.repeat(line(head).length), ...rows.map(line)];
}

export function summaryLine(r: CampaignReport): string {
  const bad = r.matrix.filter((c) => !c.ok && c.finished > 0);
  const head = `campaign ${r.campaign}: ${r.finished}/${r.jobs} jobs finished, ${r.detected} detected, ${r.problems.length} problem(s)`;
  return bad.length ? `${head}; not as expected: ${bad.map((c) => `${c.bug ?? 'clean'}/${c.scenario}/${c.mode}`).join(', ')}` : `${head}; every switch detected in some mode, every clean run clean`;
}

export function formatReport(r: CampaignReport): string {
  const L: string[] = [`campaign ${r.campaign} (kiolab ${r.version}), ${r.jobs} jobs`, ''];
  L.push(...textTable(MATRIX_HEAD, r.matrix.map(cellRow)));
  L.push('', 'failures:');
  if (r.failures.length === 0) L.push('  none');
  for (const f of r.failures) L.push(`  ${f.label}: ${f.kind} in ${f.iterations} iteration(s)${f.replayed !== '-' ? `, replayed ${f.replayed}` : ''}`, `    ${f.message ?? ''}`, `    ${f.command}`);
  L.push('', 'iterations run:');
  L.push(...textTable(['scenario', 'mode', 'jobs', 'iterations'], r.iterations.map((x) => [x.scenario, x.mode, String(x.jobs), x.iterations.toLocaleString('en-US')])).map((s) => `  ${s}`));
  if (r.problems.length) {
    L.push('', 'problems:');
    for (const p of r.problems) L.push(`  ${p.label}: ${p.what}`);
  }
  L.push('', summaryLine(r));
  return L.join('\n');
}

const esc = (s: unknown): string => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function htmlTable(head: string[], rows: string[][], rowClass: (i: number) => string = () => ''): string {
  if (rows.length === 0) return '<p class="none">none</p>';
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r, i) => `<tr class="${rowClass(i)}">${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:24px;background:#f7f8fb;color:#1d2030}h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;background:#fff;margin:8px 0}th,td{border:1px solid #e0e2ea;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef0f6}tr.bad td{background:#fde8e8}tr.ok td:nth-child(4){color:#136c2e}code{font-size:12px}p.none{color:#777}.summary{font-weight:600}`;

/** The report as one self-contained HTML page. */
export function renderReportHtml(r: CampaignReport): string {
  const title = `kiolab campaign ${r.campaign}`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${STYLE}</style></head>
<body><h1>${esc(title)}</h1>
<p>kiolab ${esc(r.version)}; ${r.jobs} jobs, ${r.finished} finished, ${r.detected} detected; generated ${esc(r.generatedAt)}</p>
<p class="summary" id="summary">${esc(summaryLine(r))}</p>
<h2>Matrix</h2>
${htmlTable(MATRIX_HEAD, r.matrix.map(cellRow), (i) => (r.matrix[i].finished > 0 && !r.matrix[i].ok ? 'bad' : 'ok'))}
<h2>Failures</h2>
${htmlTable(['job', 'kind', 'iterations', 'time s', 'replayed', 'message', 'replay'], r.failures.map((f) => [f.label, f.kind ?? '-', String(f.iterations ?? '-'), f.seconds?.toFixed(2) ?? '-', f.replayed, f.message ?? '', f.command]))}
<h2>Iterations run per scenario and mode</h2>
${htmlTable(['scenario', 'mode', 'jobs', 'iterations'], r.iterations.map((x) => [x.scenario, x.mode, String(x.jobs), x.iterations.toLocaleString('en-US')]))}
<h2>Problems</h2>
${htmlTable(['job', 'what'], r.problems.map((p) => [p.label, p.what]))}
<h2>Jobs</h2>
${htmlTable(['id', 'scenario', 'switch', 'mode', 'seed', 'status', 'kind', 'iterations', 'time s', 'replayed', 'worker'], r.results.map((x) => [x.id.slice(0, 12), x.scenario, x.bug ?? '(clean)', x.mode, String(x.seed), x.status, x.kind ?? '-', `${x.iterations ?? '-'}${x.capped ? ' (cap)' : ''}`, x.seconds?.toFixed(2) ?? '-', x.replayed, x.worker ?? '-']))}
</body></html>
`;
}
