/**
 * `--module FILE`: a user's own module (a race scenario, a bench scenario, roles, bug switches),
 * imported before the command runs and by every worker of every machine built afterwards, so
 * that it runs in the lab exactly as kiolab's own code does. Every problem is a UsageError
 * (exit 2) in one line: a missing file, a syntax error, a module that throws while it loads, or
 * a name it registers twice.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { workerModule } from '../engine/roles.js';
import { UsageError } from './registry.js';

const loaded: string[] = [];

/** The absolute paths of the user modules loaded so far, in order. */
export function userModules(): string[] {
  return [...loaded];
}

/** Import a user module by path (relative to the current directory) and make it a worker module. */
export async function loadUserModule(path: string, what = '--module'): Promise<string> {
  const abs = resolve(path);
  if (loaded.includes(abs)) return abs;
  if (!existsSync(abs)) throw new UsageError(`${what} ${path}: no such file`);
  if (!statSync(abs).isFile()) throw new UsageError(`${what} ${path}: not a file`);
  if (!/\.(m?js|cjs)$/.test(abs)) throw new UsageError(`${what} ${path}: expected a JavaScript module (.js or .mjs; compile TypeScript first)`);
  const url = pathToFileURL(abs).href;
  try {
    await import(url);
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err instanceof SyntaxError) throw new UsageError(`${what} ${path}: syntax error: ${firstLine(err.message)}${where(err, abs)}`);
    if (err.code === 'ERR_MODULE_NOT_FOUND') throw new UsageError(`${what} ${path}: ${firstLine(err.message)}`);
    throw new UsageError(`${what} ${path}: failed to load: ${firstLine(err.message)}`);
  }
  workerModule(url);
  loaded.push(abs);
  return abs;
}

/** Take every `--module FILE` / `--module=FILE` out of `argv`; returns the files and the rest. */
export function takeModuleOptions(argv: string[]): { modules: string[]; rest: string[] } {
  const modules: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === '--module') {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('-')) throw new UsageError('--module: which file? (--module ./my-scenario.js)');
      modules.push(v);
      i++;
    } else if (a.startsWith('--module=')) {
      modules.push(a.slice('--module='.length));
    } else {
      rest.push(a);
    }
  }
  return { modules, rest };
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}

/** "(line N)" of a syntax error in the module itself, when V8's stack says so. */
function where(e: Error, abs: string): string {
  const url = pathToFileURL(abs).href;
  const m = (e.stack ?? '').match(new RegExp(`${url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(\\d+)`));
  return m ? ` (line ${m[1]})` : '';
}
