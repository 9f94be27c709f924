/**
 * The race lab's commands: `kiolab race <scenario> --bug NAME ...`, `kiolab race --list`,
 * `kiolab race --matrix`, `kiolab replay FILE [--times N] [--shrink]` and `kiolab bugs`.
 * Exit codes: 0 nothing found (or replayed as expected), 1 a failure found, 2 bad usage.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseCommandArgs } from './args.js';
import { bugInfo, bugRows, bugTable } from '../race/bugs.js';
import type { Policy, RaceMode } from '../race/control.js';
import { runMatrix } from '../race/matrix.js';
import { formatMatrix, formatRace } from '../race/report.js';
import { checkReplayNames, loadReplay, replayTimes, shrink } from '../race/replay.js';
import { runRace } from '../race/runner.js';
import { raceScenarios } from '../race/scenario.js';
import { loadUserModule, userModules } from './modules.js';
import { checkOutputFile, writeOutput } from './outputs.js';
import { UsageError, numOpt, registerCommand } from './registry.js';

type RaceArgs = Partial<Record<'bug' | 'mode' | 'seed' | 'budget' | 'policy' | 'depth' | 'iterations' | 'save' | 'bugs' | 'replays' | 'clean-budget' | 'detect' | 'preemptions', string>> &
  Partial<Record<'list' | 'matrix' | 'no-clean' | 'force' | 'json' | 'help', boolean>>;
type ReplayArgs = Partial<Record<'times' | 'budget' | 'save', string>> & Partial<Record<'shrink' | 'force' | 'json' | 'help', boolean>>;

const RACE_HELP = `Usage:
  kiolab race <scenario> --bug NAME [--mode stress|explore|bounded] [--seed N] [--budget S]
              [--preemptions P]
              [--policy pct|random] [--depth D] [--iterations N] [--save FILE] [--json]
              [--detect race] [--module FILE]...
  kiolab race --list            the bug switches and the race scenarios
  kiolab race --matrix [--budget S] [--seed N] [--bugs A,B,..] [--mode M[,M]] [--replays N]
              [--clean-budget S] [--no-clean] [--json]
                                every implemented switch (or those of --bugs) in every mode
                                (or those of --mode), the replays of explore failures (10
                                each), plus clean runs of the scenarios that catch them

Runs a race scenario with a bug switch on (omit --bug for a clean run) and exits 1 when a
failure is found. explore mode (the default) serializes the cpus with a seeded scheduler (PCT of
depth D by default) and saves the failing schedule for \`kiolab replay\`; stress mode runs the
cpus freely and perturbs them at every instrumentation point.

--mode bounded explores every schedule with at most P preemptions (--preemptions, default 2),
depth first, and says when it has covered them all: the one mode whose "nothing found" is a
proof, within its bound. For small scenarios (the number of schedules grows fast).

--detect race adds the happens-before data-race detector: two conflicting accesses, at least
one plain, that no lock, wakeup or atomic orders are a failure naming both, with the code site
of each. In explore and bounded the failing schedule is saved for replay; in stress (about 15%
fewer iterations with it: every point is logged) the cpus run at once and a race shows without
its bad interleaving, but cannot be replayed.

--module FILE loads a module of your own (before the command runs, and in every worker): its race
scenarios, roles and bug switches (registerRaceScenario, registerRoles, registerBugSwitch from
'kiolab') run in the lab as kiolab's own do, and the replay file records the module.`;

function progressFn(json: boolean): ((s: string) => void) | undefined {
  return process.stderr.isTTY && !json ? (s: string) => process.stderr.write(`\r\x1b[K${s}`) : undefined;
}

function scenarioList(): string {
  return raceScenarios()
    .map((s) => `  ${s.name.padEnd(24)} ${s.description}${s.bugs.length ? `\n  ${''.padEnd(24)} catches: ${s.bugs.join(', ')}` : ''}`)
    .join('\n');
}

registerCommand({
  name: 'race',
  summary: 'run a race scenario with a bug switch on; --list, --matrix',
  async run(argv) {
    const { values: v, positionals } = parseCommandArgs('race', argv, {
        bug: { type: 'string' },
        mode: { type: 'string' },
        seed: { type: 'string' },
        budget: { type: 'string' },
        policy: { type: 'string' },
        depth: { type: 'string' },
        iterations: { type: 'string' },
        save: { type: 'string' },
        list: { type: 'boolean' },
        matrix: { type: 'boolean' },
        bugs: { type: 'string' },
        replays: { type: 'string' },
        'clean-budget': { type: 'string' },
        'no-clean': { type: 'boolean' },
        detect: { type: 'string' },
        preemptions: { type: 'string' },
        force: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
    }) as { values: RaceArgs; positionals: string[] };
    if (v.help) {
      console.log(RACE_HELP);
      return 0;
    }
    const json = !!v.json;
    if (v.list) {
      if (json) console.log(JSON.stringify({ bugs: bugRows(), scenarios: raceScenarios().map((s) => ({ name: s.name, description: s.description, bugs: s.bugs })) }, null, 2));
      else console.log(`${bugTable({ verbose: true })}\n\nRace scenarios:\n${scenarioList()}`);
      return 0;
    }
    const budgetS = numOpt('budget', v.budget, 0.1, { max: 604_800 }) ?? (v.matrix ? 10 : 30);
    const seed = numOpt('seed', v.seed, 0, { integer: true, max: 2 ** 31 - 1 }) ?? 1;
    if (v.matrix) {
      const names = [v.bug, ...(v.bugs?.split(',') ?? [])].map((b) => b?.trim()).filter((b): b is string => !!b);
      for (const b of names) {
        let known;
        try {
          known = bugInfo(b);
        } catch (e) {
          throw new UsageError(`--bugs: ${(e as Error).message}`);
        }
        if (!known.implemented) throw new UsageError(`--bugs: ${b} is not implemented yet`);
      }
      const modes = v.mode?.split(',').map((x) => x.trim());
      for (const m of modes ?? []) if (m !== 'stress' && m !== 'explore') throw new UsageError(`--mode: expected stress, explore or both (stress,explore), got ${JSON.stringify(v.mode)}`);
      const replays = numOpt('replays', v.replays, 0, { integer: true, max: 1000 });
      const cleanS = numOpt('clean-budget', v['clean-budget'], 0.1, { max: 604_800 });
      const progress = progressFn(json);
      const rows = await runMatrix({
        budgetMs: budgetS * 1000,
        cleanBudgetMs: cleanS !== undefined ? cleanS * 1000 : undefined,
        seed,
        progress,
        bugs: names.length ? [...new Set(names)] : undefined,
        modes: modes as RaceMode[] | undefined,
        replays,
        noClean: !!v['no-clean'],
      });
      if (progress) process.stderr.write('\r\x1b[K');
      console.log(json ? JSON.stringify(rows, null, 2) : formatMatrix(rows));
      return rows.every((r) => r.ok) ? 0 : 1;
    }
    const scenario = positionals[0];
    if (!scenario) throw new UsageError(`race: which scenario? One of: ${raceScenarios().map((s) => s.name).join(', ')} (or --list, --matrix)`);
    if (positionals.length > 1) throw new UsageError(`race: unexpected argument ${JSON.stringify(positionals[1])}`);
    if (!raceScenarios().some((s) => s.name === scenario)) throw new UsageError(`race: unknown scenario ${JSON.stringify(scenario)}; one of: ${raceScenarios().map((s) => s.name).join(', ')}`);
    const mode = (v.mode ?? 'explore') as RaceMode;
    if (mode !== 'stress' && mode !== 'explore' && mode !== 'bounded') throw new UsageError(`--mode: expected stress, explore or bounded, got ${JSON.stringify(v.mode)}`);
    const preemptions = numOpt('preemptions', v.preemptions, 0, { integer: true, max: 10 });
    if (preemptions !== undefined && mode !== 'bounded') throw new UsageError('--preemptions goes with --mode bounded');
    const policy = (v.policy ?? 'pct') as Policy;
    if (policy !== 'pct' && policy !== 'random') throw new UsageError(`--policy: expected pct or random, got ${JSON.stringify(v.policy)}`);
    const bug = v.bug ?? null;
    if (bug !== null) {
      try {
        bugInfo(bug);
      } catch (e) {
        throw new UsageError(`--bug: ${(e as Error).message}`);
      }
    }
    const depth = numOpt('depth', v.depth, 1, { integer: true, max: 10 }) ?? 3;
    const detect = v.detect === undefined ? undefined : v.detect.split(',').map((d) => d.trim());
    for (const d of detect ?? []) if (d !== 'race') throw new UsageError(`--detect: expected race (the happens-before data-race detector), got ${JSON.stringify(d)}`);
    const iterations = numOpt('iterations', v.iterations, 1, { integer: true, max: 1e12 });
    // Where a failure's schedule will go, checked before the run: never a surprise at the end.
    const savePath = v.save ?? `kiolab-race-${scenario}-${bug ?? 'clean'}-seed${seed}.json`;
    checkOutputFile('save', savePath, !!v.force);
    let r;
    try {
      r = await runRace({ scenario, bug, mode, seed, policy, depth, budgetMs: budgetS * 1000, iterations, modules: userModules(), detect: detect as 'race'[] | undefined, preemptions });
    } catch (e) {
      if (e instanceof RangeError) throw new UsageError(e.message);
      throw e;
    }
    let savedTo: string | null = null;
    let replayCommand: string | null = null;
    if (r.replay) {
      savedTo = savePath;
      writeOutput('save', savedTo, `${JSON.stringify(r.replay, null, 1)}\n`);
      replayCommand = `kiolab replay ${savedTo}`;
    }
    console.log(json ? JSON.stringify({ ...r, savedTo, replayCommand }, null, 2) : formatRace(r, { savedTo, replayCommand }));
    return r.failure ? 1 : 0;
  },
});

registerCommand({
  name: 'replay',
  summary: 'replay a saved race schedule exactly (--times N, --shrink)',
  async run(argv) {
    const { values: v, positionals } = parseCommandArgs('replay', argv, { times: { type: 'string' }, shrink: { type: 'boolean' }, budget: { type: 'string' }, save: { type: 'string' }, force: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }) as { values: ReplayArgs; positionals: string[] };
    if (v.help) {
      console.log(`Usage: kiolab replay FILE [--times N] [--shrink [--budget S] [--save FILE]] [--json]

Replays the failing iteration saved by \`kiolab race\` (same switch, same seed, the recorded
switches of the turn) and exits 1 when the failure is reproduced. --shrink removes the switches
that are not needed for the failure and saves the shorter schedule (FILE.shrunk.json).`);
      return 0;
    }
    const file = positionals[0];
    if (!file) throw new UsageError('replay: which file? (saved by kiolab race)');
    let r;
    try {
      r = loadReplay(file);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    // The user modules the scenario came from (a path relative to the replay file also works).
    for (const mpath of r.modules ?? []) {
      const near = resolve(dirname(resolve(file)), mpath);
      await loadUserModule(existsSync(mpath) || !existsSync(near) ? mpath : near, `${file}: module`);
    }
    try {
      checkReplayNames(file, r);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const times = numOpt('times', v.times, 1, { integer: true, max: 1000 }) ?? 1;
    if (v.save !== undefined && !v.shrink) throw new UsageError('--save goes with --shrink (the shorter schedule)');
    if (v.shrink) {
      checkOutputFile('save', v.save ?? file.replace(/\.json$/, '') + '.shrunk.json', !!v.force);
      const s = await shrink(r, { budgetMs: (numOpt('budget', v.budget, 1, { max: 604_800 }) ?? 60) * 1000, progress: progressFn(!!v.json) });
      const out = v.save ?? file.replace(/\.json$/, '') + '.shrunk.json';
      writeOutput('save', out, `${JSON.stringify(s.file, null, 1)}\n`);
      const line = `shrink: ${s.before} -> ${s.after} switches of the turn, preemptions ${s.preemptionsBefore} -> ${s.preemptionsAfter}, ${s.tries} replays; saved ${out}`;
      console.log(v.json ? JSON.stringify({ ...s, savedTo: out }, null, 2) : line);
      return 1;
    }
    const rp = await replayTimes(r, times);
    // The iterations before the recorded one replay the original run exactly (same seed, same
    // choices): a failure there means the file does not describe the run it claims to.
    const early = rp.last?.failure && rp.last.failure.iteration < r.iteration ? rp.last.failure : null;
    if (rp.reproduced === 0 && early) {
      throw new UsageError(`replay: ${file} contradicts itself: it records a ${r.kind} in iteration ${r.iteration}, but replaying its seed fails earlier, with a ${early.kind} in iteration ${early.iteration} (was the file edited?)`);
    }
    if (v.json) console.log(JSON.stringify({ reproduced: rp.reproduced, times: rp.times, result: rp.last }, null, 2));
    else {
      if (rp.last) console.log(formatRace(rp.last));
      console.log(`\nreplayed ${file}: ${rp.reproduced}/${rp.times} reproduced the ${r.kind} of iteration ${r.iteration}`);
    }
    return rp.reproduced > 0 ? 1 : 0;
  },
});

registerCommand({
  name: 'bugs',
  summary: 'list the bug switches (the race catalogue)',
  usage: `Usage: kiolab bugs [--verbose] [--json]

Lists the bug switches of the race catalogue: each real historical race kiolab can switch on
(kiolab race <scenario> --bug NAME), its subsystem and what the variant does wrong. --verbose
adds the real bug each comes from and how kiolab detects it; --json prints everything.`,
  async run(argv) {
    const { values: v, positionals } = parseCommandArgs('bugs', argv, { verbose: { type: 'boolean', short: 'v' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
    if (positionals.length > 0) throw new UsageError(`bugs: unexpected argument ${JSON.stringify(positionals[0])}`);
    if (v.json) console.log(JSON.stringify(bugRows(), null, 2));
    else console.log(bugTable({ verbose: !!v.verbose }));
    return 0;
  },
});
