/**
 * The progress line on a terminal: elapsed time, ETA and live IOPS, redrawn in place on stderr.
 * Silent (every method a no-op) when stderr is not a TTY or the report goes to stdout as JSON.
 */
import type { ProgressSink } from './context.js';
import { humanCount } from './format.js';

export class ProgressLine implements ProgressSink {
  private t0 = 0;
  private durationMs?: number;
  private total?: number;
  private label = '';
  private lastOps = 0;
  private lastAt = 0;
  private iops = 0;
  private shown = false;
  /** When the load began: the last sample that still saw no op (workers take a while to start). */
  private loadT0 = -1;
  private lastZeroAt = 0;

  constructor(
    readonly enabled: boolean,
    private readonly write: (s: string) => void = (s) => process.stderr.write(s),
    private readonly clock: () => number = () => performance.now(),
  ) {}

  plan(p: { durationMs?: number; ops?: number; label?: string }): void {
    this.t0 = this.clock();
    this.lastAt = this.t0;
    this.lastOps = 0;
    this.iops = 0;
    this.durationMs = p.durationMs;
    this.total = p.ops;
    this.label = p.label ?? '';
    this.loadT0 = -1;
    this.lastZeroAt = this.t0;
  }

  /** The line for `done` ops at the current clock (exposed for tests). */
  line(done: number): string {
    const now = this.clock();
    if (this.t0 === 0) this.plan({});
    const dt = now - this.lastAt;
    if (dt >= 200 || this.lastAt === this.t0) {
      if (dt > 0) this.iops = ((done - this.lastOps) * 1000) / dt;
      this.lastOps = done;
      this.lastAt = now;
    }
    const el = now - this.t0;
    if (done === 0) this.lastZeroAt = now;
    else if (this.loadT0 < 0) this.loadT0 = this.lastZeroAt;
    const loadEl = this.loadT0 < 0 ? 0 : now - this.loadT0;
    let eta: number | undefined;
    if (this.durationMs !== undefined) eta = Math.max(0, this.durationMs - loadEl);
    if (this.total !== undefined && done > 0) {
      const byOps = (loadEl * (this.total - done)) / done;
      eta = eta === undefined ? byOps : Math.min(eta, byOps);
    }
    const parts = [
      this.label ? `[${this.label}]` : '',
      `elapsed ${secs(el)}`,
      this.loadT0 < 0 ? 'starting workers' : '',
      eta !== undefined ? `ETA ${secs(eta)}` : '',
      `${humanCount(this.iops)} IOPS`,
      `${Math.round(done).toLocaleString('en-US')} ios${this.total !== undefined ? ` of ${this.total.toLocaleString('en-US')}` : ''}`,
    ];
    return parts.filter(Boolean).join('  ');
  }

  ops(done: number): void {
    if (!this.enabled) return;
    this.draw(this.line(done));
  }

  message(line: string): void {
    if (!this.enabled) return;
    this.draw(line);
  }

  clear(): void {
    if (!this.enabled || !this.shown) return;
    this.write('\r\x1b[K');
    this.shown = false;
  }

  private draw(s: string): void {
    this.write(`\r\x1b[K${s}`);
    this.shown = true;
  }
}

function secs(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  return `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
}
