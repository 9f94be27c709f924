/**
 * kiolab's own request lines, the format of BootCache's `--requests` file grown two optional
 * fields: `R|W offset length [time_s [tid]]` and `T tag [time_s [tid]]`, `#` comments, blank
 * lines; offsets, lengths, tags and tids in decimal or 0x hex, times in decimal seconds. Either
 * every R/W line has a time or none has; a T line without one takes the time of the line
 * before it. The whole file is one source at offset 0.
 */
import { lineError, splitLines, TraceBuilder, type Workload, wholeNumber } from './model.js';

export const KIOLAB_SHAPE = '"R|W offset length [time_s [tid]]" or "T tag [time_s [tid]]"';

const TIME = /^(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;

interface Line {
  no: number;
  text: string;
  op: 'R' | 'W' | 'T';
  a: number;
  len: number;
  time: number | null;
  tid: number;
}

/** Whether a (comment-free, trimmed) line reads as a kiolab request line. */
export function looksLikeKiolab(s: string): boolean {
  return /^[RWT]\s/i.test(s);
}

export function parseKiolabLines(text: string, file: string): Workload {
  const parsed: Line[] = [];
  splitLines(text).forEach((raw, i) => {
    const s = raw.replace(/#.*/, '').trim();
    if (!s) return;
    const no = i + 1;
    const f = s.split(/\s+/);
    const op = f[0].toUpperCase();
    if (op !== 'R' && op !== 'W' && op !== 'T') throw lineError(file, no, `expected ${KIOLAB_SHAPE}`, s);
    const nargs = op === 'T' ? 1 : 2;
    if (f.length < 1 + nargs || f.length > 3 + nargs) throw lineError(file, no, `expected ${op === 'T' ? '"T tag [time_s [tid]]"' : '"R|W offset length [time_s [tid]]"'}`, s);
    const a = wholeNumber(f[1]);
    if (a === null) throw lineError(file, no, `expected the ${op === 'T' ? 'tag' : 'offset'} as a whole number (decimal or 0x hex) below 2^53`, s);
    let len = 0;
    if (op !== 'T') {
      const l = wholeNumber(f[2]);
      if (l === null) throw lineError(file, no, 'expected the length as a whole number (decimal or 0x hex) below 2^53', s);
      if (l === 0) throw lineError(file, no, 'expected a length > 0', s);
      if (!Number.isSafeInteger(a + l)) throw lineError(file, no, 'expected offset + length below 2^53', s);
      len = l;
    }
    const ts = f[1 + nargs];
    let time: number | null = null;
    if (ts !== undefined) {
      time = TIME.test(ts) ? Number(ts) : NaN;
      if (!Number.isFinite(time)) throw lineError(file, no, 'expected the time in seconds (a decimal number >= 0)', s);
    }
    const tidTok = f[2 + nargs];
    let tid = -1;
    if (tidTok !== undefined) {
      const v = wholeNumber(tidTok);
      if (v === null) throw lineError(file, no, 'expected the tid as a whole number (decimal or 0x hex)', s);
      tid = v;
    }
    parsed.push({ no, text: s, op, a, len, time, tid });
  });

  const b = new TraceBuilder(file);
  const first = parsed.find((l) => l.op !== 'T');
  const timed = first !== undefined && first.time !== null;
  const firstTime = parsed.find((l) => l.time !== null)?.time ?? 0;
  const src = b.source(file);
  let last: number | null = null;
  for (const l of parsed) {
    if (l.op !== 'T' && (l.time !== null) !== timed) {
      throw lineError(file, l.no, timed ? `expected a time after the length (line ${first!.no} has one: every R/W line needs one)` : `expected no time (line ${first!.no} has none: no R/W line may have one)`, l.text);
    }
    if (l.op === 'T' && l.time !== null && !timed) throw lineError(file, l.no, 'expected no time on a tag in an untimed trace', l.text);
    if (l.time !== null && last !== null && l.time < last) throw lineError(file, l.no, `expected a time >= ${last} (time must not go backwards)`, l.text);
    const time = l.time ?? last ?? firstTime;
    if (l.time !== null) last = l.time;
    if (l.op === 'T') b.tag(l.a, time, l.tid);
    else b.io(l.op, src, l.a, l.len, time, l.tid);
  }
  return b.finish('kiolab', timed, 1);
}
