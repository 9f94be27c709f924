/**
 * Recorded block I/O workloads for kiolab's `--workload FILE`: read a trace (fio iolog v2/v3,
 * blkparse text, or kiolab's request lines), lay its files/devices on one flat device, and deal
 * its requests to the bench's callers. See README.md in this folder for the formats.
 */
import { readFileSync, statSync } from 'node:fs';
import { BLKPARSE_EVENT, parseBlkparse } from './blkparse.js';
import { FIO_HEADER, parseFioIolog } from './fio.js';
import { KIOLAB_SHAPE, looksLikeKiolab, parseKiolabLines } from './lines.js';
import { lineError, MiB, splitLines, type Workload, WORKLOAD_FORMATS, WorkloadError, type WorkloadFormat, type WorkloadRequest } from './model.js';

export { type Workload, WORKLOAD_FORMATS, WorkloadError, type WorkloadFormat, type WorkloadRequest } from './model.js';

export type CallerMap = 'tid' | 'rr';

const FORMAT_NAMES: Record<WorkloadFormat, string> = {
  'fio-iolog-v2': 'fio iolog v2',
  'fio-iolog-v3': 'fio iolog v3',
  blkparse: 'blkparse',
  kiolab: 'kiolab lines',
};

/** The default limit on a trace file's size in loadWorkload. */
export const MAX_WORKLOAD_BYTES = 256 * MiB;

/** Which format a text is in, from its first line that is neither blank nor a `#` comment. */
export function detectFormat(text: string, file: string): WorkloadFormat {
  const lines = splitLines(text);
  const i = lines.findIndex((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  if (i < 0) throw new WorkloadError(`${file}: ${text.trim() ? 'no requests, only comments' : 'empty'}`);
  const s = lines[i].trim();
  const fio = FIO_HEADER.exec(s);
  if (fio) {
    if (fio[1] === '2') return 'fio-iolog-v2';
    if (fio[1] === '3') return 'fio-iolog-v3';
    throw lineError(file, i + 1, 'expected a fio iolog of version 2 or 3', s);
  }
  if (BLKPARSE_EVENT.test(s)) return 'blkparse';
  if (looksLikeKiolab(s.replace(/#.*/, '').trim())) return 'kiolab';
  throw lineError(
    file,
    i + 1,
    `expected one of the workload formats: a fio iolog ("fio version 2 iolog" or "fio version 3 iolog" first), blkparse's text output ("maj,min cpu seq sec.nsec pid action RWBS sector + count [process]"), or kiolab lines (${KIOLAB_SHAPE})`,
    s,
  );
}

/** Parse a trace's text; `file` names it in errors. The format is detected unless given. */
export function parseWorkload(text: string, file: string, opts: { format?: WorkloadFormat } = {}): Workload {
  const format = opts.format ?? detectFormat(text, file);
  switch (format) {
    case 'fio-iolog-v2':
      return parseFioIolog(text, file, 2);
    case 'fio-iolog-v3':
      return parseFioIolog(text, file, 3);
    case 'blkparse':
      return parseBlkparse(text, file);
    case 'kiolab':
      return parseKiolabLines(text, file);
    default:
      throw new WorkloadError(`${file}: unknown workload format ${JSON.stringify(format)}; one of: ${WORKLOAD_FORMATS.join(', ')}`);
  }
}

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

/** Read and parse a trace file; every problem with the file itself names the path. */
export function loadWorkload(path: string, opts: { format?: WorkloadFormat; maxBytes?: number } = {}): Workload {
  const max = opts.maxBytes ?? MAX_WORKLOAD_BYTES;
  let size: number | null = null;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new WorkloadError(`${path}: is a directory, not a trace file`);
    if (st.isFile()) size = st.size;
  } catch (e) {
    if (e instanceof WorkloadError) throw e;
    throw new WorkloadError(`${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  const tooLarge = (n: number) => new WorkloadError(`${path}: too large (${mib(n)}; the limit is ${mib(max)})`);
  if (size !== null && size > max) throw tooLarge(size);
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new WorkloadError(`${path}: cannot read it: ${(e as Error).message}`);
  }
  if (buf.length === 0) throw new WorkloadError(`${path}: empty file`);
  if (buf.length > max) throw tooLarge(buf.length);
  if (buf.length >= 4 && ((buf.readUInt32LE(0) & 0xffffff00) >>> 0 === 0x65617400 || (buf.readUInt32BE(0) & 0xffffff00) >>> 0 === 0x65617400)) {
    throw new WorkloadError(`${path}: a blktrace binary file; give kiolab blkparse's text output (blkparse -i <name> -o trace.txt)`);
  }
  if (buf.includes(0)) throw new WorkloadError(`${path}: a binary file, not a text trace`);
  return parseWorkload(buf.toString('utf8'), path, opts.format === undefined ? {} : { format: opts.format });
}

/**
 * Deal a workload's requests to `n` callers. 'tid': the k-th distinct tid (in order of first
 * appearance) goes to caller k mod n, and requests without a tid (-1) go round-robin;
 * 'rr': round-robin in runs of `chunk` consecutive requests. Each caller keeps trace order.
 */
export function assignCallers(w: Workload, n: number, map: CallerMap, chunk = 1): WorkloadRequest[][] {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`assignCallers: expected a whole number of callers >= 1, got ${n}`);
  if (!Number.isSafeInteger(chunk) || chunk < 1) throw new RangeError(`assignCallers: expected a whole chunk >= 1, got ${chunk}`);
  const out: WorkloadRequest[][] = Array.from({ length: n }, () => []);
  if (map === 'rr') {
    w.requests.forEach((q, i) => out[Math.floor(i / chunk) % n].push(q));
    return out;
  }
  if (map !== 'tid') throw new RangeError(`assignCallers: unknown map ${JSON.stringify(map)}; one of: tid, rr`);
  const callerOf = new Map<number, number>();
  let untagged = 0;
  for (const q of w.requests) {
    if (q.tid === -1) {
      out[untagged++ % n].push(q);
      continue;
    }
    let c = callerOf.get(q.tid);
    if (c === undefined) {
      c = callerOf.size % n;
      callerOf.set(q.tid, c);
    }
    out[c].push(q);
  }
  return out;
}

function count(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}

function size(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  if (bytes < 1024) return `${bytes} B`;
  let v = bytes / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

function seconds(t: number): string {
  return t >= 100 ? t.toFixed(0) : String(Number(t.toPrecision(3)));
}

/** One line: what the trace is, how much it holds, how long it ran and what was left out. */
export function describeWorkload(w: Workload): string {
  let reads = 0;
  let writes = 0;
  let tags = 0;
  let bytes = 0;
  let end = 0;
  for (const q of w.requests) {
    if (q.op === 'T') tags++;
    else {
      if (q.op === 'R') reads++;
      else writes++;
      bytes += q.length;
    }
    end = Math.max(end, q.t);
  }
  const what = [count(reads, 'read'), count(writes, 'write'), ...(tags ? [count(tags, 'tag')] : []), size(bytes)].join(', ');
  const skipped = Object.entries(w.skipped).map(([k, n]) => `${n.toLocaleString('en-US')} ${k}`);
  return (
    `${w.file}: ${FORMAT_NAMES[w.format]}, ${count(reads + writes, 'request')} (${what}), ${count(w.sources.length, 'source')}, ${count(w.tids.length, 'tid')}, ` +
    `${w.timed ? `${seconds(end)} s recorded` : 'untimed'}; ${skipped.length ? `skipped: ${skipped.join(', ')}` : 'nothing skipped'}`
  );
}
