/**
 * Code sites for reports: where in kiolab (or in a user's module) an event of the race lab's log
 * was made. A data race found in explore names its two accesses by cpu, struct and field; the
 * runner then replays the failing iteration with `captureSites`, and the hook calls `codeSite`
 * at exactly those two events. Only a replay pays for the stacks.
 *
 * Frames are mapped back to the TypeScript sources through the compiler's source maps (read
 * with node:module's SourceMap, so no flag is needed), and the frames of the machinery between
 * the model and the hook (src/shm, src/sync, this lab's hook) are left out.
 */
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Frames of these folders (of dist/ or the sources) are the access machinery, not the model. */
const MACHINERY = [`${sep}src${sep}shm${sep}`, `${sep}src${sep}sync${sep}`, `${sep}src${sep}race${sep}hook.`, `${sep}src${sep}race${sep}sites.`];
/** How many frames of the model a site keeps. */
const FRAMES = 4;

const maps = new Map<string, SourceMap | null>();

function sourceMap(file: string): SourceMap | null {
  let m = maps.get(file);
  if (m === undefined) {
    try {
      m = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')));
    } catch {
      m = null;
    }
    maps.set(file, m);
  }
  return m;
}

/** The repository (or package) root: two levels above dist/src/race. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** `file:line` of a generated position, mapped to its source when a source map says where. */
function place(file: string, line: number, col: number): string {
  const m = sourceMap(file);
  const e = m?.findEntry(line - 1, col - 1) as { originalSource?: string; originalLine?: number } | undefined;
  if (e && e.originalSource !== undefined && e.originalLine !== undefined) {
    const src = e.originalSource.startsWith('file:') ? fileURLToPath(e.originalSource) : resolve(dirname(file), e.originalSource);
    return `${relative(ROOT, src)}:${e.originalLine + 1}`;
  }
  return `${relative(ROOT, file)}:${line}`;
}

const FRAME = /^\s*at (?:(.*?) \()?(.*?):(\d+):(\d+)\)?$/;

/** The caller's stack as up to FRAMES model frames, innermost first: "fn (src/x.ts:12) < caller (src/y.ts:40)". */
export function codeSite(): string {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 40;
  const stack = new Error().stack ?? '';
  Error.stackTraceLimit = limit;
  const out: string[] = [];
  for (const line of stack.split('\n').slice(1)) {
    const m = FRAME.exec(line);
    if (!m) continue;
    let file = m[2];
    if (file.startsWith('node:') || file.includes(`${sep}node_modules${sep}`)) continue;
    if (file.startsWith('file:')) file = fileURLToPath(file);
    if (MACHINERY.some((x) => file.includes(x))) continue;
    const fn = (m[1] ?? '<anonymous>').replace(/^async /, '');
    out.push(`${fn} (${place(file, Number(m[3]), Number(m[4]))})`);
    if (out.length === FRAMES) break;
  }
  return out.join(' < ') || 'unknown';
}
