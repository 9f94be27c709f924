/**
 * A campaign's progress on stderr: one line per finished job, with the count and an ETA, and on
 * a terminal a status line redrawn every second with each running job's time against its
 * budget. The ETA is the time this run has taken per job finished so far, times the jobs left
 * (which counts however many ran at once, here or on a queue's workers); before the first, the
 * budget plus a second of start-up per job, over the jobs that run at once.
 */
import type { CampaignJob } from './file.js';
import { jobLabel } from './file.js';
import type { JobResult } from './job.js';

export function fmtDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** One line for a finished job. */
export function resultLine(r: JobResult): string {
  const t = r.elapsedMs !== null ? `${(r.elapsedMs / 1000).toFixed(2)} s` : '-';
  switch (r.status) {
    case 'detected':
      return `detected ${r.kind} in ${r.iterations} iteration(s), ${t}${r.replayed ? `, replayed ${r.replayed.reproduced}/${r.replayed.times}` : ''}`;
    case 'clean':
      return `clean, ${r.iterations} iteration(s)${r.capped ? ' (the cap)' : ''}, ${t}`;
    default:
      return r.message ?? r.status;
  }
}

export class Progress {
  private readonly running = new Map<string, { job: CampaignJob; t0: number }>();
  private finished = 0;
  private skipped = 0;
  private readonly t0 = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private readonly tty: boolean;

  constructor(
    private readonly total: number,
    private readonly parallel: number,
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly budgetMs = 10_000,
  ) {
    this.tty = !!out.isTTY;
    if (this.tty) this.timer = setInterval(() => this.draw(), 1000).unref();
  }

  /** Jobs already done before this run (resumed): they count as done, not in the ETA. */
  skip(n: number): void {
    this.finished += n;
    this.skipped += n;
  }

  start(id: string, job: CampaignJob): void {
    this.running.set(id, { job, t0: Date.now() });
    this.draw();
  }

  /** A job finished (here or, for a queue, anywhere): its line and the ETA. */
  done(r: JobResult, where = ''): void {
    this.running.delete(r.id);
    this.finished++;
    this.line(`campaign: [${this.finished}/${this.total}] ${jobLabel(r.job)}${where}: ${resultLine(r)} — ${this.eta()}`);
  }

  /** A job that ended without a result (a queue's failed job). */
  failed(label: string, why: string): void {
    this.finished++;
    this.line(`campaign: [${this.finished}/${this.total}] ${label}: failed: ${why} — ${this.eta()}`);
  }

  eta(): string {
    const left = this.total - this.finished;
    if (left <= 0) return 'all done';
    const ran = this.finished - this.skipped;
    const ms = ran > 0 ? ((Date.now() - this.t0) / ran) * left : ((this.budgetMs + 1000) * left) / Math.max(1, this.parallel);
    return `ETA ${fmtDuration(ms)}`;
  }

  line(s: string): void {
    if (this.tty) this.out.write('\r\x1b[K');
    this.out.write(`${s}\n`);
    this.draw();
  }

  private draw(): void {
    if (!this.tty) return;
    const now = Date.now();
    const jobs = [...this.running.values()].map((r) => `${jobLabel(r.job)} ${((now - r.t0) / 1000).toFixed(0)}/${r.job.budget}s`);
    const s = `campaign: ${this.finished}/${this.total} done, ${this.running.size} running${jobs.length ? `: ${jobs.join(', ')}` : ''} — ${this.eta()}`;
    const cols = this.out.columns || 120;
    this.out.write(`\r\x1b[K${s.length > cols - 1 ? `${s.slice(0, cols - 2)}…` : s}`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.tty) this.out.write('\r\x1b[K');
  }
}
