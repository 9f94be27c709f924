/**
 * `kiolab bench <scenario>`: parses the common options (COMMON_OPTIONS in registry.ts) and the
 * scenario's, merges a --config file under the command line, checks every numeric value up front
 * (UsageError → exit 2, naming the option or field and the value), runs the scenario with a
 * progress line on a TTY, then applies --trace, --out and --json for every scenario.
 */
import { join } from 'node:path';
import { machinesInterrupted } from '../engine/machine.js';
import { OutputError, checkOutputDir, checkOutputFile, writeOutput } from './outputs.js';
import { parseCommandArgs } from './args.js';
import { readConfig, validateConfig } from './config.js';
import { formatRunReport } from '../report/format.js';
import { renderHtml, renderPlainHtml } from '../report/html.js';
import { ProgressLine } from '../report/progress.js';
import { SwitchFault, asRunReport, isRunReport, runReportExitCode, stoppedRunReport } from '../report/run-report.js';
import { type CheckerSummary, armChecker, disarmChecker } from '../race/checker.js';
import { allBugs } from '../race/bugs.js';
import { type ChromeEvent, chromeTrace } from '../report/trace-chrome.js';
import {
  COMMON_KEYS,
  COMMON_OPTIONS,
  KEY_OPTIONS,
  type CommonOptions,
  type OptionSpec,
  type OptionValues,
  type RunContext,
  type Scenario,
  UsageError,
  checkNumber,
  optionsHelp,
  scenarios,
} from './registry.js';

export interface BenchIO {
  out(s: string): void;
  err(s: string): void;
  /** Is stderr a terminal (progress line)? */
  isTTY: boolean;
}

const defaultIO: BenchIO = {
  out: (s) => console.log(s),
  err: (s) => process.stderr.write(s),
  isTTY: !!process.stderr.isTTY,
};

/** The common options scenario `s` refuses (KEY_OPTIONS of its refused groups), with the reason. */
export function refusedOptions(s: Scenario): Map<string, string> {
  const out = new Map<string, string>();
  for (const k of COMMON_KEYS) {
    if (s.honours.includes(k)) continue;
    const why = s.refuses?.[k] ?? `bench ${s.name} does not use it`;
    for (const o of KEY_OPTIONS[k]) out.set(o, why);
  }
  return out;
}

export function benchHelp(name?: string): string {
  const list = scenarios();
  const one = list.find((s) => s.name === name);
  if (one) {
    const own = one.options ?? {};
    const refused = refusedOptions(one);
    const common = Object.fromEntries(Object.entries(COMMON_OPTIONS).filter(([k]) => !(k in own) && !refused.has(k)));
    const notHere = [...new Set(refused.values())].map((why) => `  ${[...refused].filter(([, w]) => w === why).map(([o]) => `--${o}`).join(', ')}: ${why}`);
    return `Usage: kiolab bench ${one.name} [options]\n\n${one.description}\n\nOptions of ${one.name}:\n${
      Object.keys(own).length ? optionsHelp(own) : '  (none)'
    }\n\nCommon options:\n${optionsHelp({ ...common, help: { type: 'boolean', short: 'h', help: 'this help' } })}\n  --module FILE           load a module of your own first (its scenarios, roles, switches)${
      notHere.length ? `\n\nCommon options that do not apply here (refused, exit 2):\n${notHere.join('\n')}` : ''
    }\n\nExit codes: 0 ok, 1 a failure found or a check failed, 2 bad usage or input, 3 an internal error, 130 interrupted.`;
  }
  return `Usage: kiolab bench <scenario> [options]   (kiolab bench <scenario> --help for its options)\n\nScenarios:\n${list
    .map((s) => `  ${s.name.padEnd(12)} ${s.description}`)
    .join('\n')}\n\nCommon options:\n${optionsHelp(COMMON_OPTIONS)}\n  --module FILE           load a module of your own first (its scenarios, roles, switches)`;
}

/** The first positional argument, skipping the values of common string options. */
function firstPositional(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return argv[i + 1];
    if (a.startsWith('-')) {
      const name = a.replace(/^--?/, '');
      if (!a.includes('=') && COMMON_OPTIONS[name]?.type === 'string') i++;
      continue;
    }
    return a;
  }
  return undefined;
}

function configPath(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--config') return argv[i + 1];
    if (argv[i].startsWith('--config=')) return argv[i].slice('--config='.length);
  }
  return undefined;
}

