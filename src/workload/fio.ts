/**
 * fio's iolog, versions 2 and 3 (`write_iolog` / `read_iolog`). After the header line
 * `fio version N iolog`, each line is `filename action` (add, open, close) or
 * `filename action offset length` (read, write, trim, sync, datasync, and in v2 wait);
 * v3 puts a timestamp in microseconds since the job started in front of every line. A v2
 * `wait` line's offset is a pause in microseconds (fio's documented unit), added to the
 * trace's clock. Each file is a source; a request's tid is its file's index.
 */
import { decimal, lineError, splitLines, TraceBuilder, type Workload, WorkloadError } from './model.js';

export const FIO_HEADER = /^fio version (\d+) iolog$/;

const IO_ACTIONS = new Set(['read', 'write', 'trim', 'sync', 'datasync', 'wait']);
const FILE_ACTIONS = new Set(['add', 'open', 'close']);

export function parseFioIolog(text: string, file: string, version: 2 | 3): Workload {
  const lines = splitLines(text);
  const b = new TraceBuilder(file);
  const want = `fio version ${version} iolog`;
  let i = 0;
  while (i < lines.length && !lines[i].trim()) i++;
  if (i === lines.length) throw new WorkloadError(`${file}: empty`);
  if (lines[i].trim() !== want) throw lineError(file, i + 1, `expected the header "${want}"`, lines[i]);
  const shape = version === 3 ? '"timestamp filename add|open|close" or "timestamp filename read|write|trim|sync|datasync offset length"' : '"filename add|open|close" or "filename read|write|trim|sync|datasync|wait offset length"';
  let clock = 0; // v2: microseconds of wait so far; v3: the last timestamp
  let timed = version === 3;
  for (i++; i < lines.length; i++) {
    const s = lines[i].trim();
    if (!s) continue;
    const no = i + 1;
    const f = s.split(/\s+/);
    if (version === 3) {
      const ts = decimal(f[0]);
      if (ts === null) throw lineError(file, no, 'expected a timestamp (whole microseconds) first', s);
      if (ts < clock) throw lineError(file, no, `expected a timestamp >= ${clock} (time must not go backwards)`, s);
      clock = ts;
      f.shift();
    }
    const [name, action] = f;
    const actions = `add, open, close, read, write, trim, sync, datasync${version === 2 ? ', wait' : ''}`;
    if (f.length < 2) throw lineError(file, no, `expected ${shape}`, s);
    if (FILE_ACTIONS.has(action)) {
      if (f.length !== 2) throw lineError(file, no, `expected nothing after "${name} ${action}"`, s);
      if (action === 'add') b.source(name);
      else if (!b.has(name)) throw lineError(file, no, `expected an "add" line for ${name} before this`, s);
      continue;
    }
    if (!IO_ACTIONS.has(action)) throw lineError(file, no, `expected an action (${actions})`, s);
    if (action === 'wait' && version === 3) throw lineError(file, no, 'expected no "wait" in a v3 iolog (its timestamps carry the time)', s);
    if (f.length !== 4) throw lineError(file, no, `expected "${action}" to be followed by offset and length`, s);
    const offset = decimal(f[2]);
    const length = decimal(f[3]);
    if (offset === null) throw lineError(file, no, 'expected the offset as a whole number of bytes', s);
    if (length === null) throw lineError(file, no, 'expected the length as a whole number of bytes', s);
    if (action === 'wait') {
      clock += offset;
      if (!Number.isSafeInteger(clock)) throw lineError(file, no, 'expected the waits to add up to less than 2^53 microseconds', s);
      timed = true;
      continue;
    }
    if (!b.has(name)) throw lineError(file, no, `expected an "add" line for ${name} before its I/O`, s);
    if (action === 'sync' || action === 'datasync') {
      b.skip(`fio ${action}`);
      continue;
    }
    if (action === 'trim') {
      b.skip('trim');
      continue;
    }
    if (length === 0) throw lineError(file, no, 'expected a length > 0', s);
    if (!Number.isSafeInteger(offset + length)) throw lineError(file, no, 'expected offset + length below 2^53', s);
    const src = b.source(name);
    b.io(action === 'read' ? 'R' : 'W', src, offset, length, clock, src);
  }
  return b.finish(version === 3 ? 'fio-iolog-v3' : 'fio-iolog-v2', timed, 1e6);
}
