/**
 * What the `kiolab` command offers: benchmark scenarios and subcommands. Subsystems register
 * theirs in `src/cli/<subsystem>.ts`; `src/cli/main.ts` only parses and dispatches.
 */

import type { CommonOptions, OptionValues, ProgressSink, RunContext } from '../report/context.js';

export type { CommonOptions, OptionValues, ProgressSink, RunContext } from '../report/context.js';

/** Bad usage: the command exits with code 2 and prints the message. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  help: string;
  short?: string;
  /**
   * A numeric option: the command checks the value (from the command line or --config) up front
   * and exits 2 with a message naming the option or field and the bad value.
   */
  number?: { min: number; max?: number; integer?: boolean };
  /** The value's name in the help ("S", "DIR", "FILE"); default N for numbers, VALUE otherwise. */
  arg?: string;
}



/**
 * The common options a scenario honours or refuses, by group: `device` is --latency-us and
 * --bandwidth, `trace` is --trace and --trace-events. --json, --out, --config and --force apply
 * to every scenario.
 */
export type CommonKey = 'seed' | 'duration' | 'ops' | 'ramp' | 'cpus' | 'device' | 'device-file' | 'trace' | 'check' | 'as-seed' | 'workload';
export const COMMON_KEYS: readonly CommonKey[] = ['seed', 'duration', 'ops', 'ramp', 'cpus', 'device', 'device-file', 'trace', 'check', 'as-seed', 'workload'];
/** The options of each group. */
export const KEY_OPTIONS: Record<CommonKey, readonly string[]> = {
  seed: ['seed'],
  duration: ['duration'],
  ops: ['ops'],
  ramp: ['ramp'],
  cpus: ['cpus'],
  device: ['latency-us', 'bandwidth'],
  'device-file': ['device-file', 'device-sync'],
  trace: ['trace', 'trace-events'],
  check: ['check'],
  'as-seed': ['as-seed'],
  workload: ['workload', 'replay-speed', 'workload-map'],
};

/** The common options as the command parses them (scenario options of the same name win). */
export const COMMON_OPTIONS: Record<string, OptionSpec> = {
  seed: { type: 'string', help: 'seed of the pseudo-random choices', number: { min: 0, max: 2 ** 32 - 1, integer: true } },
  duration: { type: 'string', help: 'seconds of load after the ramp (at most a week)', number: { min: 0.001, max: 604_800 }, arg: 'S' },
  ops: { type: 'string', help: 'operations in all, split over the workers (with --duration: whichever ends first)', number: { min: 1, max: 1e12, integer: true } },
  ramp: { type: 'string', help: 'warm-up seconds left out of the figures (at most a day)', number: { min: 0, max: 86_400 }, arg: 'S' },
  cpus: { type: 'string', help: 'worker (cpu) count of the load roles', number: { min: 1, max: 256, integer: true } },
  json: { type: 'boolean', help: 'print the report as JSON' },
  out: { type: 'string', help: 'write DIR/report.json and DIR/report.html', arg: 'DIR' },
  trace: { type: 'string', help: 'write a Chrome Trace Event file (opens in Perfetto)', arg: 'FILE' },
  'trace-events': { type: 'string', help: 'trace ring size per cpu (default 65536)', number: { min: 16, max: 1 << 22, integer: true } },
  config: { type: 'string', help: 'a JSON scenario file of option values (the command line wins)', arg: 'FILE' },
  'latency-us': { type: 'string', help: "every device's fixed cost per request, µs", number: { min: 0, max: 1e7 } },
  bandwidth: { type: 'string', help: "every device's transfer rate, MB/s (0: instant)", number: { min: 0 }, arg: 'MBPS' },
  'device-file': { type: 'string', help: 'back the device with a real file (several: PATH-<name>)', arg: 'PATH' },
  'device-sync': { type: 'boolean', help: 'with --device-file: fdatasync each write before it completes (a disk with its write cache off)' },
  check: { type: 'boolean', help: "sample the subsystems' invariants under their locks while it runs, and poison what is freed so that a stale use shows (exit 1 on a violation)" },
  force: { type: 'boolean', help: 'overwrite output files that exist (--out, --trace and the like); without it kiolab refuses' },
  workload: { type: 'string', help: "replay a recorded block trace: fio iolog v2/v3, blkparse text, or kiolab's R|W offset length lines", arg: 'FILE' },
  'replay-speed': { type: 'string', help: 'max, recorded or a factor (2: twice as fast) (default: recorded when the trace has times, else max)', arg: 'X' },
  'workload-map': { type: 'string', help: "deal the trace's requests to the callers by thread/process id (tid) or round-robin (rr) (default tid)", arg: 'MAP' },
  'as-seed': { type: 'boolean', help: "run the seed's own code where kiolab's default fixes a catalogued race (kiolab list bugs marks those switches)" },
};



