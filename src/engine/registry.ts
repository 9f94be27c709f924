/**
 * What the `kiolab` command offers: benchmark scenarios and subcommands. Subsystems register
 * theirs in `src/engine/cli-<subsystem>.ts`; `src/cli.ts` only parses and dispatches.
 */

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
}

export type OptionValues = Record<string, string | boolean | undefined>;

export interface Scenario {
  name: string;
  /** One line for `kiolab list`. */
  description: string;
  /** Options of this scenario beyond the common ones (--json, --help). */
  options?: Record<string, OptionSpec>;
  run(opts: OptionValues, progress?: (line: string) => void): Promise<unknown>;
  /** The human report. */
  format(report: unknown): string;
  /** 1 when the report shows a failed check (default 0). */
  exitCode?(report: unknown): number;
}

export interface Command {
  name: string;
  /** One line for `kiolab --help`. */
  summary: string;
  /** Returns the exit code. */
  run(argv: string[]): Promise<number>;
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

/** Help text of a scenario's options. */
export function optionsHelp(options: Record<string, OptionSpec>): string {
  return Object.entries(options)
    .map(([k, o]) => `  --${k}${o.type === 'string' ? ' VALUE' : ''}`.padEnd(26) + o.help)
    .join('\n');
}
