/**
 * The `locks` scenario: `--cpus` workers read and write a shared word under one lab lock (spin
 * or sleep lock), now and then waking each other and sleeping. A small, real load that runs the
 * whole report pipeline — fio-grade figures, lock and sleep tables, timeline, HTML, trace — and
 * a lock-contention benchmark in its own right.
 */
import '../../workers/lab.js'; // the role sets this scenario runs
import '../../workers/report.js';
import { formatRunReport } from '../report/format.js';
import { type RunReport, buildRunReport } from '../report/run-report.js';
import { recorderOptions, runMachine, withReport } from '../report/run-machine.js';
import { Machine } from '../engine/machine.js';
import { type OptionValues, type RunContext, UsageError, registerScenario } from './registry.js';
import type { LockLoadArgs } from '../../workers/report.js';

export async function benchLocks(o: OptionValues, ctx?: RunContext): Promise<RunReport> {
  const c = ctx?.common;
  const cpus = c?.cpus ?? 2;
  const kind = (o.lock as string | undefined) ?? 'mtx';
  if (kind !== 'spin' && kind !== 'mtx') throw new UsageError(`--lock: expected spin or mtx, got ${JSON.stringify(kind)}`);
  // --ops is split exactly over the workers, each doing at least one (a share of 0 would mean
  // "no limit" to the worker: the run would last the whole --duration).
  if (c?.ops !== undefined && c.ops < cpus) throw new UsageError(`--ops ${c.ops}: fewer operations than the ${cpus} workers (--cpus); give at least ${cpus}`);
  const duration = c?.duration ?? (c?.ops !== undefined ? 0 : 2);
  const ramp = c?.ramp ?? 0;
  const num = (k: string, d: number) => (o[k] === undefined ? d : Number(o[k]));
  const machine = new Machine(withReport({ ncpu: cpus, lab: true }, ctx));
  const args: LockLoadArgs = {
    kind,
    ops: 0,
    startMs: 0, // each worker's clock starts when it passes the start barrier
    rampMs: ramp * 1000,
    durationMs: duration * 1000,
    binMs: recorderOptions(ctx, (ramp + (duration || 2)) * 1000).binMs,
    work: num('work', 50),
    readPct: num('read-pct', 70),
    sleepEvery: num('sleep-every', 256),
    seed: c?.seed ?? 1,
  };
  // --ops N in all: worker i does its exact share.
  const share = (i: number) => (c?.ops !== undefined ? Math.floor(c.ops / cpus) + (i < c.ops % cpus ? 1 : 0) : 0);
  const roles = Array.from({ length: cpus }, (_, i) => ({ role: 'report:lock-load', args: { ...args, ops: share(i) } }));
  const results = await runMachine(machine, roles, ctx, {
    label: 'locks',
    timeoutMs: (ramp + (duration || 600)) * 1000 + 60_000,
  });
  return buildRunReport({
    summary: [
      `locks: ${cpus} workers read (${args.readPct}%) and write a shared word under one ${kind === 'spin' ? 'spinlock' : 'sleep lock (mtx)'}, ${args.work} busy-loop iterations inside; every ${args.sleepEvery || 'never'} ops a worker wakes the others and sleeps 1 ms`,
      `  ${duration ? `${duration} s of load` : `${c?.ops} ops in all`}${ramp ? ` after a ${ramp} s ramp` : ''}; the lock and sleep tables below are the contention`,
    ],
    scenario: 'locks',
    machine,
    results,
    ctx,
    options: { lock: kind, work: args.work, 'read-pct': args.readPct, 'sleep-every': args.sleepEvery, cpus, duration, ramp, seed: args.seed },
    jobName: () => `lock-load (${kind})`,
  });
}

registerScenario({
  name: 'locks',
  description: 'workers read and write a shared word under one lock (lock-contention load, full report)',
  options: {
    lock: { type: 'string', help: 'spin or mtx (default mtx)' },
    work: { type: 'string', help: 'busy-loop iterations inside the critical section (default 50)', number: { min: 0, max: 1e7, integer: true } },
    'read-pct': { type: 'string', help: 'percent of ops that read (default 70)', number: { min: 0, max: 100, integer: true } },
    'sleep-every': { type: 'string', help: 'wake the others and tsleep 1 ms every N ops (default 256, 0: never)', number: { min: 0, integer: true } },
  },
  honours: ['seed', 'duration', 'ops', 'ramp', 'cpus', 'trace'],
  refuses: {
    device: 'it runs no device: its load is a lock and a shared word',
    'device-file': 'it runs no device: its load is a lock and a shared word',
    check: 'it builds no subsystem (buffer cache, BootCache, swap) for the checker to sample',
    'as-seed': 'it runs no kernel subsystem: there is no seed to follow, only the lab lock',
    workload: 'its load is a lock and a shared word: there is no block device to replay requests on',
  },
  run: (o, _progress, ctx) => benchLocks(o, ctx),
  format: (r) => formatRunReport(r as RunReport),
});
