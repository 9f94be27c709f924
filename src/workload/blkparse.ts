/**
 * blkparse's default text output (`blkparse -i <trace>`): one event a line,
 * `maj,min cpu sequence seconds.nanoseconds pid action RWBS [sector + count] [(elapsed)] [[process]]`.
 * One event per request: the Q (queued) events when the trace has any, else the D (issued)
 * ones; everything else is counted in `skipped` by kind, as are the message lines (`m N text`)
 * and the per-cpu, per-device and per-program summaries blkparse prints at the end. Events are
 * merged by time (a stable sort: blkparse interleaves its per-cpu streams); each device is a
 * source; sectors are 512 bytes; a request's tid is the event's pid.
 */
import { decimal, lineError, splitLines, TraceBuilder, type Workload } from './model.js';

/** The event header: device, cpu, sequence, seconds, nanoseconds, pid, action, RWBS, the rest. */
export const BLKPARSE_EVENT = /^(\d+,\d+)\s+(\d+)\s+(\d+)\s+(\d+)\.(\d+)\s+(\d+)\s+([A-Za-z]{1,2})\s+([A-Z]+)(?:\s+(.*))?$/;

/** The lines of blkparse's closing summaries (recognised anywhere). */
const SUMMARY_HEAD = /^(CPU\d+|Total) \(.+\):$/; // "CPU0 (8,0):", "Total (sda):"
const PROGRAM_HEAD = /^\S.* \(\d+\)$/; // "-s": "fio (1234)"
const SUMMARY_LINES = [/^Throughput \(R\/W\): /, /^Events \(.+\): \d+ entries$/, /^Skips: \d+ forward /, /^Input file .+ added$/];
/** " Reads Queued:      2,   8KiB	 Writes Queued: ..." (only after a summary head). */
const SUMMARY_ROW = /^\s+[A-Za-z][A-Za-z ]*:\s+\d/;

const SECTOR = 512;

interface Event {
  no: number;
  text: string;
  dev: string;
  /** Nanoseconds since the trace began. */
  ns: number;
  pid: number;
  act: string;
  rwbs: string;
  rest: string;
}

export function looksLikeBlkparse(line: string): boolean {
  return BLKPARSE_EVENT.test(line.trim());
}

export function parseBlkparse(text: string, file: string): Workload {
  const b = new TraceBuilder(file);
  const events: Event[] = [];
  let inSummary = false;
  splitLines(text).forEach((raw, i) => {
    const s = raw.trim();
    if (!s) return;
    const m = BLKPARSE_EVENT.exec(s);
    if (m) {
      const [, dev, , , sec, frac, pid, act, rwbs, rest] = m;
      const secs = decimal(sec);
      const ns = secs === null ? NaN : secs * 1e9 + Number(frac.padEnd(9, '0').slice(0, 9));
      if (!Number.isSafeInteger(ns)) throw lineError(file, i + 1, 'expected a time below 2^53 nanoseconds', s);
      const p = decimal(pid);
      if (p === null) throw lineError(file, i + 1, 'expected a pid below 2^53', s);
      if (act === 'm') b.skip('blkparse message');
      else events.push({ no: i + 1, text: s, dev, ns, pid: p, act, rwbs, rest: rest ?? '' });
      return;
    }
    if (SUMMARY_HEAD.test(s) || PROGRAM_HEAD.test(s)) inSummary = true;
    else if (!SUMMARY_LINES.some((re) => re.test(s)) && !(inSummary && SUMMARY_ROW.test(raw))) {
      throw lineError(file, i + 1, 'expected a blkparse event ("maj,min cpu seq sec.nsec pid action RWBS ...") or a summary line', s);
    }
    b.skip('blkparse summary');
  });
  const pick = events.some((e) => e.act === 'Q') ? 'Q' : 'D';
  events.sort((x, y) => x.ns - y.ns);
  for (const e of events) {
    const src = b.source(e.dev);
    if (e.act !== pick) {
      b.skip(`blkparse action ${e.act}`);
      continue;
    }
    const range = /^(\S+)\s+\+\s+(\S+)(?:\s|$)/.exec(e.rest);
    if (/[DE]/.test(e.rwbs)) {
      b.skip('trim'); // discard, secure erase
      continue;
    }
    if (!range) {
      b.skip(/F/.test(e.rwbs) ? 'blkparse flush' : 'blkparse no data'); // a flush, or a payload (SCSI pc)
      continue;
    }
    const op = e.rwbs.includes('W') ? 'W' : e.rwbs.includes('R') ? 'R' : null;
    if (op === null) {
      b.skip(`blkparse RWBS ${e.rwbs}`);
      continue;
    }
    const sector = decimal(range[1]);
    const count = decimal(range[2]);
    if (sector === null || count === null) throw lineError(file, e.no, 'expected "sector + count" in whole sectors', e.text);
    if (count === 0) throw lineError(file, e.no, 'expected a count of sectors > 0', e.text);
    const offset = sector * SECTOR;
    const length = count * SECTOR;
    if (!Number.isSafeInteger(offset + length)) throw lineError(file, e.no, 'expected (sector + count) * 512 below 2^53', e.text);
    b.io(op, src, offset, length, e.ns, e.pid);
  }
  return b.finish('blkparse', true, 1e9);
}