/** The catalogued switches whose variant is the seed's own code (what --as-seed turns on). */
export function seedSwitches(): { name: string; subsystem: string }[] {
  return allBugs()
    .filter((b) => b.seed)
    .map((b) => ({ name: b.name, subsystem: b.subsystem }));
}

/** Parse and check the common options out of the merged values. */
export function commonOptions(v: OptionValues, known: Record<string, OptionSpec>): CommonOptions {
  const num = (k: string) => {
    const spec = known[k]?.number;
    return spec && typeof v[k] === 'string' ? checkNumber(`--${k}`, spec, v[k]) : undefined;
  };
  // A scenario option of the same name as a common one is the scenario's (bench bootcache's
  // --trace is an input, not the Chrome-trace output): not a common option there.
  const str = (k: string) => (known[k] === COMMON_OPTIONS[k] && typeof v[k] === 'string' ? (v[k] as string) : undefined);
  return {
    seed: num('seed'),
    duration: num('duration'),
    ops: num('ops'),
    ramp: num('ramp'),
    cpus: num('cpus'),
    json: v.json === true,
    out: str('out'),
    trace: str('trace'),
    traceEvents: num('trace-events'),
    config: str('config'),
    latencyUs: num('latency-us'),
    bandwidth: num('bandwidth'),
    deviceFile: str('device-file'),
    deviceSync: v['device-sync'] === true,
    check: v.check === true,
    force: v.force === true,
    asSeed: v['as-seed'] === true ? seedSwitches() : undefined,
  };
}

/** A bench run as parsed and checked: the scenario, its merged option values and the parsed common options. */
interface PreparedBench {
  scenario: Scenario;
  merged: OptionValues;
  common: CommonOptions;
}

/** Parse `argv` (the scenario name, its options, --config) and check everything up front; null for --help. */
function prepareBench(argv: string[], io: BenchIO): PreparedBench | null {
  const cfgPath = configPath(argv);
  const rawConfig = cfgPath !== undefined ? readConfig(cfgPath) : undefined;
  const name = firstPositional(argv) ?? (typeof rawConfig?.scenario === 'string' ? rawConfig.scenario : undefined);
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(benchHelp(name));
    return null;
  }
  const names = () => scenarios().map((s) => s.name).join(', ');
  if (!name) throw new UsageError(`bench: which scenario? One of: ${names()}`);
  const scenario = scenarios().find((s) => s.name === name);
  if (!scenario) throw new UsageError(`bench: unknown scenario ${JSON.stringify(name)}; one of: ${names()}`);

  const known: Record<string, OptionSpec> = { ...COMMON_OPTIONS, ...(scenario.options ?? {}) };
  const parseOpts = Object.fromEntries(Object.entries(known).map(([k, o]) => [k, { type: o.type, ...(o.short ? { short: o.short } : {}) }]));
  const { values, positionals } = parseCommandArgs(`bench ${name}`, argv, { ...parseOpts, help: { type: 'boolean', short: 'h' } } as never);
  const extra = positionals.filter((p) => p !== name);
  if (extra.length > 0 || positionals.length > 1) throw new UsageError(`bench: unexpected argument ${JSON.stringify(extra[0] ?? positionals[1])}`);
  const cli = values as OptionValues;
  for (const [k, v] of Object.entries(cli)) {
    const spec = known[k]?.number;
    if (spec) checkNumber(`--${k}`, spec, v);
  }
  const file = rawConfig && cfgPath !== undefined ? validateConfig(cfgPath, rawConfig, known) : undefined;
  if (file?.scenario !== undefined && file.scenario !== name) {
    io.err(`kiolab: warning: --config ${cfgPath} names scenario ${JSON.stringify(file.scenario)}; running ${JSON.stringify(name)} as the command line says\n`);
  }
  const fromFile = file?.values ?? {};
  const merged: OptionValues = { ...fromFile, ...cli };
  const common = commonOptions(merged, known);
  // An option that cannot apply is refused with its reason, never ignored (from the command line
  // or from --config alike).
  for (const [o, why] of refusedOptions(scenario)) {
    if (o in (scenario.options ?? {}) || merged[o] === undefined) continue;
    throw new UsageError(`bench ${scenario.name}: --${o} does not apply: ${why}`);
  }
  if (common.deviceSync && common.deviceFile === undefined) throw new UsageError(`bench ${scenario.name}: --device-sync needs --device-file (a memory device has no cache to flush)`);
  prepareOutputs(common);
  return { scenario, merged, common };
}

