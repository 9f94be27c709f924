/**
 * Roles for the seed-fidelity tests (seed.test.ts), in a module of their own: a module that
 * registers roles is imported by every worker of the machine, and a test file cannot be.
 *
 * `bctest:msleep-order`: hold the funnel and extent 0's lock, msleep on the extent for one short
 * slice (nobody wakes it), and return the order in which the locks were taken back.
 */
import '../../workers/bootcache.js';
import { BootCache } from '../../src/bootcache/cache.js';
import { CE_ABORTED, CE_IODONE } from '../../src/bootcache/defs.js';
import { registerRoles } from '../../src/engine/roles.js';
import type { Kernel } from '../../src/engine/spec.js';

registerRoles(import.meta.url, {
  'bctest:msleep-order': (k: Kernel) => {
    const bc = BootCache.of(k.sync);
    bc.sync_extents();
    const name = (lk: number) => (lk === bc.funnelLk ? 'funnel' : lk === bc.ceLock(0) ? 'extent' : String(lk));
    const s = k.sync as unknown as { lock(lk: number): void; trylock(lk: number): boolean };
    const order: string[] = [];
    const prev = bc.funnel_enter();
    bc.LOCK_EXTENT(0);
    const { lock, trylock } = s;
    s.lock = function (this: unknown, lk: number) {
      order.push(name(lk));
      lock.call(this, lk);
    };
    s.trylock = function (this: unknown, lk: number) {
      order.push(name(lk));
      return trylock.call(this, lk);
    };
    try {
      bc.msleep_extent(0, 'BC_strategy', 20, CE_ABORTED | CE_IODONE);
    } finally {
      s.lock = lock;
      s.trylock = trylock;
    }
    bc.UNLOCK_EXTENT(0);
    bc.funnel_exit(prev);
    return order;
  },
});
