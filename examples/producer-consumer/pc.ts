/**
 * A bounded buffer on kiolab's primitives, with a textbook lost wakeup behind a switch.
 *
 * A producer puts ITEMS numbered items into a ring of SLOTS slots; a consumer takes them out and
 * checks their order. One sleep lock (`pc_lock`) protects the ring. Each side sleeps on its own
 * channel when it cannot go on: the consumer on `pc_count` ("pcempty") while the ring is empty,
 * the producer on `pc_free` ("pcfull") while it is full; each wakes the other after its change.
 *
 * The correct consumer sleeps with `msleep`, which drops the lock and sleeps as one step
 * (`tsleep_interlock` before the unlock). With the switch `pc-lost-wakeup` on, it does what
 * the textbook warns against: it drops the lock, then sleeps. A producer that puts an item and
 * wakes the channel in between wakes nobody, and the consumer sleeps on a non-empty ring forever.
 *
 *   kiolab race --module dist/examples/producer-consumer/pc.js producer-consumer --bug pc-lost-wakeup
 */
import { LK_MTX, LockLayout, type Kernel, bugs, defineStruct, raceState, registerBugSwitch, registerRaceScenario, registerWakeCondition } from 'kiolab';

export const SLOTS = 2;
export const ITEMS = 5;

export const PcLayout = defineStruct(
  'pc_ring',
  {
    pc_lock: { struct: LockLayout },
    /** Items in the ring (pc_lock); also the consumer's channel. */
    pc_count: { line: 'i32' },
    /** Free slots (pc_lock); also the producer's channel. */
    pc_free: { line: 'i32' },
    /** Next slot to put into / take from (pc_lock). */
    pc_head: 'i32',
    pc_tail: 'i32',
    pc_slots: { i32: SLOTS },
  },
  { align: 64 },
);

registerBugSwitch({
  name: 'pc-lost-wakeup',
  description: 'the consumer drops the ring lock, then sleeps: a wakeup in between is lost',
  reference: 'the classic lost wakeup (why msleep and tsleep_interlock exist)',
  detection: 'lost wakeup: the consumer sleeps on "pcempty" while the ring holds items',
});

// What each sleeper waits for, so the lab can tell a lost wakeup from a legitimate wait.
const COUNT = PcLayout.addrOf(0, 'pc_count');
const FREE = PcLayout.addrOf(0, 'pc_free');
registerWakeCondition('pcempty', (arena, chan) => arena.view(PcLayout).load(chan - COUNT, 'pc_count') > 0);
registerWakeCondition('pcfull', (arena, chan) => arena.view(PcLayout).load(chan - FREE, 'pc_free') > 0);

interface Ring {
  k: Kernel;
  base: number;
  V: ReturnType<Kernel['arena']['view']>;
  lock: number;
  notEmpty: number;
  notFull: number;
}

/** Put `item`. Sleeps while the ring is full. Entry and exit: pc_lock not held. */
function put(r: Ring, item: number): void {
  const { k, V, base } = r;
  const s = k.sync;
  s.lock(r.lock);
  while (V.get(base, 'pc_free') === 0) s.msleep(r.notFull, r.lock, 'pcfull', 0);
  const head = V.get(base, 'pc_head');
  V.setAt(base, 'pc_slots', head, item);
  V.set(base, 'pc_head', (head + 1) % SLOTS);
  V.set(base, 'pc_free', V.get(base, 'pc_free') - 1);
  V.set(base, 'pc_count', V.get(base, 'pc_count') + 1);
  s.unlock(r.lock);
  s.wakeup(r.notEmpty);
}

/** Take the oldest item. Sleeps while the ring is empty. Entry and exit: pc_lock not held. */
function take(r: Ring): number {
  const { k, V, base } = r;
  const s = k.sync;
  s.lock(r.lock);
  while (V.get(base, 'pc_count') === 0) {
    if (bugs.any && bugs.enabled('pc-lost-wakeup')) {
      // The bug: between this unlock and the sleep, a put() and its wakeup can come and go.
      s.unlock(r.lock);
      s.tsleep(r.notEmpty, 0, 'pcempty', 0);
      s.lock(r.lock);
    } else {
      s.msleep(r.notEmpty, r.lock, 'pcempty', 0);
    }
  }
  const tail = V.get(base, 'pc_tail');
  const item = V.getAt(base, 'pc_slots', tail);
  V.set(base, 'pc_tail', (tail + 1) % SLOTS);
  V.set(base, 'pc_count', V.get(base, 'pc_count') - 1);
  V.set(base, 'pc_free', V.get(base, 'pc_free') + 1);
  s.unlock(r.lock);
  s.wakeup(r.notFull);
  return item;
}

registerRaceScenario<Ring>({
  name: 'producer-consumer',
  description: `a producer and a consumer pass ${ITEMS} items through a ring of ${SLOTS} slots under a sleep lock`,
  bugs: ['pc-lost-wakeup'],
  parts: ['consumer', 'producer'],
  state: {
    layout: PcLayout,
    init: (sync, addr) => sync.lock_init(PcLayout.addrOf(addr, 'pc_lock'), 'pc_lock', LK_MTX),
  },
  attach(k) {
    const base = raceState(k);
    return { k, base, V: k.arena.view(PcLayout), lock: PcLayout.addrOf(base, 'pc_lock'), notEmpty: PcLayout.addrOf(base, 'pc_count'), notFull: PcLayout.addrOf(base, 'pc_free') };
  },
  reset(r) {
    for (const f of ['pc_count', 'pc_head', 'pc_tail'] as const) r.V.store(r.base, f, 0);
    r.V.store(r.base, 'pc_free', SLOTS);
  },
  run(r, part, iter) {
    if (part === 'producer') {
      for (let i = 0; i < ITEMS; i++) put(r, iter * 1000 + i);
      return;
    }
    for (let i = 0; i < ITEMS; i++) {
      const got = take(r);
      if (got !== iter * 1000 + i) throw new Error(`take: expected item ${iter * 1000 + i}, got ${got}`);
    }
  },
  check(r) {
    const count = r.V.load(r.base, 'pc_count');
    const free = r.V.load(r.base, 'pc_free');
    return count === 0 && free === SLOTS ? null : `ring not empty after the iteration: pc_count ${count}, pc_free ${free}`;
  },
});
