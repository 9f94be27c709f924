#!/usr/bin/env node
/**
 * The `kiolab` command. Exit codes: 0 ok, 1 a failure found or a check failed, 2 bad usage.
 * Scenarios and subcommands are registered by src/engine/cli-*.ts (see registry.ts).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import './engine/cli-all.js';
import { UsageError, commands, optionsHelp, scenarios } from './engine/registry.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

function help(): string {
  const cmds = [
    ['bench <scenario>', 'run a benchmark scenario and print its report'],
    ['list', 'list the scenarios'],
    ...commands().map((c) => [c.name, c.summary]),
  ];
  return `kiolab ${pkg.version} — kernel I/O lab: BootCache, the DragonFly buffer cache and NetBSD swap
on real parallel threads over shared memory.

Usage: kiolab <command> [options]

Commands:
${cmds.map(([a, b]) => `  ${a.padEnd(18)} ${b}`).join('\n')}

Options:
  -h, --help         help (also: kiolab <command> --help)
  -V, --version      print the version

Exit codes: 0 ok, 1 a failure found or a check failed, 2 bad usage.`;
}

function benchHelp(name?: string): string {
  const list = scenarios();
  const one = list.find((s) => s.name === name);
  if (one) {
    return `Usage: kiolab bench ${one.name} [options]\n\n${one.description}\n\nOptions:\n${optionsHelp({
      ...(one.options ?? {}),
      json: { type: 'boolean', help: 'print the report as JSON' },
      help: { type: 'boolean', help: 'this help' },
    })}`;
  }
  return `Usage: kiolab bench <scenario> [options]   (kiolab bench <scenario> --help for its options)\n\nScenarios:\n${list
    .map((s) => `  ${s.name.padEnd(12)} ${s.description}`)
    .join('\n')}`;
}

async function bench(argv: string[]): Promise<number> {
  const name = argv.find((a) => !a.startsWith('-'));
  const scenario = scenarios().find((s) => s.name === name);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(benchHelp(name));
    return 0;
  }
  if (!name) throw new UsageError(`bench: which scenario? One of: ${scenarios().map((s) => s.name).join(', ')}`);
  if (!scenario) throw new UsageError(`bench: unknown scenario ${JSON.stringify(name)}; one of: ${scenarios().map((s) => s.name).join(', ')}`);
  const options = Object.fromEntries(
    Object.entries(scenario.options ?? {}).map(([k, o]) => [k, { type: o.type, ...(o.short ? { short: o.short } : {}) }]),
  );
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...options, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as never,
  });
  if (positionals.length > 1) throw new UsageError(`bench: unexpected argument ${JSON.stringify(positionals[1])}`);
  const v = values as Record<string, string | boolean | undefined>;
  const progress = process.stderr.isTTY && !v.json ? (s: string) => process.stderr.write(`\r\x1b[K${s}`) : undefined;
  const report = await scenario.run(v, progress);
  if (progress) process.stderr.write('\r\x1b[K');
  console.log(v.json ? JSON.stringify(report, null, 2) : scenario.format(report));
  return scenario.exitCode?.(report) ?? 0;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) {
    console.error(help());
    return 2;
  }
  if (cmd === '-h' || cmd === '--help' || cmd === 'help') {
    console.log(help());
    return 0;
  }
  if (cmd === '-V' || cmd === '--version') {
    console.log(pkg.version);
    return 0;
  }
  if (cmd === 'bench') return bench(rest);
  if (cmd === 'list') {
    if (rest.includes('--help') || rest.includes('-h')) {
      console.log('Usage: kiolab list\n\nLists the benchmark scenarios with a one-line description.');
      return 0;
    }
    for (const s of scenarios()) console.log(`${s.name.padEnd(12)} ${s.description}`);
    return 0;
  }
  const c = commands().find((x) => x.name === cmd);
  if (c) return c.run(rest);
  throw new UsageError(`unknown command ${JSON.stringify(cmd)}; try kiolab --help`);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const code = (e as { code?: string }).code;
    if (e instanceof UsageError || code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`kiolab: ${(e as Error).message}`);
      process.exitCode = 2;
    } else {
      console.error(`kiolab: ${(e as Error)?.stack ?? e}`);
      process.exitCode = 1;
    }
  },
);
