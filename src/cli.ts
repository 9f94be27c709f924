#!/usr/bin/env node
/**
 * The `kiolab` command. Exit codes: 0 ok, 1 a failure found or a check failed, 2 bad usage.
 * Scenarios and subcommands are registered by src/engine/cli-*.ts (see registry.ts); `bench` and
 * its common options live in src/engine/bench-command.ts.
 */
import { readFileSync } from 'node:fs';
import './engine/cli-all.js';
import './engine/bench-locks.js';
import { bench } from './engine/bench-command.js';
import { UsageError, commands, listSections, scenarios } from './engine/registry.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

function help(): string {
  const cmds = [
    ['bench <scenario>', 'run a benchmark scenario and print its report'],
    ['list', 'list the scenarios (and other registered items)'],
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

const wantsHelp = (argv: string[]) => argv.includes('--help') || argv.includes('-h');

function list(argv: string[]): number {
  if (wantsHelp(argv)) {
    console.log('Usage: kiolab list [--json]\n\nLists the benchmark scenarios (and other registered items) with a one-line description.');
    return 0;
  }
  const bad = argv.find((a) => a !== '--json');
  if (bad !== undefined) throw new UsageError(`list: unexpected argument ${JSON.stringify(bad)}`);
  const sections = [
    { title: 'scenarios', items: scenarios().map((s) => ({ name: s.name, description: s.description })) },
    ...listSections().map((s) => ({ title: s.title, items: s.items() })),
  ];
  if (argv.includes('--json')) {
    console.log(JSON.stringify(Object.fromEntries(sections.map((s) => [s.title, s.items])), null, 2));
    return 0;
  }
  const out: string[] = [];
  for (const s of sections) {
    if (s.items.length === 0) continue;
    if (out.length) out.push('');
    out.push(`${s.title}:`, ...s.items.map((i) => `  ${i.name.padEnd(14)} ${i.description}`));
  }
  console.log(out.join('\n'));
  return 0;
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
  if (cmd === 'list') return list(rest);
  const c = commands().find((x) => x.name === cmd);
  if (c) {
    if (c.usage !== undefined && wantsHelp(rest)) {
      console.log(c.usage);
      return 0;
    }
    return c.run(rest);
  }
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
