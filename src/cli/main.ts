#!/usr/bin/env node
/**
 * The `kiolab` command. Exit codes: 0 ok, 1 a failure found or a check failed, 2 bad usage.
 * Scenarios and subcommands are registered by src/engine/cli-*.ts (see registry.ts); `bench` and
 * its common options live in src/engine/bench-command.ts.
 */
import { readFileSync } from 'node:fs';
import '../../workers/index.js';
import './all.js';
import './locks.js';
import { bench } from './bench.js';
import { loadUserModule, takeModuleOptions } from './modules.js';
import { UsageError, commands, listSections, scenarios } from './registry.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

function help(): string {
  const cmds = [
    ['bench <scenario>', 'run a benchmark scenario and print its report'],
    ['list [section]', 'list the scenarios, bug switches and race scenarios'],
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
  --module FILE      (any command, repeatable) load a module of your own first, in every worker
                     too: its race scenarios, bench scenarios, roles and bug switches

Exit codes: 0 ok, 1 a failure found or a check failed, 2 bad usage.`;
}

const wantsHelp = (argv: string[]) => argv.includes('--help') || argv.includes('-h');

/** `kiolab list [scenarios|bugs|races] [--json]`: every section, or the one named. */
async function list(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    console.log(`Usage: kiolab list [scenarios|bugs|races] [--json]

Lists the benchmark scenarios, the bug switches of the race catalogue (subsystem, what the
variant does wrong, the real bug it comes from) and the race scenarios, each with a one-line
description. Name a section to print only that one; \`kiolab list bugs\` also says how kiolab
detects each switch.`);
    return 0;
  }
  const json = argv.includes('--json');
  const named = argv.filter((a) => a !== '--json');
  const known = ['scenarios', 'bugs', 'races'];
  if (named.length > 1 || (named.length === 1 && !known.includes(named[0]))) {
    throw new UsageError(`list: unexpected argument ${JSON.stringify(named.at(-1))}; sections: ${known.join(', ')}`);
  }
  const only = named[0];
  const { allBugs, bugTable } = await import('../race/bugs.js');
  const { raceScenarios } = await import('../race/scenario.js');
  await import('../race/scenarios/index.js');
  const sections = [
    { key: 'scenarios', title: 'scenarios', items: scenarios().map((s) => ({ name: s.name, description: s.description })) },
    ...listSections().map((s) => ({ key: s.title, title: s.title, items: s.items() })),
    {
      key: 'bugs',
      title: 'bug switches (kiolab race <scenario> --bug NAME)',
      items: allBugs().map((b) => ({ name: b.name, description: `${b.subsystem}${b.implemented ? '' : ' (not implemented)'}: ${b.description} — ${b.reference}` })),
    },
    {
      key: 'races',
      title: 'race scenarios (kiolab race NAME)',
      items: raceScenarios().filter((r) => !r.synthetic).map((r) => ({ name: r.name, description: `${r.description} [${r.bugs.join(', ')}]` })),
    },
  ].filter((s) => only === undefined || s.key === only);
  if (json) {
    const data = Object.fromEntries(sections.map((s) => [s.key, s.items]));
    if (only === undefined || only === 'bugs') data.bugs = allBugs().map((b) => ({ ...b }));
    console.log(JSON.stringify(data, null, 2));
    return 0;
  }
  if (only === 'bugs') {
    console.log(bugTable({ verbose: true }));
    return 0;
  }
  const out: string[] = [];
  for (const s of sections) {
    if (s.items.length === 0) continue;
    if (out.length) out.push('');
    const w = Math.max(14, ...s.items.map((i) => i.name.length));
    out.push(`${s.title}:`, ...s.items.map((i) => `  ${i.name.padEnd(w)} ${i.description}`));
  }
  console.log(out.join('\n'));
  return 0;
}

async function main(argvIn: string[]): Promise<number> {
  const [cmd, ...args] = argvIn;
  // --module FILE (any command, any number of times): the user's own scenarios, roles and switches.
  const { modules, rest } = cmd === undefined || cmd.startsWith('-') ? { modules: [], rest: args } : takeModuleOptions(args);
  for (const f of modules) await loadUserModule(f);
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
