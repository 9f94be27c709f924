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
  run: (o, progress) => benchPrimitives({ scale: numOpt('scale', o.scale, 0.001), reps: numOpt('reps', o.reps, 1, { integer: true }) }, progress),
  format: (r) => formatPrimitives(r as PrimitivesReport),
  // A missed target is a failed check, as everywhere else (exit 1), though on a busy host it may be the host's.
  exitCode: (r) => ((r as PrimitivesReport).figures.some((f) => f.target && !f.ok) ? 1 : 0),
});
