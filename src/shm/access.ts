/**
 * The race lab's view of shared accesses. In a worker whose arena is instrumented
 * (`Arena.instrument()`), every view and bound field of a non-internal layout, and the arena's
 * byte-range helpers, report each access to the installed access hook before they make it: in
 * explore and replay every shared access is then a scheduling point, and a data-race detector
 * can see every plain access. With no hook installed, or in an arena that is not instrumented
 * (every worker outside the race lab, the main thread), the accessors are the plain classes and
 * test nothing.
 *
 * Layouts marked `internal` (the sync layer's own words and the race lab's control words) are
 * never instrumented: their accesses are the synchronization itself, reported by `Sync`'s points.
 */

/** A plain read of a word (the caller holds the lock that protects it). */
export const ACC_READ = 1;
/** A plain write of a word. */
export const ACC_WRITE = 2;
/** An atomic load. */
export const ACC_ATOMIC_READ = 3;
/** An atomic store. */
export const ACC_ATOMIC_WRITE = 4;
/** An atomic read-modify-write (add, or, and, compare-exchange, exchange). */
export const ACC_RMW = 5;
/** A plain read of a byte range (page data). */
export const ACC_RANGE_READ = 6;
/** A plain write of a byte range (page data). */
export const ACC_RANGE_WRITE = 7;
/**
 * A relaxed read (the kernel's READ_ONCE, `Field.peek`): a plain load on the host of a word that
 * others write atomically, for a look that needs no ordering (a statistic's condition, a second
 * look at a flag already read atomically, a holder's read of flags that others only add to). Not
 * a data race with the atomic writes; unlike an atomic read it orders nothing after it.
 */
export const ACC_PEEK = 8;

export const ACCESS_NAMES: Record<number, string> = {
  [ACC_READ]: 'read',
  [ACC_WRITE]: 'write',
  [ACC_ATOMIC_READ]: 'atomic_read',
  [ACC_ATOMIC_WRITE]: 'atomic_write',
  [ACC_RMW]: 'atomic_rmw',
  [ACC_RANGE_READ]: 'read_range',
  [ACC_RANGE_WRITE]: 'write_range',
  [ACC_PEEK]: 'peek',
};

export interface AccessHook {
  /** Called before a shared access of `bytes` bytes at byte address `addr`. */
  access(kind: number, addr: number, bytes: number): void;
}

/** This worker's access hook (one per worker: module state is per thread). */
export const accessHook: { h: AccessHook | null } = { h: null };

/** Install (or with null remove) this worker's access hook. */
export function setAccessHook(h: AccessHook | null): void {
  accessHook.h = h;
}

/** Run `fn` with the access hook silenced (the race lab's own sampling at quiescent points). */
export function withoutAccessHook<T>(fn: () => T): T {
  const h = accessHook.h;
  accessHook.h = null;
  try {
    return fn();
  } finally {
    accessHook.h = h;
  }
}
