#!/usr/bin/env node
/**
 * The `kiolab` command. Exit codes: 0 ok, 1 a failure found or a check failed, 2 bad usage.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { benchPrimitives, formatPrimitives } from './engine/bench-primitives.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

class UsageError extends Error {}

const SCENARIOS: Record<string, string> = {
  primitives: 'spinlock, sleep lock and tsleep/wakeup against raw Atomics baselines',
};

const HELP = `kiolab ${pkg.version} — kernel I/O lab: BootCache, the DragonFly buffer cache and NetBSD swap
on real parallel threads over shared memory.

Usage: kiolab <command> [options]

Commands:
  bench <scenario>   run a benchmark scenario and print its report
  list               list the scenarios

Options:
  -h, --help         help (also: kiolab <command> --help)
  -V, --version      print the version

Exit codes: 0 ok, 1 a failure found or a check failed, 2 bad usage.`;

const BENCH_HELP = `Usage: kiolab bench <scenario> [options]

Scenarios:
${Object.entries(SCENARIOS)
  .map(([k, v]) => `  ${k.padEnd(12)} ${v}`)
  .join('\n')}

Options:
  --json             print the report as JSON
  --scale X          multiply the amount of work (default 1)
  --reps N           repetitions per figure, the median is reported (default 5)
  -h, --help         this help`;

function num(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`--${name}: expected a number >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

async function bench(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      scale: { type: 'string' },
      reps: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(BENCH_HELP);
    return 0;
  }
  const scenario = positionals[0];
  if (!scenario) throw new UsageError(`bench: which scenario? One of: ${Object.keys(SCENARIOS).join(', ')}`);
  if (!(scenario in SCENARIOS)) {
    throw new UsageError(`bench: unknown scenario ${JSON.stringify(scenario)}; one of: ${Object.keys(SCENARIOS).join(', ')}`);
  }
  const reps = num('reps', values.reps, 1);
  if (reps !== undefined && !Number.isInteger(reps)) throw new UsageError(`--reps: expected a whole number, got ${values.reps}`);
  const progress = process.stderr.isTTY && !values.json ? (s: string) => process.stderr.write(`\r\x1b[K${s}`) : undefined;
  const report = await benchPrimitives({ scale: num('scale', values.scale, 0.001), reps }, progress);
  if (progress) process.stderr.write('\r\x1b[K');
  console.log(values.json ? JSON.stringify(report, null, 2) : formatPrimitives(report));
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    console.log(HELP);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === '-V' || cmd === '--version') {
    console.log(pkg.version);
    return 0;
  }
  switch (cmd) {
    case 'bench':
      return bench(rest);
    case 'list':
      if (rest.includes('--help') || rest.includes('-h')) {
        console.log('Usage: kiolab list\n\nLists the benchmark scenarios with a one-line description.');
        return 0;
      }
      for (const [k, v] of Object.entries(SCENARIOS)) console.log(`${k.padEnd(12)} ${v}`);
      return 0;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(cmd)}; try kiolab --help`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`kiolab: ${(e as Error).message}`);
      process.exitCode = 2;
    } else {
      console.error(`kiolab: ${(e as Error)?.stack ?? e}`);
      process.exitCode = 1;
    }
  },
);
