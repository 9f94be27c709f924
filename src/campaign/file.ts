/**
 * A race campaign file: what to run, validated field by field, and its expansion into jobs.
 *
 *   {
 *     "name": "switches-x2",
 *     "scenarios": [
 *       { "switches": "all" },                                   every switch, every scenario that catches it
 *       { "scenario": "biowait", "switches": ["vfs-biowait-no-interlock"], "clean": true },
 *       { "scenario": "producer-consumer", "module": "dist/examples/producer-consumer/pc.js" }
 *     ],
 *     "modes": ["explore", "stress"],
 *     "seeds": { "from": 1, "to": 3 },                           or [1, 2, 3]
 *     "iterations": 200,                                         and/or "budget": 10 (seconds per job)
 *     "replays": 3, "detect": "race", "hangMargin": 30
 *   }
 *
 * A job is one `kiolab race --json` run. Its id is the sha256 of the canonical JSON of what it
 * runs (scenario, switch, module name and content hash, mode, seed, budget, iterations, detectors,
 * replays, hang margin, kiolab's version), so a job listed twice, or submitted twice, runs once.
 * Every problem is a RangeError naming the file and the field ("campaign FILE: field
 * "scenarios[1].switches[0]": ..."), which the command turns into exit 2.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { BUGS, bugInfo } from '../race/bugs.js';
import type { RaceMode } from '../race/control.js';
import { raceScenarios } from '../race/scenario.js';

/** kiolab's version: part of every job id (explore is deterministic for one build). */
export const KIOLAB_VERSION: string = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export const MODES: readonly RaceMode[] = ['stress', 'explore', 'bounded'];

/** One job: everything a `kiolab race` run needs, and nothing else (no path, no command). */
export interface CampaignJob {
  scenario: string;
  bug: string | null;
  /** A user module the scenario comes from: its file name and the sha256 of its content. */
  module: { name: string; sha256: string } | null;
  mode: RaceMode;
  seed: number;
  /** Seconds of the run's budget (`--budget`). */
  budget: number;
  /** `--iterations`: the run ends there (deterministic in explore), or null (the budget ends it). */
  iterations: number | null;
  detect: 'race' | null;
  /** Replays of an explore/bounded failure's saved schedule (`kiolab replay --times`). */
  replays: number;
  /** Seconds past the budget after which the run is killed and reported as a hang. */
  hangMargin: number;
  version: string;
}

