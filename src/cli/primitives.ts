/** The `primitives` scenario: spinlock, sleep lock and tsleep/wakeup against raw Atomics. */
import { type PrimitivesReport, benchPrimitives, formatPrimitives } from '../../bench/primitives.js';
import { numOpt, registerScenario } from './registry.js';

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
  },
  run: (o, progress) => benchPrimitives({ scale: numOpt('scale', o.scale, 0.001), reps: numOpt('reps', o.reps, 1, { integer: true }) }, progress),
  format: (r) => formatPrimitives(r as PrimitivesReport),
  // A missed target is a failed check, as everywhere else (exit 1), though on a busy host it may be the host's.
  exitCode: (r) => ((r as PrimitivesReport).figures.some((f) => f.target && !f.ok) ? 1 : 0),
  checks: (r) => (r as PrimitivesReport).figures.filter((f) => f.target).map((f) => ({ name: `${f.name} ${f.target}`, ok: !!f.ok })),
});
