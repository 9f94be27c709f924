#!/usr/bin/env node
/**
 * The `kiolab` command. Exit codes: 0 ok, 1 a failure found or a check failed, 2 bad usage or
 * input (or an output that cannot be written), 3 an internal error, 130 interrupted.
 * Scenarios and subcommands are registered by src/engine/cli-*.ts (see registry.ts); `bench` and
 * its common options live in src/engine/bench-command.ts.
 */
import { readFileSync } from 'node:fs';
import { tuneV8 } from '../engine/v8.js';
import '../../workers/index.js';
import './all.js';
import './locks.js';
import { bench } from './bench.js';
import { loadUserModule, takeModuleOptions } from './modules.js';
import { interruptMachines, machinesInterrupted } from '../engine/machine.js';
import { OutputError } from './outputs.js';
import { UsageError, commands, listSections, scenarios } from './registry.js';

tuneV8();

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

Exit codes: 0 ok, 1 a failure found or a check failed, 2 bad usage or input (one line naming
it; KIOLAB_DEBUG=1 adds the stack), 3 an internal error, 130 interrupted (Ctrl-C).`;
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
      items: allBugs().map((b) => ({ name: b.name, description: `${b.subsystem}${b.implemented ? '' : ' (not implemented)'}${b.seed ? " (the seed's own code: bench --as-seed turns it on)" : ''}: ${b.description} — ${b.reference}` })),
    },
    {
      key: 'races',
      title: 'race scenarios (kiolab race NAME)',
      // Every scenario `kiolab race` accepts; the synthetic ones test the lab's own detectors.
      items: raceScenarios().map((r) => ({ name: r.name, description: r.synthetic ? `${r.description} (a test of the lab's detectors)` : `${r.description} [${r.bugs.join(', ')}]` })),
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

/**
 * kiolab's own configuration checks throw RangeErrors whose message starts with the part that
 * refused ("device: devices[0]: ...", "race: unknown scenario ..."): bad input, not a bug.
 */
const isConfigError = (e: unknown): boolean => e instanceof RangeError && /^[a-z][\w.[\] -]*: /.test(e.message);

// Ctrl-C: the first stops the load of every machine (the command then prints and writes what
// it has, marked partial, and exits 130); a second exits at once.
let interrupts = 0;
process.on('SIGINT', () => {
  if (++interrupts > 1) {
    process.stderr.write('\nkiolab: interrupted again: exiting now\n');
    process.exit(130);
  }
  process.stderr.write('\nkiolab: interrupted: stopping the load; what ran so far is reported as partial (Ctrl-C again to quit at once)\n');
  interruptMachines();
});

// While a command runs, the process stays up: a run whose workers block forever must end by its
// own timeout with an explained error, never as a silent exit 0 once nothing else holds the loop.
const keepAlive = setInterval(() => {}, 1 << 30);
main(process.argv.slice(2)).finally(() => clearInterval(keepAlive)).then(
  (code) => {
    process.exitCode = machinesInterrupted() !== null ? 130 : code;
  },
  (e: unknown) => {
    const debug = process.env.KIOLAB_DEBUG === '1';
    const code = (e as { code?: string }).code;
    const message = String((e as Error)?.message ?? e).split('\n')[0];
    if (machinesInterrupted() !== null) {
      // What failed after Ctrl-C failed because of it.
      console.error(debug ? `kiolab: interrupted: ${(e as Error)?.stack ?? e}` : `kiolab: interrupted (${message})`);
      process.exitCode = 130;
      return;
    }
    if (e instanceof UsageError || e instanceof OutputError || code?.startsWith('ERR_PARSE_ARGS') || isConfigError(e)) {
      // One line naming the input and the problem; exit 2 (bad usage or input, an output that cannot be written).
      console.error(debug ? `kiolab: ${(e as Error).stack}` : `kiolab: ${message}`);
      process.exitCode = 2;
    } else {
      // Not the user's doing: a bug in kiolab (or in a module of the user's). Exit 3, never 1.
      console.error(debug ? `kiolab: internal error: ${(e as Error)?.stack ?? e}` : `kiolab: internal error: ${message} (KIOLAB_DEBUG=1 shows the stack)`);
      process.exitCode = 3;
    }
  },
);
