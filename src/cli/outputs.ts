/**
 * Output paths of the command (`--out DIR`, `--trace FILE`, `--history-out FILE`, `--save FILE`):
 * checked before any worker starts, never clobbered without `--force`, and written at the end
 * with a one-line error when the write fails.
 *
 * Checking means proving the folder writable: its missing folders are made one level at a time
 * (Node 20's recursive mkdir never returns on some unwritable trees, /proc among them) and a
 * probe file is created and removed in it. A path that fails is a UsageError (exit 2) naming the
 * option, the path and the reason, before the load starts.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from './registry.js';

/** An output that could not be written at the end of a run (exit 2, one line). */
export class OutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutputError';
  }
}

const reason = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/** Make folder `dir` and its missing parents, one level at a time; throws what mkdir throws. */
function makeDirs(dir: string): void {
  const missing: string[] = [];
  let d = resolve(dir);
  while (!existsSync(d)) {
    missing.push(d);
    const up = dirname(d);
    if (up === d) break;
    d = up;
  }
  if (existsSync(d) && !statSync(d).isDirectory()) throw Object.assign(new Error(`${d} is not a folder`), { code: 'ENOTDIR' });
  for (const m of missing.reverse()) mkdirSync(m);
}

/** Prove `dir` writable: create and remove a probe file in it. */
function probe(dir: string): void {
  const p = join(dir, `.kiolab-probe-${process.pid}-${Date.now()}`);
  closeSync(openSync(p, 'wx'));
  unlinkSync(p);
}

/**
 * `--opt FILE` will be written at the end: its folder exists (or is made) and is writable, and
 * FILE is not a folder, nor an existing file unless `force`.
 */
export function checkOutputFile(opt: string, file: string, force: boolean): void {
  if (file === '') throw new UsageError(`--${opt}: empty file name`);
  if (existsSync(file)) {
    if (statSync(file).isDirectory()) throw new UsageError(`--${opt}: ${JSON.stringify(file)} is a folder; give a file name`);
    if (!force) throw new UsageError(`--${opt}: ${JSON.stringify(file)} exists; not overwriting it without --force`);
  }
  const dir = dirname(resolve(file));
  try {
    makeDirs(dir);
    probe(dir);
  } catch (e) {
    throw new UsageError(`--${opt}: cannot write in ${JSON.stringify(dirname(file))} (${reason(e)})`);
  }
}

/**
 * `--opt DIR` will receive `files` at the end: DIR exists (or is made) and is writable, and holds
 * none of them unless `force` (a report already there is never replaced without it).
 */
export function checkOutputDir(opt: string, dir: string, files: readonly string[], force: boolean): void {
  if (dir === '') throw new UsageError(`--${opt}: empty folder name`);
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`--${opt}: ${JSON.stringify(dir)} is a file, not a folder`);
  if (existsSync(dir) && !force) {
    const there = files.filter((f) => readdirSync(dir).includes(f));
    if (there.length > 0) throw new UsageError(`--${opt}: ${JSON.stringify(dir)} already holds ${there.join(' and ')}; not overwriting without --force (or give a new folder)`);
  }
  try {
    makeDirs(dir);
    probe(dir);
  } catch (e) {
    throw new UsageError(`--${opt}: cannot write in ${JSON.stringify(dir)} (${reason(e)})`);
  }
}

/** Write an output checked before the run; a failure is an OutputError naming the option and path. */
export function writeOutput(opt: string, file: string, data: string | Uint8Array): void {
  try {
    writeFileSync(file, data);
  } catch (e) {
    throw new OutputError(`--${opt}: could not write ${JSON.stringify(file)} (${reason(e)})`);
  }
}