/** A campaign expanded: its jobs in a fixed order, and where each user module is on this machine. */
export interface Campaign {
  name: string;
  jobs: { id: string; job: CampaignJob }[];
  /** sha256 of a module's content → its absolute path here. */
  modules: Map<string, string>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const TOP_FIELDS = ['name', 'description', 'comment', '$schema', 'scenarios', 'modes', 'seeds', 'budget', 'iterations', 'replays', 'detect', 'hangMargin', 'mutants'];
const ENTRY_FIELDS = ['scenario', 'switches', 'clean', 'module', 'comment'];
const MAX_JOBS = 1_000_000;

/** The canonical JSON of a value: object keys sorted, no spaces. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

export const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** A job's id: the sha256 of its canonical JSON. */
export function jobId(job: CampaignJob): string {
  return sha256(canonicalJson(job));
}

/** A short human name of a job: "biowait vfs-biowait-no-interlock explore seed 1". */
export function jobLabel(job: CampaignJob): string {
  return `${job.scenario} ${job.bug ?? '(clean)'} ${job.mode} seed ${job.seed}`;
}

/**
 * Check that `data` is a campaign job, exactly: the fields and types of `CampaignJob` and no
 * other. A worker runs nothing else (a queue it shares cannot make it run anything but a race).
 * Throws a RangeError naming the field.
 */
export function checkJob(data: unknown): CampaignJob {
  const bad = (f: string, why: string): never => {
    throw new RangeError(`campaign job: field ${JSON.stringify(f)}: ${why}`);
  };
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new RangeError('campaign job: not an object');
  const d = data as Record<string, unknown>;
  const want = ['scenario', 'bug', 'module', 'mode', 'seed', 'budget', 'iterations', 'detect', 'replays', 'hangMargin', 'version'];
  for (const k of Object.keys(d)) if (!want.includes(k)) bad(k, 'not a field of a campaign job');
  for (const k of want) if (!(k in d)) bad(k, 'missing');
  const word = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
  if (typeof d.scenario !== 'string' || !word.test(d.scenario)) bad('scenario', `expected a scenario name, got ${JSON.stringify(d.scenario)}`);
  if (d.bug !== null && (typeof d.bug !== 'string' || !word.test(d.bug))) bad('bug', `expected a switch name or null, got ${JSON.stringify(d.bug)}`);
  if (d.module !== null) {
    const m = d.module as Record<string, unknown>;
    if (typeof m !== 'object' || Array.isArray(m) || Object.keys(m).sort().join() !== 'name,sha256') bad('module', 'expected null or { name, sha256 }');
    if (typeof m.name !== 'string' || !/^[^/\\\0]{1,255}$/.test(m.name)) bad('module.name', 'expected a file name');
    if (typeof m.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.sha256)) bad('module.sha256', 'expected 64 hex digits');
  }
  if (!MODES.includes(d.mode as RaceMode)) bad('mode', `expected ${MODES.join(', ')}, got ${JSON.stringify(d.mode)}`);
  const int = (k: string, min: number, max: number, nullable = false) => {
    const v = d[k];
    if (nullable && v === null) return;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(k, `expected a whole number in [${min}, ${max}]${nullable ? ' or null' : ''}, got ${JSON.stringify(v)}`);
  };
  const num = (k: string, min: number, max: number) => {
    const v = d[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) bad(k, `expected a number in [${min}, ${max}], got ${JSON.stringify(v)}`);
  };
  int('seed', 0, 2 ** 31 - 1);
  num('budget', 0.1, 604_800);
  int('iterations', 1, 1e12, true);
  if (d.detect !== null && d.detect !== 'race') bad('detect', `expected "race" or null, got ${JSON.stringify(d.detect)}`);
  int('replays', 0, 1000);
  num('hangMargin', 1, 86_400);
  if (typeof d.version !== 'string' || !/^[0-9A-Za-z.+-]{1,64}$/.test(d.version)) bad('version', `expected a version, got ${JSON.stringify(d.version)}`);
  return d as unknown as CampaignJob;
}

export interface LoadOptions {
  /** Import a user module named by the file (the command's loader: it also makes it a worker module). */
  loadModule(absPath: string, what: string): Promise<void>;
}

