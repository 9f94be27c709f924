/**
 * The shapes every workload reader produces (Workload, WorkloadRequest), the error they throw,
 * and TraceBuilder: the common tail of each parser. A parser feeds it requests against named
 * sources (files, devices) in the trace's own coordinates; finish() lays the sources one after
 * another on one flat device, makes times relative to the first request and checks the totals.
 */

export type WorkloadFormat = 'fio-iolog-v2' | 'fio-iolog-v3' | 'blkparse' | 'kiolab';

export const WORKLOAD_FORMATS: readonly WorkloadFormat[] = ['fio-iolog-v2', 'fio-iolog-v3', 'blkparse', 'kiolab'];

export interface WorkloadRequest {
  /** 'T' is a BootCache boot-phase tag: offset is the tag, length 0. */
  op: 'R' | 'W' | 'T';
  /** Bytes on the flat device the trace's sources are laid onto. */
  offset: number;
  /** Bytes; > 0 for R and W. */
  length: number;
  /** Seconds since the trace's first request (0 throughout when the trace is untimed). */
  t: number;
  /** Thread/process id from the trace, -1 when it has none. */
  tid: number;
}

export interface Workload {
  file: string;
  format: WorkloadFormat;
  requests: WorkloadRequest[];
  timed: boolean;
  /** Highest offset + length over the R/W requests, bytes. */
  extent: number;
  /** Each file or device of the trace, in order of first appearance, and where it was laid. */
  sources: { name: string; base: number; bytes: number }[];
  /** Lines or events left out, by kind. */
  skipped: Record<string, number>;
  /** Distinct tids (not -1), in order of first appearance. */
  tids: number[];
}

export class WorkloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkloadError';
  }
}

export const MiB = 1024 * 1024;

/** A trace line too long for a one-line message is cut. */
function clip(text: string): string {
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** `<file>:<line>: <expected>, got "<text>"`. */
export function lineError(file: string, line: number, expected: string, text: string): WorkloadError {
  return new WorkloadError(`${file}:${line}: ${expected}, got ${JSON.stringify(clip(text.trim()))}`);
}

/** A decimal whole number that is a safe integer, or null. */
export function decimal(tok: string | undefined): number | null {
  if (tok === undefined || !/^\d+$/.test(tok)) return null;
  const v = Number(tok);
  return Number.isSafeInteger(v) ? v : null;
}

/** A decimal or 0x-hex whole number that is a safe integer, or null. */
export function wholeNumber(tok: string | undefined): number | null {
  if (tok === undefined || !/^(0x[0-9a-f]+|\d+)$/i.test(tok)) return null;
  const v = Number(tok);
  return Number.isSafeInteger(v) ? v : null;
}

/** The lines of a text, numbered from 1, without a byte-order mark or carriage returns. */
export function splitLines(text: string): string[] {
  return text.replace(/^\uFEFF/, '').split(/\r?\n/);
}

interface RawRequest {
  op: 'R' | 'W' | 'T';
  /** Index into the builder's sources; -1 for tags. */
  src: number;
  offset: number;
  length: number;
  /** In the parser's own unit (see finish's perSecond). */
  time: number;
  tid: number;
}

export class TraceBuilder {
  private readonly names: string[] = [];
  private readonly index = new Map<string, number>();
  private readonly ends: number[] = [];
  private readonly raw: RawRequest[] = [];
  readonly skipped: Record<string, number> = {};

  constructor(readonly file: string) {}

  /** The index of a source, registering it on first sight. */
  source(name: string): number {
    let i = this.index.get(name);
    if (i === undefined) {
      i = this.names.length;
      this.index.set(name, i);
      this.names.push(name);
      this.ends.push(0);
    }
    return i;
  }

  has(name: string): boolean {
    return this.index.has(name);
  }

  skip(kind: string, n = 1): void {
    this.skipped[kind] = (this.skipped[kind] ?? 0) + n;
  }

  io(op: 'R' | 'W', src: number, offset: number, length: number, time: number, tid: number): void {
    this.raw.push({ op, src, offset, length, time, tid });
    this.ends[src] = Math.max(this.ends[src], offset + length);
  }

  tag(tag: number, time: number, tid: number): void {
    this.raw.push({ op: 'T', src: -1, offset: tag, length: 0, time, tid });
  }

  /**
   * The workload: sources laid in order, each taking its highest end rounded up to 1 MiB;
   * `t` = (time - the first request's time) / perSecond seconds when timed, else 0.
   */
  finish(format: WorkloadFormat, timed: boolean, perSecond: number): Workload {
    const rw = this.raw.filter((q) => q.op !== 'T').length;
    if (rw === 0) {
      const sk = Object.entries(this.skipped).map(([k, n]) => `${n} ${k}`).join(', ');
      throw new WorkloadError(`${this.file}: no read or write requests${sk ? ` (skipped: ${sk})` : ''}`);
    }
    const sources: Workload['sources'] = [];
    let base = 0;
    for (let i = 0; i < this.names.length; i++) {
      const bytes = Math.ceil(this.ends[i] / MiB) * MiB;
      sources.push({ name: this.names[i], base, bytes });
      base += bytes;
    }
    if (!Number.isSafeInteger(base)) throw new WorkloadError(`${this.file}: the sources laid end to end pass 2^53 bytes`);
    const t0 = this.raw.length ? this.raw[0].time : 0;
    const tids: number[] = [];
    const seen = new Set<number>();
    let extent = 0;
    const requests: WorkloadRequest[] = this.raw.map((q) => {
      if (q.tid !== -1 && !seen.has(q.tid)) {
        seen.add(q.tid);
        tids.push(q.tid);
      }
      const t = timed ? (q.time - t0) / perSecond : 0;
      if (q.op === 'T') return { op: 'T', offset: q.offset, length: 0, t, tid: q.tid };
      const offset = sources[q.src].base + q.offset;
      extent = Math.max(extent, offset + q.length);
      return { op: q.op, offset, length: q.length, t, tid: q.tid };
    });
    return { file: this.file, format, requests, timed, extent, sources, skipped: { ...this.skipped }, tids };
  }
}
