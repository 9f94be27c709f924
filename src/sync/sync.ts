/**
 * The kernel's synchronization primitives over Atomics, for one cpu (worker) of a machine.
 *
 *  - spinlocks: `spin_lock`, `spin_trylock`, `spin_unlock` (test-and-test-and-set, bounded backoff),
 *    shared: `spin_lock_shared`, `spin_unlock_shared` (DragonFly's lwkt_gettoken_shared)
 *  - sleep locks: `lock`, `trylock`, `lock_timed`, `lock_sleepfail`, `unlock` (three-state futex
 *    word, short spin)
 *  - sleep queues: `tsleep`, `tsleep_interlock` + `PINTERLOCKED`, `wakeup`, `wakeup_one`,
 *    `msleep` (sleep lock interlock), `ssleep` (spinlock interlock)
 *
 * The main thread (cpu -1) may take spinlocks briefly and call wakeup, but never sleeps.
 *
 * This is the module the rest of the code imports. The class is split along its seam:
 *
 *  - locks.ts: `SyncLocks`, the base class: the views and pools of the sync layer, this cpu's
 *    thread record, the name table, the lock registry, the spinlocks and sleep locks with their
 *    counters, instrumentation points and progress;
 *  - sleepq.ts: `Sync extends SyncLocks`: the sleep queues and wakeups (msleep and ssleep need
 *    the locks, hence the subclass), the arena plan and `Sync.init`, and the hook, which switches
 *    the object's prototype to `HookedSync` (in the same file, as the switch names both classes).
 */
export { MAX_NAMES, MTX_SPIN_TRIES, SPIN_BACKOFF_MAX, SPIN_YIELD_EVERY, read64 } from './locks.js';
export { PINTERLOCKED, PIOWAIT, SLPQUE_BUCKETS, Sync, type SyncConfig } from './sleepq.js';