/** Run a prepared bench (with the checker when --check); the report, the checker's exit code and the context. */
async function executeBench(p: PreparedBench, io: BenchIO): Promise<{ report: unknown; checkerCode: number; ctx: RunContext }> {
  const { scenario, merged, common } = p;
  const progress = new ProgressLine(io.isTTY && !common.json, (s) => io.err(s));
  const ctx: RunContext = { common, options: merged, progress, trace: null, startedAt: performance.now() };
  if (!common.check) return { report: await runScenario(scenario, merged, ctx), checkerCode: 0, ctx };
  armChecker();
  let report: unknown;
  let checked: CheckerSummary;
  try {
    report = await runScenario(scenario, merged, ctx);
  } finally {
    checked = await disarmChecker();
  }
  return { report, checkerCode: reportChecker(scenario.name, checked, io), ctx };
}

/** Run `kiolab bench ...`; returns the exit code (UsageError propagates: exit 2). */
export async function bench(argv: string[], io: BenchIO = defaultIO): Promise<number> {
  const p = prepareBench(argv, io);
  if (!p) return 0;
  const { report, checkerCode, ctx } = await executeBench(p, io);
  return Math.max(finish(p.scenario, report, ctx, io), checkerCode);
}

/** What `runBench` returns: the report (the JSON `kiolab bench --json` prints) and the command's exit code. */
export interface BenchRun<R = unknown> {
  scenario: string;
  report: R;
  /** 0 ok, 1 a check failed (the data oracle, an invariant, the checker). */
  exitCode: number;
}

/**
 * Run a bench scenario from code, as `kiolab bench <name> --json` does, without printing it.
 * `options` are the command's long options (`{ duration: 2, cpus: 2, 'latency-us': 50, check: true }`);
 * `out` and `trace` still write their files. Bad options throw a `UsageError` naming them.
 */
export async function runBench<R = unknown>(name: string, options: Record<string, string | number | boolean | undefined> = {}, io: Partial<BenchIO> = {}): Promise<BenchRun<R>> {
  const argv = [name];
  for (const [k, v] of Object.entries(options)) {
    if (v === undefined || v === false) continue;
    argv.push(`--${k}`);
    if (v !== true) argv.push(String(v));
  }
  const quiet: BenchIO = { out: () => {}, err: io.err ?? (() => {}), isTTY: false };
  const p = prepareBench(argv, quiet);
  if (!p) throw new UsageError('runBench: --help is not an option here');
  p.common.json = true;
  const { report, checkerCode, ctx } = await executeBench(p, quiet);
  const exitCode = Math.max(finish(p.scenario, report, ctx, quiet), checkerCode);
  return { scenario: p.scenario.name, report: report as R, exitCode };
}

/** The checker's verdict on stderr; 1 when it found a violation. */
function reportChecker(name: string, c: CheckerSummary, io: BenchIO): number {
  if (c.machines === 0) {
    io.err(`kiolab: warning: --check: bench ${name} built no machine with a subsystem to sample (bufcache, swap, bootcache); nothing was checked\n`);
    return 0;
  }
  for (const v of c.violations) io.err(`kiolab: checker (${v.checker}): invariant violated: ${v.message}\n`);
  if (c.violations.length > 0) return 1;
  io.err(`kiolab: checker: ${c.samples} samples of ${c.checkers.join(', ')} over ${c.machines} machine(s): no violation\n`);
  return 0;
}

/** The files --out writes into its folder. */
const REPORT_FILES = ['report.json', 'report.html'];

/**
 * Check --out and --trace before the run (outputs.ts): their folders exist and are writable, and
 * nothing there is overwritten without --force. A long run never ends in a write error it could
 * have seen coming.
 */
function prepareOutputs(c: CommonOptions): void {
  if (c.out !== undefined) checkOutputDir('out', c.out, REPORT_FILES, !!c.force);
  if (c.trace !== undefined) checkOutputFile('trace', c.trace, !!c.force);
}

async function runScenario(s: Scenario, opts: OptionValues, ctx: RunContext): Promise<unknown> {
  const line = ctx.progress.enabled ? (l: string) => ctx.progress.message(l) : undefined;
  try {
    return await s.run(opts, line, ctx);
  } catch (e) {
    // A bug switch's consequence caught by a contract check: a failed run, reported (exit 1).
    if (e instanceof SwitchFault) return stoppedRunReport(s.name, ctx, e);
    throw e;
  } finally {
    ctx.progress.clear();
  }
}