export interface Scenario {
  name: string;
  /** One line for `kiolab list`. */
  description: string;
  /** Options of this scenario beyond the common ones (COMMON_OPTIONS). */
  options?: Record<string, OptionSpec>;
  /**
   * Run it. `progress(line)` shows a status line (absent when silent); `ctx` carries the parsed
   * common options and the progress line; `opts` also holds the common options as typed.
   */
  run(opts: OptionValues, progress?: (line: string) => void, ctx?: RunContext): Promise<unknown>;
  /** The human report (default: `formatRunReport` for a RunReport, else JSON). */
  format?(report: unknown): string;
  /** 1 when the report shows a failed check (default: a failed `checks[]` entry of a RunReport). */
  exitCode?(report: unknown): number;
  /**
   * The checks the report holds, by name, and whether each held (default: a RunReport's
   * `checks[]`): the command ends every report with a verdict line made of them.
   */
  checks?(report: unknown): { name: string; ok: boolean }[];
  /**
   * The common options it honours. Each other group must have its reason in `refuses`: given
   * anyway, it is an error (exit 2) that says why, never silently ignored, and it is not in the
   * scenario's help.
   */
  honours: CommonKey[];
  /** Why each common option group it does not honour cannot apply (one line each; kiolab's own scenarios give every reason). */
  refuses?: Partial<Record<CommonKey, string>>;
}

export interface Command {
  name: string;
  /** One line for `kiolab --help`. */
  summary: string;
  /** Printed for `kiolab <name> --help` when set; otherwise `run` gets `--help` and must answer it. */
  usage?: string;
  /** Returns the exit code. */
  run(argv: string[]): Promise<number>;
}

/** A section of `kiolab list` beyond the scenarios (the race lab adds its bug switches here). */
export interface ListSection {
  title: string;
  items(): { name: string; description: string }[];
}

const listTable = new Map<string, ListSection>();

export function registerListSection(s: ListSection): void {
  listTable.set(s.title, s);
}
export function listSections(): ListSection[] {
  return [...listTable.values()];
}

const scenarioTable = new Map<string, Scenario>();
const commandTable = new Map<string, Command>();

export function registerScenario(s: Scenario): void {
  scenarioTable.set(s.name, s);
}
export function registerCommand(c: Command): void {
  commandTable.set(c.name, c);
}
export function scenarios(): Scenario[] {
  return [...scenarioTable.values()];
}
export function commands(): Command[] {
  return [...commandTable.values()];
}

/** Parse a number option: finite, >= min, integer when asked; a UsageError names the option. */
export function numOpt(name: string, v: string | boolean | undefined, min: number, opts: { integer?: boolean; max?: number } = {}): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isFinite(n) || n < min || (opts.max !== undefined && n > opts.max) || (opts.integer && !Number.isInteger(n))) {
    const range = opts.max !== undefined ? `in [${min}, ${opts.max}]` : `>= ${min}`;
    throw new UsageError(`--${name}: expected ${opts.integer ? 'a whole number' : 'a number'} ${range}, got ${JSON.stringify(v)}`);
  }
  return n;
}

/** Check a value of an option that has a `number` spec; `what` names it in the message ("--seed", "field \"seed\""). */
export function checkNumber(what: string, spec: NonNullable<OptionSpec['number']>, v: string | number | boolean | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isFinite(n) || n < spec.min || (spec.max !== undefined && n > spec.max) || (spec.integer && !Number.isInteger(n))) {
    const range = spec.max !== undefined ? `in [${spec.min}, ${spec.max}]` : `>= ${spec.min}`;
    throw new UsageError(`${what}: expected ${spec.integer ? 'a whole number' : 'a number'} ${range}, got ${JSON.stringify(v)}`);
  }
  return n;
}

/** Help text of a scenario's options. */
export function optionsHelp(options: Record<string, OptionSpec>): string {
  return Object.entries(options)
    .map(([k, o]) => `  ${o.short ? `-${o.short}, ` : ''}--${k}${o.type === 'string' ? ` ${o.arg ?? (o.number ? 'N' : 'VALUE')}` : ''}`.padEnd(26) + o.help)
    .join('\n');
}
