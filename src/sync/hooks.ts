/**
 * Instrumentation points. Every lock, unlock, sleep and wakeup calls `hook.at(point, addr)` when a
 * hook is installed; with none installed the lock, unlock, interlock, wakeup and point fast paths
 * carry no check at all (installing one switches the Sync to HookedSync). The race lab installs hooks
 * that perturb (stress) or serialize (explore, replay) the schedule.
 */
export const enum Point {
  SPIN_LOCK = 1,
  SPIN_WAIT,
  SPIN_LOCKED,
  SPIN_UNLOCK,
  MTX_LOCK,
  MTX_BLOCK,
  MTX_LOCKED,
  MTX_UNLOCK,
  INTERLOCK,
  SLEEP_BLOCK,
  SLEEP_WOKE,
  WAKEUP,
  /** A named point of a subsystem (see `Sync.point`). */
  USER,
  /** Shared accesses in an instrumented arena (src/shm/access.ts), in the order of its ACC_ kinds. */
  READ,
  WRITE,
  ATOMIC_READ,
  ATOMIC_WRITE,
  ATOMIC_RMW,
  READ_RANGE,
  WRITE_RANGE,
  PEEK,
  /**
   * The race lab's stress log only: the acquire half of an atomic read-modify-write, logged once
   * the operation is over (its release half is logged, as ATOMIC_RMW, before it). No access.
   */
  ACQUIRE,
}

/**
 * The `name` of a spinlock's lock points (SPIN_LOCK, SPIN_WAIT, SPIN_LOCKED, SPIN_UNLOCK) when the
 * mode is shared (`spin_lock_shared`, `spin_unlock_shared`); 0 for the exclusive mode.
 */
export const PT_SHARED = 1;

/** The point of an access kind (src/shm/access.ts ACC_READ = 1 ... ACC_PEEK = 8). */
export function accessPoint(kind: number): Point {
  return Point.USER + kind;
}

/** True for the points of shared accesses. */
export function isAccessPoint(p: number): boolean {
  return p > Point.USER && p !== Point.ACQUIRE;
}

export const POINT_NAMES: Record<number, string> = {
  [Point.SPIN_LOCK]: 'spin_lock',
  [Point.SPIN_WAIT]: 'spin_wait',
  [Point.SPIN_LOCKED]: 'spin_locked',
  [Point.SPIN_UNLOCK]: 'spin_unlock',
  [Point.MTX_LOCK]: 'lock',
  [Point.MTX_BLOCK]: 'lock_block',
  [Point.MTX_LOCKED]: 'locked',
  [Point.MTX_UNLOCK]: 'unlock',
  [Point.INTERLOCK]: 'tsleep_interlock',
  [Point.SLEEP_BLOCK]: 'tsleep',
  [Point.SLEEP_WOKE]: 'tsleep_woke',
  [Point.WAKEUP]: 'wakeup',
  [Point.USER]: 'point',
  [Point.READ]: 'read',
  [Point.WRITE]: 'write',
  [Point.ATOMIC_READ]: 'atomic_read',
  [Point.ATOMIC_WRITE]: 'atomic_write',
  [Point.ATOMIC_RMW]: 'atomic_rmw',
  [Point.READ_RANGE]: 'read_range',
  [Point.WRITE_RANGE]: 'write_range',
  [Point.PEEK]: 'peek',
  [Point.ACQUIRE]: 'acquire',
};

export interface Hook {
  /**
   * Called at an instrumentation point. `addr` is the lock or channel (0 when none); `name` is
   * the name id of a USER point, PT_SHARED at the lock points of a shared spinlock mode. Points `MTX_BLOCK` and `SLEEP_BLOCK` come right before the
   * thread blocks in the host kernel; `MTX_LOCKED` and `SLEEP_WOKE` right after it runs again.
   */
  at(point: Point, addr: number, name: number): void;
  /**
   * The hook models the host's futexes (the race lab's serialized modes): a thread that passed
   * `MTX_BLOCK` is waiting in the futex until a notify names it, and the sync layer does not
   * block in `Atomics.wait` for a sleep lock itself (the hook has already waited for the turn).
   */
  readonly modelsFutex?: boolean;
  /** The sync layer notifies one futex waiter of sleep lock `lk` (unlock of a contended lock). */
  notifyLock?(lk: number): void;
  /** The sync layer notifies cpu `cpu`'s own futex (a wakeup that took it off its channel). */
  notifyThread?(cpu: number): void;
}
