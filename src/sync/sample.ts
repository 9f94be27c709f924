/**
 * The contract between a subsystem's sampler (src/<subsystem>/sample.ts: what must hold of a
 * running machine) and the checker that calls it (src/race/checker.ts).
 */
import type { Sync } from './sync.js';

/** How a sampler takes locks: `take` returns false when it cannot take `lk` now (skip that part). */
export interface SampleCtx {
  readonly sync: Sync;
  take(lk: number): boolean;
  drop(lk: number): void;
}

export interface SampleResult {
  /** What was found broken (empty: every sampled invariant held). */
  violations: string[];
  /** Locks that could not be taken this time (their part was not sampled). */
  skipped: number;
}