/** One verdict line from a report's checks: `PASS: 9 checks, 0 failures` or `FAIL: 1 of 9 checks failed: ...`. */
export function verdictOf(scenario: Scenario, report: unknown): { pass: boolean; checks: number; failed: string[]; line: string } | null {
  const checks = scenario.checks ? scenario.checks(report) : isRunReport(report) ? (report.checks ?? []).map((c) => ({ name: c.name, ok: c.ok })) : null;
  if (!checks) return null;
  const failed = checks.filter((c) => !c.ok).map((c) => c.name);
  const line = failed.length === 0 ? `PASS: ${checks.length} check${checks.length === 1 ? '' : 's'}, 0 failures` : `FAIL: ${failed.length} of ${checks.length} checks failed: ${failed.join('; ')}`;
  return { pass: failed.length === 0, checks: checks.length, failed, line };
}

/**
 * Print the report, then write --trace and --out (checked before the run). The report is printed
 * first so that a write that fails at the end loses nothing; the failure is one line and exit 2.
 */
function finish(scenario: Scenario, report: unknown, ctx: RunContext, io: BenchIO): number {
  const { common } = ctx;
  // Ctrl-C stopped the load: the report says so, everywhere it goes (text, JSON, --out).
  const stoppedAt = machinesInterrupted();
  const partial = stoppedAt !== null && report !== null && typeof report === 'object';
  if (partial) (report as { partial?: unknown }).partial = { reason: 'interrupted (Ctrl-C)', afterS: Math.round((stoppedAt - (ctx.startedAt ?? stoppedAt)) / 100) / 10 };
  let trace: { text: string; n: number } | null = null;
  if (common.trace) {
    const events = (ctx.trace?.events ?? []) as ChromeEvent[];
    if (!ctx.trace || events.length === 0) {
      io.err(`kiolab: warning: --trace ${common.trace}: bench ${scenario.name} gathered no trace events (it runs no machine through runMachine); no file written\n`);
    } else {
      trace = { text: JSON.stringify(chromeTrace(events, { scenario: scenario.name, dropped: ctx.trace.dropped })), n: events.filter((e) => e.ph !== 'M').length };
      if (isRunReport(report)) report.trace = { file: common.trace, events: trace.n, dropped: ctx.trace.dropped };
    }
  }
  const verdict = verdictOf(scenario, report);
  if (verdict && report !== null && typeof report === 'object') (report as { verdict?: unknown }).verdict = verdict;
  const formatted = scenario.format ? scenario.format(report) : isRunReport(report) ? formatRunReport(report) : JSON.stringify(report, null, 2);
  const body = verdict ? `${formatted}\n\n${verdict.line}` : formatted;
  const text = partial ? `PARTIAL REPORT: interrupted (Ctrl-C) ${(report as { partial: { afterS: number } }).partial.afterS} s into the run; the figures cover what ran until then\n\n${body}` : body;
  io.out(common.json ? JSON.stringify(report, null, 2) : text);
  const failed: string[] = [];
  const write = (what: () => void): void => {
    try {
      what();
    } catch (e) {
      if (!(e instanceof OutputError)) throw e;
      failed.push(e.message);
    }
  };
  if (trace && common.trace) {
    const { text: t, n } = trace;
    const file = common.trace;
    write(() => {
      writeOutput('trace', file, t);
      if (!isRunReport(report) || common.json) io.err(`kiolab: wrote ${file} (${n} trace events)\n`);
    });
  }
  if (common.out) {
    const dir = common.out;
    write(() => {
      writeOutput('out', join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
      const view = asRunReport(scenario.name, report);
      writeOutput('out', join(dir, 'report.html'), view ? renderHtml(view) : renderPlainHtml(`kiolab bench ${scenario.name}`, text, report));
      io.err(`kiolab: wrote ${join(dir, 'report.json')} and ${join(dir, 'report.html')}\n`);
    });
  }
  for (const f of failed) io.err(`kiolab: ${f}\n`);
  const code = scenario.exitCode ? scenario.exitCode(report) : isRunReport(report) ? runReportExitCode(report) : 0;
  // A finding (1) says more than a lost output; otherwise a lost output is exit 2.
  return failed.length > 0 && code === 0 ? 2 : code;
}