/** Read, validate and expand a campaign file. */
export async function loadCampaign(path: string, o: LoadOptions): Promise<Campaign> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new RangeError(`campaign ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new RangeError(`campaign ${path}: not valid JSON (${(e as Error).message})`);
  }
  return expandCampaign(raw, { ...o, path, defaultName: basename(path).replace(/\.json$/i, '') });
}

/** Validate a parsed campaign file and expand it into jobs (see the file's header). */
export async function expandCampaign(raw: unknown, o: LoadOptions & { path: string; defaultName?: string }): Promise<Campaign> {
  const bad = (field: string, why: string): never => {
    throw new RangeError(`campaign ${o.path}: field ${JSON.stringify(field)}: ${why}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new RangeError(`campaign ${o.path}: expected a JSON object, got ${Array.isArray(raw) ? 'an array' : JSON.stringify(raw)}`);
  const f = raw as Record<string, unknown>;
  for (const k of Object.keys(f)) if (!TOP_FIELDS.includes(k)) bad(k, `unknown field; known: ${TOP_FIELDS.filter((x) => x !== '$schema').join(', ')}`);
  if (f.mutants !== undefined) bad('mutants', 'the mutation suite is not a campaign job yet (it needs a patched build per mutant on every worker: npm run bench -- --only mutants runs it on one machine)');

  const name = f.name ?? o.defaultName;
  if (typeof name !== 'string' || !NAME.test(name)) bad('name', `expected 1-64 letters, digits, '.', '_' or '-' (starting with a letter or digit), got ${JSON.stringify(name)}`);

  const modes = f.modes ?? ['explore'];
  if (!Array.isArray(modes) || modes.length === 0) bad('modes', `expected a non-empty list of ${MODES.join(', ')}, got ${JSON.stringify(modes)}`);
  (modes as unknown[]).forEach((m, i) => {
    if (!MODES.includes(m as RaceMode)) bad(`modes[${i}]`, `expected ${MODES.join(', ')}, got ${JSON.stringify(m)}`);
  });

  const seeds = expandSeeds(f.seeds ?? [1], bad);
  const positive = (k: string, min: number, max: number, integer: boolean): number | undefined => {
    const v = f[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) bad(k, `expected ${integer ? 'a whole number' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(v)}`);
    return v as number;
  };
  const budgetIn = positive('budget', 0.1, 604_800, false);
  const iterations = positive('iterations', 1, 1e12, true) ?? null;
  if (budgetIn === undefined && iterations === null) bad('budget', 'give a budget in seconds per job ("budget": 10), an iteration count per job ("iterations": 200), or both');
  // An iteration count alone still needs a bound in time: a minute per job.
  const budget = budgetIn ?? 60;
  const replays = positive('replays', 0, 1000, true) ?? 3;
  const hangMargin = positive('hangMargin', 1, 86_400, false) ?? Math.max(30, budget);
  if (f.detect !== undefined && f.detect !== 'race') bad('detect', `expected "race" (the data-race detector), got ${JSON.stringify(f.detect)}`);
  const detect = f.detect === 'race' ? 'race' : null;

  if (!Array.isArray(f.scenarios) || f.scenarios.length === 0) bad('scenarios', `expected a non-empty list of entries such as { "switches": "all" } or { "scenario": "biowait", "switches": ["vfs-biowait-no-interlock"] }, got ${JSON.stringify(f.scenarios)}`);
  const modules = new Map<string, string>();
  const pairs: { scenario: string; bug: string | null; module: CampaignJob['module'] }[] = [];
  const entries = f.scenarios as unknown[];
  for (let i = 0; i < entries.length; i++) {
    const at = `scenarios[${i}]`;
    const e = entries[i];
    if (typeof e !== 'object' || e === null || Array.isArray(e)) bad(at, `expected an object, got ${JSON.stringify(e)}`);
    const en = e as Record<string, unknown>;
    for (const k of Object.keys(en)) if (!ENTRY_FIELDS.includes(k)) bad(`${at}.${k}`, `unknown field; known: ${ENTRY_FIELDS.join(', ')}`);
    let module: CampaignJob['module'] = null;
    if (en.module !== undefined) {
      if (typeof en.module !== 'string' || en.module === '') bad(`${at}.module`, `expected a module's path (relative to the campaign file), got ${JSON.stringify(en.module)}`);
      const abs = resolve(dirname(resolve(o.path)), en.module as string);
      let content: Buffer;
      try {
        content = readFileSync(abs);
      } catch (err) {
        return bad(`${at}.module`, `cannot read ${JSON.stringify(en.module)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
      await o.loadModule(abs, `campaign ${o.path}: field "${at}.module"`);
      module = { name: basename(abs), sha256: sha256(content) };
      modules.set(module.sha256, abs);
    }
    if (en.clean !== undefined && typeof en.clean !== 'boolean') bad(`${at}.clean`, `expected true or false, got ${JSON.stringify(en.clean)}`);
    const all = raceScenarios().filter((s) => !s.synthetic || s.name === en.scenario);
    let scenarioNames: string[];
    let switches: string[];
    if (en.scenario !== undefined) {
      if (typeof en.scenario !== 'string') bad(`${at}.scenario`, `expected a race scenario's name, got ${JSON.stringify(en.scenario)}`);
      const sc = raceScenarios().find((s) => s.name === en.scenario);
      if (!sc) bad(`${at}.scenario`, `unknown race scenario ${JSON.stringify(en.scenario)}; known: ${raceScenarios().map((s) => s.name).join(', ')}${module ? '' : ' (a scenario of your own: give its "module")'}`);
      scenarioNames = [sc!.name];
      switches = en.switches === undefined ? [...sc!.bugs] : checkSwitches(en.switches, `${at}.switches`, bad);
      for (let j = 0; j < switches.length; j++) if (!sc!.bugs.includes(switches[j])) bad(`${at}.switches[${j}]`, `scenario ${sc!.name} does not catch ${switches[j]}; it catches: ${sc!.bugs.join(', ') || 'no switch'}`);
      for (const b of switches) pairs.push({ scenario: sc!.name, bug: b, module });
    } else {
      if (en.switches === undefined) bad(at, 'give a "scenario", "switches" ("all" or a list), or both');
      switches = checkSwitches(en.switches, `${at}.switches`, bad);
      switches.forEach((b, j) => {
        if (!all.some((s) => s.bugs.includes(b))) bad(`${at}.switches[${j}]`, `no race scenario catches ${b}`);
      });
      scenarioNames = [];
      for (const b of switches) {
        for (const s of all.filter((x) => x.bugs.includes(b))) {
          pairs.push({ scenario: s.name, bug: b, module });
          if (!scenarioNames.includes(s.name)) scenarioNames.push(s.name);
        }
      }
    }
    if (en.clean === true) for (const s of scenarioNames) pairs.push({ scenario: s, bug: null, module });
  }

  const jobs: Campaign['jobs'] = [];
  const seen = new Set<string>();
  for (const p of pairs) {
    for (const mode of modes as RaceMode[]) {
      for (const seed of seeds) {
        const job: CampaignJob = { scenario: p.scenario, bug: p.bug, module: p.module, mode, seed, budget, iterations, detect, replays, hangMargin, version: KIOLAB_VERSION };
        const id = jobId(job);
        if (seen.has(id)) continue;
        seen.add(id);
        jobs.push({ id, job });
        if (jobs.length > MAX_JOBS) bad('scenarios', `more than ${MAX_JOBS.toLocaleString('en-US')} jobs`);
      }
    }
  }
  return { name: name as string, jobs, modules };
}

function checkSwitches(v: unknown, at: string, bad: (f: string, why: string) => never): string[] {
  if (v === 'all') return BUGS.filter((b) => b.implemented).map((b) => b.name);
  if (!Array.isArray(v)) return bad(at, `expected "all" or a list of switch names, got ${JSON.stringify(v)}`);
  return v.map((b, j) => {
    if (typeof b !== 'string') return bad(`${at}[${j}]`, `expected a switch name, got ${JSON.stringify(b)}`);
    let info;
    try {
      info = bugInfo(b);
    } catch (e) {
      return bad(`${at}[${j}]`, (e as Error).message);
    }
    if (!info.implemented) return bad(`${at}[${j}]`, `${b} is not implemented yet`);
    return b;
  });
}

function expandSeeds(v: unknown, bad: (f: string, why: string) => never): number[] {
  const okSeed = (s: unknown) => typeof s === 'number' && Number.isInteger(s) && s >= 0 && s <= 2 ** 31 - 1;
  if (Array.isArray(v)) {
    if (v.length === 0) bad('seeds', 'expected at least one seed');
    v.forEach((s, i) => {
      if (!okSeed(s)) bad(`seeds[${i}]`, `expected a whole number in [0, ${2 ** 31 - 1}], got ${JSON.stringify(s)}`);
    });
    return [...new Set(v as number[])];
  }
  if (typeof v === 'object' && v !== null) {
    const r = v as Record<string, unknown>;
    for (const k of Object.keys(r)) if (k !== 'from' && k !== 'to') bad(`seeds.${k}`, 'unknown field; a range is { "from": A, "to": B }');
    if (!okSeed(r.from)) bad('seeds.from', `expected a whole number in [0, ${2 ** 31 - 1}], got ${JSON.stringify(r.from)}`);
    if (!okSeed(r.to) || (r.to as number) < (r.from as number)) bad('seeds.to', `expected a whole number >= from (${JSON.stringify(r.from)}), got ${JSON.stringify(r.to)}`);
    const n = (r.to as number) - (r.from as number) + 1;
    if (n > 100_000) bad('seeds', `at most 100,000 seeds, got ${n}`);
    return Array.from({ length: n }, (_, i) => (r.from as number) + i);
  }
  return bad('seeds', `expected a list of seeds or { "from": A, "to": B }, got ${JSON.stringify(v)}`);
}
