/**
 * Poisoning of freed structs: a subsystem fills what it frees with the poison word, and a later
 * use of a poisoned struct is reported as a use after free (the race lab's detectors read it).
 * It sits in src/sync so that every subsystem may use it without importing from src/race.
 */
import type { Arena } from '../shm/arena.js';
import { ContractError } from './errno.js';

export const POISON = 0xdeadbeef | 0;

/** Fill a freed struct of `bytes` at `addr` with the poison word (call where the struct is freed). */
export function poison(arena: Arena, addr: number, bytes: number): void {
  const i = addr >>> 2;
  for (let k = 0; k < bytes >>> 2; k++) Atomics.store(arena.i32, i + k, POISON);
}

/** True when the first `words` words at `addr` all hold the poison word. */
export function isPoisoned(arena: Arena, addr: number, words = 4): boolean {
  const i = addr >>> 2;
  for (let k = 0; k < words; k++) if (Atomics.load(arena.i32, i + k) !== POISON) return false;
  return true;
}

/** Assert a struct is live before use: a poisoned one is a use after free. */
export function assertLive(arena: Arena, addr: number, what: string, words = 4): void {
  if (isPoisoned(arena, addr, words)) throw new ContractError(`use after free: ${what} at ${addr} is poisoned (it was freed)`);
}
