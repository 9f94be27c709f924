/**
 * A user module for the API test, written as a user writes one: everything from 'kiolab'. It is
 * a worker module (registerRoles records it), so the workers of the test's machine import it.
 */
import { LK_MTX, LockLayout, defineStruct, registerInitializer, registerPlanner, registerRoles } from 'kiolab';

export const CounterLayout = defineStruct('api_counter', { c_lock: { struct: LockLayout }, c_value: { line: 'i32' } }, { align: 64 });

registerPlanner('api.counter', (plan) => plan.pool('api.counter', CounterLayout, 1));
registerInitializer('api.counter', (arena, sync) => {
  sync.lock_init(CounterLayout.addrOf(arena.pool('api.counter', CounterLayout).addr(0), 'c_lock'), 'api_counter', LK_MTX);
});

registerRoles(import.meta.url, {
  /** `n` times: take the sleep lock, bump the counter with a plain read and write, unlock. */
  'api:bump': (k, a: { n: number }) => {
    const base = k.arena.pool('api.counter', CounterLayout).addr(0);
    const V = k.arena.view(CounterLayout);
    const lk = CounterLayout.addrOf(base, 'c_lock');
    for (let i = 0; i < a.n; i++) {
      k.sync.lock(lk);
      V.set(base, 'c_value', V.get(base, 'c_value') + 1);
      k.sync.unlock(lk);
    }
    return a.n;
  },
});
