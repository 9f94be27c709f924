/**
 * Running a machine for a report: `withReport(spec, ctx)` turns on the live counters (progress
 * line) and the trace rings (`--trace`) in the spec; `runMachine(m, roles, ctx)` runs it, feeds
 * the progress line from the live counters while it runs, and afterwards gathers the trace
 * rings into `ctx.trace` (the command writes the file). A scenario that runs several machines
 * calls `runMachine` for each: each becomes one process of the trace.
 */
import { MachineError, type Machine, type RoleSpec, type RunOptions } from '../engine/machine.js';
import type { RoleResult } from '../engine/protocol.js';
import type { RunContext } from './context.js';
import type { MachineSpec } from '../engine/spec.js';
import { DEFAULT_TRACE_EVENTS, LiveOps, type ReportSpecPart } from './trace.js';
import { chromeEvents } from './trace-chrome.js';
import { SwitchFault } from './run-report.js';

/**
 * The spec with what the common options ask: the report region (trace rings for --trace, live
 * counters for the progress line) and the device options (--latency-us, --bandwidth,
 * --device-file) applied to every device. Unchanged when nothing is asked.
 */
export function withReport<S extends MachineSpec>(spec: S, ctx?: RunContext): S & ReportSpecPart {
  if (!ctx) return spec;
  let out = withSeedSwitches(withDeviceOptions(spec, ctx), ctx);
  // --check: poison what is freed, so that the checker and the oracle see a stale use.
  if (ctx.common.check) out = { ...out, poison: true };
  const trace = ctx.common.trace ? (ctx.common.traceEvents ?? DEFAULT_TRACE_EVENTS) : 0;
  const live = ctx.progress.enabled;
  if (!trace && !live) return out;
  return { ...out, report: { trace, live } };
}

/** The subsystems a machine runs, as the race catalogue names them ('bio' is the block I/O layer under a disk). */
export function subsystemsOf(spec: MachineSpec): string[] {
  const out: string[] = [];
  if (spec.bootcache) out.push('bootcache');
  if (spec.bufcache) out.push('bufcache');
  if (spec.devices?.length) out.push('bio');
  if (spec.swap) out.push('swap');
  return out;
}

/** The spec with --as-seed's switches on: the seed's variants of the subsystems it runs (none asked: unchanged). */
export function withSeedSwitches<S extends MachineSpec>(spec: S, ctx: RunContext): S {
  const seed = ctx.common.asSeed;
  if (!seed) return spec;
  const subs = subsystemsOf(spec);
  const on = seed.filter((b) => subs.includes(b.subsystem)).map((b) => b.name);
  return { ...spec, bugs: [...new Set([...(spec.bugs ?? []), ...on])] };
}

/** The devices of `spec` with the common device options applied. */
export function withDeviceOptions<S extends MachineSpec>(spec: S, ctx: RunContext): S {
  const c = ctx.common;
  if (!spec.devices?.length || (c.latencyUs === undefined && c.bandwidth === undefined && c.deviceFile === undefined)) return spec;
  const all = spec.devices;
  const devices = all.map((d) => ({
    ...d,
    latency: {
      ...(d.latency ?? {}),
      ...(c.latencyUs !== undefined ? { baseUs: c.latencyUs } : {}),
      ...(c.bandwidth !== undefined ? { bandwidthMBps: c.bandwidth } : {}),
    },
    ...(c.deviceFile !== undefined ? { file: all.length === 1 ? c.deviceFile : `${c.deviceFile}-${d.name}`, ...(c.deviceSync ? { syncWrites: true } : {}) } : {}),
  }));
  return { ...spec, devices };
}

/**
 * OpRecorder options from the common options: the ramp, and a timeline bin giving about 100
 * points over the expected run (`expectedMs`, default ramp + duration, else 10 s).
 */
export function recorderOptions(ctx?: RunContext, expectedMs?: number): { rampMs: number; binMs: number } {
  const ramp = (ctx?.common.ramp ?? 0) * 1000;
  const total = expectedMs ?? (ctx?.common.duration !== undefined ? ramp + ctx.common.duration * 1000 : 10_000);
  return { rampMs: ramp, binMs: Math.max(10, Math.round(total / 100)) };
}

export interface RunMachineOptions extends RunOptions {
  /** Label of the progress line and of the trace process. */
  label?: string;
  /** Progress redraw period (default 250 ms). */
  everyMs?: number;
}

/** Run `m` with `roles`, with progress and trace as the context asks. */
export async function runMachine(m: Machine, roles: RoleSpec[], ctx?: RunContext, opts: RunMachineOptions = {}): Promise<RoleResult[]> {
  let timer: NodeJS.Timeout | undefined;
  if (ctx?.progress.enabled) {
    ctx.progress.plan({
      durationMs: ctx.common.duration !== undefined ? ((ctx.common.ramp ?? 0) + ctx.common.duration) * 1000 : undefined,
      ops: ctx.common.ops,
      label: opts.label,
    });
    const live = new LiveOps(m.arena, m.spec);
    timer = setInterval(() => ctx.progress.ops(live.read()), opts.everyMs ?? 250);
  }
  let results: RoleResult[];
  try {
    results = await m.run(roles, opts);
  } catch (e) {
    // A worker's error reaches here structured-cloned: its class survives only in the stack text.
    const cause = (e as { cause?: { name?: string; stack?: string } }).cause;
    const contract = cause?.name === 'ContractError' || String(cause?.stack ?? '').startsWith('ContractError:');
    if (e instanceof MachineError && m.spec.bugs?.length && contract) throw new SwitchFault(e.message, [...m.spec.bugs], m.spec.ncpu);
    throw e;
  } finally {
    if (timer) clearInterval(timer);
    ctx?.progress.clear();
    if (ctx?.common.trace) gatherTrace(m, ctx, rolesByCpu(roles), opts.label);
  }
  return results;
}

/** The role each cpu ran, in Machine.run's order. */
function rolesByCpu(roles: RoleSpec[]): string[] {
  const out: string[] = [];
  for (const r of roles) for (let i = 0; i < (r.count ?? 1); i++) out.push(r.role);
  return out;
}

/** Append the machine's trace rings to `ctx.trace` as one more trace process. */
export function gatherTrace(m: Machine, ctx: RunContext, roles: string[], label?: string): void {
  const t = (ctx.trace ??= { events: [], machines: 0, dropped: 0 });
  const pid = ++t.machines;
  const { events, summary } = chromeEvents(m, roles, pid, label ?? `machine ${pid}`);
  for (const e of events) t.events.push(e);
  t.dropped += summary.dropped;
}
