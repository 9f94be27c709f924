/** The `primitives` scenario: spinlock, sleep lock and tsleep/wakeup against raw Atomics. */
import { type PrimitivesReport, benchPrimitives } from '../../bench/primitives.js';
import { KIOLAB_VERSION, type RunReport, machineInfo } from '../report/run-report.js';
import { numOpt, registerScenario } from './registry.js';

/** The bench's RunReport: its figures as a table, each target a check, the raw figures under `primitives`. */
export interface PrimitivesRunReport extends RunReport {
  primitives: PrimitivesReport;
}

const fmt = (x: number) => (x >= 1000 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1));

/** A RunReport of the primitives' figures (they run many short machines: no jobs, locks or timeline of one load). */
export function primitivesRunReport(p: PrimitivesReport): PrimitivesRunReport {
  const now = Date.now();
  return {
    kiolab_version: KIOLAB_VERSION,
    timestamp: Math.floor(now / 1000),
    time: new Date(now).toISOString(),
    scenario: 'primitives',
    options: { scale: p.config.scale, reps: p.config.reps },
    machine: machineInfo(2),
    summary: [
      `primitives: kiolab's locks and sleep queues against raw Atomics baselines measured in the same run, each figure the median of ${p.config.reps} repetitions`,
      '  baseline: a CAS+store lock for the locks; Atomics.wait/notify for the ping-pong',
    ],
    jobs: [],
    locks: [],
    sleeps: [],
    devices: [],
    tables: [
      {
        title: 'figures',
        head: ['figure', 'unit', 'baseline', 'kiolab', 'ratio', 'target'],
        rows: p.figures.map((f) => [f.name, f.unit, fmt(f.baseline), fmt(f.value), `${f.ratio.toFixed(2)}x`, f.target ? `${f.target}: ${f.ok ? 'met' : 'MISSED'}` : '-']),
      },
    ],
    timeline: { binMs: 100, rampMs: 0, roles: [] },
    // A missed target is a failed check, as everywhere else (exit 1), though on a busy host it may be the host's.
    checks: p.figures.filter((f) => f.target).map((f) => ({ name: `${f.name}: ${f.target}`, ok: !!f.ok, detail: `${f.ratio.toFixed(2)}x` })),
    primitives: p,
  };
}

registerScenario({
  name: 'primitives',
  description: 'spinlock, sleep lock and tsleep/wakeup against raw Atomics baselines',
  options: {
    scale: { type: 'string', help: 'multiply the amount of work (default 1)', number: { min: 0.001 } },
    reps: { type: 'string', help: 'repetitions per figure; the median is reported (default 5)', number: { min: 1, integer: true } },
  },
  honours: [],
  refuses: {
    seed: 'its loops make no random choice',
    duration: 'its loops have fixed sizes: --scale sets the amount of work, --reps the repetitions',
    ops: 'its loops have fixed sizes: --scale sets the amount of work, --reps the repetitions',
    ramp: 'every figure is a median of --reps repetitions; there is no warm-up phase to leave out',
    cpus: 'its contended figures use exactly 2 workers, as their raw baselines do',
    device: 'it runs no device',
    'device-file': 'it runs no device',
    trace: 'it runs many short machines, one per figure and repetition, not one load to trace',
    check: 'it builds no subsystem for the checker to sample',
    'as-seed': 'it runs no kernel subsystem: there is no seed to follow, only the primitives',
    workload: 'its loops are lock and sleep micro-benchmarks: there are no block requests to replay',
  },
  run: async (o, progress) => primitivesRunReport(await benchPrimitives({ scale: numOpt('scale', o.scale, 0.001), reps: numOpt('reps', o.reps, 1, { integer: true }) }, progress)),
});
