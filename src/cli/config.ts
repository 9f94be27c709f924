/**
 * `--config FILE`: a JSON scenario file of option values, e.g.
 *
 *   { "scenario": "bufcache", "seed": 7, "duration": 10, "cpus": 4, "ramp": 1 }
 *
 * Keys are the long option names (common and the scenario's); `scenario` names the scenario,
 * `description`/`comment` are free text. Every problem is a UsageError naming the file, the field
 * and the bad value; the command line overrides the file.
 */
import { readFileSync } from 'node:fs';
import { type OptionSpec, type OptionValues, UsageError, checkNumber } from './registry.js';

const FREE_TEXT = new Set(['description', 'comment', '$schema']);
const NOT_IN_FILE = new Set(['config', 'help']);

export interface ConfigFile {
  scenario?: string;
  values: OptionValues;
}

/** Read and parse the file (no validation of fields yet: that needs the scenario's options). */
export function readConfig(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`--config ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--config ${path}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new UsageError(`--config ${path}: expected a JSON object of option values, got ${Array.isArray(v) ? 'an array' : JSON.stringify(v)}`);
  }
  return v as Record<string, unknown>;
}

/** Check every field against `known` (the scenario's options and the common ones). */
export function validateConfig(path: string, raw: Record<string, unknown>, known: Record<string, OptionSpec>): ConfigFile {
  const values: OptionValues = {};
  let scenario: string | undefined;
  const field = (k: string) => `--config ${path}: field ${JSON.stringify(k)}`;
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'scenario') {
      if (typeof v !== 'string' || v === '') throw new UsageError(`${field(k)}: expected a scenario name, got ${JSON.stringify(v)}`);
      scenario = v;
      continue;
    }
    if (FREE_TEXT.has(k)) continue;
    if (NOT_IN_FILE.has(k)) throw new UsageError(`${field(k)}: not allowed in a config file`);
    const spec = known[k];
    if (!spec) {
      const names = Object.keys(known).filter((n) => !NOT_IN_FILE.has(n));
      throw new UsageError(`${field(k)}: unknown option (value ${JSON.stringify(v)}); known: scenario, ${names.join(', ')}`);
    }
    if (spec.type === 'boolean') {
      if (typeof v !== 'boolean') throw new UsageError(`${field(k)}: expected true or false, got ${JSON.stringify(v)}`);
      values[k] = v;
      continue;
    }
    if (spec.number) {
      if (typeof v !== 'number' && typeof v !== 'string') throw new UsageError(`${field(k)}: expected a number, got ${JSON.stringify(v)}`);
      checkNumber(field(k), spec.number, v);
      values[k] = String(v);
      continue;
    }
    if (typeof v === 'string') values[k] = v;
    else if (typeof v === 'number' && Number.isFinite(v)) values[k] = String(v);
    else throw new UsageError(`${field(k)}: expected a string, got ${JSON.stringify(v)}`);
  }
  return { scenario, values };
}
