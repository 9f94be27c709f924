/**
 * The command line parser every kiolab command uses: node:util's parseArgs, with two fixes a
 * user should not have to think about. A negative number after an option that takes a value
 * (`--duration -1`) is that option's value, so the option's own check can say what is wrong with
 * it, instead of the parser's "ambiguous" message. And every parser error is one UsageError line
 * (exit 2) naming the option.
 */
import { parseArgs } from 'node:util';
import { UsageError } from './registry.js';

export interface ArgSpec {
  type: 'string' | 'boolean';
  short?: string;
}

/** A value that looks like a negative number (`-1`, `-0.5`, `-1e3`, `-.5`). */
const NEGATIVE = /^-(\d|\.\d)/;

/**
 * `--opt -N` becomes `--opt=-N` (and `-o -N` becomes `-o=-N` for a short string option), so
 * that parseArgs takes -N as the value.
 */
export function joinNegativeValues(argv: readonly string[], options: Record<string, ArgSpec>): string[] {
  const out: string[] = [];
  const shorts = new Map(Object.entries(options).filter(([, o]) => o.short).map(([k, o]) => [o.short!, k]));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = argv[i + 1];
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const long = a.startsWith('--') && !a.includes('=') ? a.slice(2) : a.length === 2 && a[0] === '-' ? shorts.get(a[1]) : undefined;
    if (long !== undefined && options[long]?.type === 'string' && next !== undefined && NEGATIVE.test(next)) {
      out.push(`--${long}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** Parse `argv` against `options`; a parser error is a UsageError naming `what` (the command). */
export function parseCommandArgs(what: string, argv: readonly string[], options: Record<string, ArgSpec>, allowPositionals = true): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args: joinNegativeValues(argv, options), options: options as never, allowPositionals, strict: true });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (e) {
    if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      // parseArgs' messages run over several lines and suggest things that do not apply here.
      const msg = (e as Error).message.split('\n')[0].replace(/\. To specify a positional argument.*$/, '');
      throw new UsageError(`${what}: ${msg.replace(/^Unknown option '(.*)'\.?$/, 'unknown option $1')}`);
    }
    throw e;
  }
}
