/**
 * What each sleep channel waits for, by wait message, for the lost-wakeup detector in src/race.
 * Subsystems and race scenarios register conditions at module load; it sits in src/sync so that a
 * subsystem may register its own wmesgs without importing from src/race.
 */
import type { Arena } from '../shm/arena.js';

/** The condition a sleeper with wait message `wmesg` on channel `ident` waits for. */
export type WakeCondition = (arena: Arena, ident: number) => boolean;
const wakeConditions = new Map<string, WakeCondition>();

/**
 * Teach the lost-wakeup detector what sleepers with these wait messages wait for (at module
 * load, in every worker and on the main thread). A sleeper whose condition already holds while
 * nobody can wake it has lost its wakeup.
 */
export function registerWakeCondition(wmesgs: string | string[], cond: WakeCondition): void {
  for (const w of Array.isArray(wmesgs) ? wmesgs : [wmesgs]) wakeConditions.set(w, cond);
}

/** The registered condition for sleepers with wait message `wmesg`, if any. */
export function wakeConditionOf(wmesg: string): WakeCondition | undefined {
  return wakeConditions.get(wmesg);
}
