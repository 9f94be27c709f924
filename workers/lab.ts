/**
 * The primitives lab: a few locks, counters and channels in the arena, and the roles that the
 * sync tests and the primitives benchmark run on them. Each role is a small script whose result
 * the caller asserts on; none asserts on time.
 */
import { defineStruct } from '../src/shm/layout.js';
import { EWOULDBLOCK } from '../src/sync/errno.js';
import { LK_MTX, LK_SPIN, LockLayout } from '../src/sync/layouts.js';
import { PINTERLOCKED } from '../src/sync/sync.js';
import { registerRoles } from '../src/engine/roles.js';
import { type Kernel, registerInitializer, registerPlanner } from '../src/engine/spec.js';

export const LabLayout = defineStruct(
  'lab',
  {
    spin: { struct: LockLayout },
    mtx: { struct: LockLayout },
    rawlock: { line: 'i32' },
    spincount: { line: 'i32' },
    /** 1 while a writer of lab:count-rw is inside its exclusive section (plain, under spin). */
    inside: 'i32',
    mtxcount: { line: 'i32' },
    rawcount: { line: 'i32' },
    held: { line: 'i32' },
    release: 'i32',
    asleep: 'i32',
    woke: 'i32',
    phase: { line: 'i32' },
    turn: { line: 'i32' },
    /** benchhit: the number of the last pass some caller ended (workers/bench-hit.ts). */
    passover: { line: 'i32' },
    mstate: { line: 'i32' },
    cond: 'i32',
    c_a: { line: 'i32' },
    c_b: { line: 'i32' },
    c_s: 'i32',
    c_z: 'i32',
  },
  { align: 64 },
);
type LabField = keyof typeof LabLayout.off;

registerPlanner('lab', (plan, spec) => {
  if (spec.lab) plan.pool('lab', LabLayout, 1);
});

registerInitializer('lab', (arena, sync, spec) => {
  if (!spec.lab) return;
  const lab = arena.pool('lab', LabLayout).addr(0);
  sync.lock_init(LabLayout.addrOf(lab, 'spin'), 'lab_spin', LK_SPIN);
  sync.lock_init(LabLayout.addrOf(lab, 'mtx'), 'lab_mtx', LK_MTX);
});

function labOf(k: Kernel) {
  const base = k.arena.pool('lab', LabLayout).addr(0);
  const V = k.arena.view(LabLayout);
  const i32 = k.arena.i32;
  return {
    base,
    V,
    spin: LabLayout.addrOf(base, 'spin'),
    mtx: LabLayout.addrOf(base, 'mtx'),
    chan: (f: LabField) => LabLayout.addrOf(base, f),
    /** Wait (sleeping, not spinning) until `pred()` holds; `f` is the word the other side notifies. */
    waitUntil(f: LabField, pred: () => boolean): void {
      const i = V.idx(base, f);
      while (!pred()) Atomics.wait(i32, i, Atomics.load(i32, i), 5);
    },
    set(f: LabField, v: number): void {
      V.store(base, f, v);
      Atomics.notify(i32, V.idx(base, f));
    },
    inc(f: LabField): void {
      V.add(base, f, 1);
      Atomics.notify(i32, V.idx(base, f));
    },
  };
}

/** Absolute wall time in ms, comparable across workers. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Busy-wait the host core for about `ns` nanoseconds (a critical section's work). */
function work(n: number): number {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x * 31 + i) | 0;
  return x;
}

registerRoles(import.meta.url, {
  /** Increment a plain (non-atomic) counter `iters` times under the spinlock. */
  'lab:count-spin': (k, a: { iters: number; work?: number }) => {
    const L = labOf(k);
    const s = k.sync;
    for (let i = 0; i < a.iters; i++) {
      s.spin_lock(L.spin);
      const v = L.V.get(L.base, 'spincount');
      work(a.work ?? 0);
      L.V.set(L.base, 'spincount', v + 1);
      s.spin_unlock(L.spin);
    }
    return { iters: a.iters };
  },

  /**
   * The spinlock as a reader-writer lock: a writer increments the plain counter under spin_lock,
   * a reader reads it twice under spin_lock_shared, with work in between. Counted as violations:
   * a writer that finds shared holders inside, a reader that finds a writer inside or sees the
   * counter change under it.
   */
  'lab:count-rw': (k, a: { iters: number; side: 'writer' | 'reader'; work?: number }) => {
    const L = labOf(k);
    const s = k.sync;
    let violations = 0;
    for (let i = 0; i < a.iters; i++) {
      if (a.side === 'writer') {
        s.spin_lock(L.spin);
        if (s.lock_shared_count(L.spin) !== 0) violations++;
        L.V.set(L.base, 'inside', 1);
        const v = L.V.get(L.base, 'spincount');
        work(a.work ?? 0);
        L.V.set(L.base, 'spincount', v + 1);
        L.V.set(L.base, 'inside', 0);
        s.spin_unlock(L.spin);
      } else {
        s.spin_lock_shared(L.spin);
        const before = L.V.get(L.base, 'spincount');
        if (L.V.get(L.base, 'inside') !== 0) violations++;
        work(a.work ?? 0);
        if (L.V.get(L.base, 'spincount') !== before) violations++;
        s.spin_unlock_shared(L.spin);
      }
    }
    return { violations };
  },

  /**
   * Take the spinlock shared and hold it until `n` cpus hold it (or `waitMs` passed), then report
   * what it saw with all of them inside; with `probe`, also what an exclusive trylock and an
   * exclusive unlock do then. Every holder leaves once each has looked, and a second
   * spin_unlock_shared reports its error.
   */
  'lab:hold-shared': (k, a: { n: number; probe?: boolean; waitMs?: number }) => {
    const L = labOf(k);
    const s = k.sync;
    const deadline = performance.now() + (a.waitMs ?? 20_000);
    s.spin_lock_shared(L.spin);
    L.inc('held');
    L.waitUntil('held', () => L.V.load(L.base, 'held') >= a.n || performance.now() > deadline);
    const out: Record<string, unknown> = { together: L.V.load(L.base, 'held') >= a.n, sharedCount: s.lock_shared_count(L.spin) };
    if (a.probe) {
      out.exclusiveTrylock = s.spin_trylock(L.spin);
      try {
        s.spin_unlock(L.spin);
      } catch (e) {
        out.unlockError = (e as Error).message;
      }
    }
    L.inc('woke');
    L.waitUntil('woke', () => L.V.load(L.base, 'woke') >= a.n || performance.now() > deadline);
    s.spin_unlock_shared(L.spin);
    try {
      s.spin_unlock_shared(L.spin);
    } catch (e) {
      out.secondUnlockError = (e as Error).message;
    }
    return out;
  },

  /**
   * LK_SLEEPFAIL beside a plain waiter: the holder takes the sleep lock and lets it go once two
   * cpus wait for it (the lock word marked contended); the sleeper, first in, lock_sleepfail's it;
   * the locker, second, lock's it.
   */
  'lab:sleepfail': (k, a: { part: 'holder' | 'sleeper' | 'locker'; waitMs?: number }) => {
    const L = labOf(k);
    const s = k.sync;
    const deadline = performance.now() + (a.waitMs ?? 20_000);
    const waiting = () => {
      let n = 0;
      for (let c = 0; c < s.ncpu; c++) if (s.T.load(s.threads.addr(c), 'td_blockaddr') === L.mtx) n++;
      return n;
    };
    const until = (f: LabField, pred: () => boolean) => L.waitUntil(f, () => pred() || performance.now() > deadline);
    if (a.part === 'holder') {
      s.lock(L.mtx);
      L.set('held', 1);
      until('held', () => waiting() === 2 && s.L.load(L.mtx, 'lk_word') === 2);
      const bothAsleep = waiting() === 2;
      s.unlock(L.mtx);
      return { bothAsleep };
    }
    until('held', () => L.V.load(L.base, 'held') === 1 && (a.part === 'sleeper' || waiting() === 1));
    if (a.part === 'locker') {
      s.lock(L.mtx);
      s.unlock(L.mtx);
      return { locked: true };
    }
    const r = s.lock_sleepfail(L.mtx, 0);
    const held = s.lock_held(L.mtx);
    if (r === 0) s.unlock(L.mtx);
    return { r, held };
  },

  /** Increment a plain counter `iters` times under the sleep lock. */
  'lab:count-mtx': (k, a: { iters: number; work?: number }) => {
    const L = labOf(k);
    const s = k.sync;
    for (let i = 0; i < a.iters; i++) {
      s.lock(L.mtx);
      const v = L.V.get(L.base, 'mtxcount');
      work(a.work ?? 0);
      L.V.set(L.base, 'mtxcount', v + 1);
      s.unlock(L.mtx);
    }
    return { iters: a.iters };
  },

  /** Hold both lab locks until `release` is set. */
  'lab:hold': (k) => {
    const L = labOf(k);
    k.sync.lock(L.mtx);
    k.sync.spin_lock(L.spin);
    L.set('held', 1);
    L.waitUntil('release', () => L.V.load(L.base, 'release') === 1);
    k.sync.spin_unlock(L.spin);
    k.sync.unlock(L.mtx);
    return {};
  },

  /** Wait until `lab:hold` holds the locks, then take the sleep lock once (it blocks until release). */
  'lab:lock-when-held': (k) => {
    const L = labOf(k);
    L.waitUntil('held', () => L.V.load(L.base, 'held') === 1);
    k.sync.lock(L.mtx);
    L.V.add(L.base, 'mtxcount', 1);
    k.sync.unlock(L.mtx);
    return {};
  },

  /** Probe try-lock, timed lock and unlock-by-non-owner while `lab:hold` holds the locks. */
  'lab:try-timed': (k) => {
    const L = labOf(k);
    const s = k.sync;
    L.waitUntil('held', () => L.V.load(L.base, 'held') === 1);
    const trylockWhileHeld = s.trylock(L.mtx);
    const spinTrylockWhileHeld = s.spin_trylock(L.spin);
    const timedWhileHeld = s.lock_timed(L.mtx, 20);
    let unlockError = '';
    try {
      s.unlock(L.mtx);
    } catch (e) {
      unlockError = (e as Error).message;
    }
    const owner = s.lock_owner(L.mtx);
    L.set('release', 1);
    const timedAfterRelease = s.lock_timed(L.mtx, 60_000);
    const held = s.lock_held(L.mtx);
    s.unlock(L.mtx);
    const spinTrylockAfter = s.spin_trylock(L.spin);
    if (spinTrylockAfter) s.spin_unlock(L.spin);
    return { trylockWhileHeld, spinTrylockWhileHeld, timedWhileHeld, unlockError, owner, timedAfterRelease, held, spinTrylockAfter };
  },

  'lab:tsleep-timeout': (k, a: { ms: number }) => {
    const L = labOf(k);
    return { r: k.sync.tsleep(L.chan('c_z'), 0, 'labtimo', a.ms) };
  },

  /** Sleep on channel c_a (interlocked, counted in `asleep` and `woke`). */
  'lab:sleeper': (k, a: { timeoutMs?: number }) => {
    const L = labOf(k);
    const ch = L.chan('c_a');
    k.sync.tsleep_interlock(ch);
    L.inc('asleep');
    const r = k.sync.tsleep(ch, PINTERLOCKED, 'labslp', a.timeoutMs ?? 0);
    L.inc('woke');
    return { r };
  },

  /**
   * Wait until `n` sleepers sleep on c_a, then wake them: mode 'all' with one wakeup, mode 'one'
   * with wakeup_one first, recording how many were still asleep right after it.
   */
  'lab:waker': (k, a: { n: number; mode: 'all' | 'one' }) => {
    const L = labOf(k);
    const s = k.sync;
    const ch = L.chan('c_a');
    const onChannel = (): number => {
      let c = 0;
      for (let cpu = 0; cpu < s.ncpu; cpu++) if (s.T.load(s.threads.addr(cpu), 'td_wchan') === ch) c++;
      return c;
    };
    L.waitUntil('asleep', () => L.V.load(L.base, 'asleep') === a.n && onChannel() === a.n);
    if (a.mode === 'all') {
      const woken = s.wakeup(ch);
      L.waitUntil('woke', () => L.V.load(L.base, 'woke') === a.n);
      return { woken };
    }
    const first = s.wakeup_one(ch);
    const stillOnChannel = onChannel();
    L.waitUntil('woke', () => L.V.load(L.base, 'woke') >= 1);
    const wokeAfterOne = L.V.load(L.base, 'woke');
    const rest = s.wakeup(ch);
    L.waitUntil('woke', () => L.V.load(L.base, 'woke') === a.n);
    return { first, stillOnChannel, wokeAfterOne, rest };
  },

  /**
   * The interlock window, made certain: interlock, let the waker's wakeup land, then sleep with
   * PINTERLOCKED. A correct tsleep returns 0 at once; a lost wakeup would time out.
   */
  'lab:il-sleeper': (k, a: { iters: number; timeoutMs: number }) => {
    const L = labOf(k);
    const ch = L.chan('c_b');
    let lost = 0;
    for (let i = 0; i < a.iters; i++) {
      k.sync.tsleep_interlock(ch);
      L.set('phase', 2 * i + 1);
      L.waitUntil('phase', () => L.V.load(L.base, 'phase') === 2 * i + 2);
      if (k.sync.tsleep(ch, PINTERLOCKED, 'ilrace', a.timeoutMs) !== 0) lost++;
    }
    return { lost };
  },

  'lab:il-waker': (k, a: { iters: number }) => {
    const L = labOf(k);
    const ch = L.chan('c_b');
    let missed = 0;
    for (let i = 0; i < a.iters; i++) {
      L.waitUntil('phase', () => L.V.load(L.base, 'phase') === 2 * i + 1);
      if (k.sync.wakeup(ch) !== 1) missed++;
      L.set('phase', 2 * i + 2);
    }
    return { missed };
  },

  /**
   * Ping-pong between two cpus. mode 'raw': Atomics.wait/notify on one word (the baseline);
   * mode 'tsleep': tsleep_interlock + tsleep / wakeup on two channels. Free-running: every
   * interleaving of wakeup against interlock happens. Sleeps time out after `timeoutMs`
   * (0: never) and timeouts are counted: a lost wakeup shows as a timeout.
   */
  'lab:pingpong': (k, a: { iters: number; side: 0 | 1; mode: 'raw' | 'tsleep'; timeoutMs?: number }) => {
    const L = labOf(k);
    const s = k.sync;
    const i32 = k.arena.i32;
    const turn = L.V.idx(L.base, 'turn');
    const mine = a.side;
    const theirs = 1 - a.side;
    let timeouts = 0;
    const t0 = wallMs();
    if (a.mode === 'raw') {
      for (let i = 0; i < a.iters; i++) {
        while (Atomics.load(i32, turn) !== mine) Atomics.wait(i32, turn, theirs);
        Atomics.store(i32, turn, theirs);
        Atomics.notify(i32, turn, 1);
      }
    } else {
      const myChan = L.chan(mine === 0 ? 'c_a' : 'c_b');
      const theirChan = L.chan(mine === 0 ? 'c_b' : 'c_a');
      const wm = s.intern(mine === 0 ? 'ping' : 'pong');
      for (let i = 0; i < a.iters; i++) {
        // check; interlock; recheck; sleep — the kernel's idiom
        while (Atomics.load(i32, turn) !== mine) {
          s.tsleep_interlock(myChan);
          if (Atomics.load(i32, turn) === mine) {
            s.tsleep_remove();
            break;
          }
          if (s.tsleep(myChan, PINTERLOCKED, wm, a.timeoutMs ?? 0) === EWOULDBLOCK) timeouts++;
        }
        Atomics.store(i32, turn, theirs);
        s.wakeup(theirChan);
      }
    }
    return { t0, t1: wallMs(), timeouts };
  },

  /** Hold the sleep lock and msleep on c_s until `cond`; report whether the lock came back. */
  'lab:msleeper': (k) => {
    const L = labOf(k);
    const s = k.sync;
    const ch = L.chan('c_s');
    s.lock(L.mtx);
    L.set('mstate', 1);
    let sleeps = 0;
    while (L.V.load(L.base, 'cond') === 0) {
      s.msleep(ch, L.mtx, 'labmslp', 60_000);
      sleeps++;
    }
    const heldAfter = s.lock_held(L.mtx);
    s.unlock(L.mtx);
    return { heldAfter, sleeps };
  },

  'lab:mwaker': (k) => {
    const L = labOf(k);
    const s = k.sync;
    L.waitUntil('mstate', () => L.V.load(L.base, 'mstate') === 1);
    s.lock(L.mtx); // only possible because msleep released it
    L.V.store(L.base, 'cond', 1);
    s.unlock(L.mtx);
    return { woken: s.wakeup(L.chan('c_s')) };
  },

  /** Sleep on c_s with wmesg "snaptest" until woken (the main thread wakes it). */
  'lab:snap-sleeper': (k) => {
    const L = labOf(k);
    return { r: k.sync.tsleep(L.chan('c_s'), 0, 'snaptest', 0) };
  },

  'lab:crash': (k, a: { afterMs?: number }) => {
    const L = labOf(k);
    if (a.afterMs) k.sync.tsleep(L.chan('c_z'), 0, 'precrash', a.afterMs);
    throw new Error('boom: deliberate crash');
  },

  'lab:exit': () => {
    process.exit(3);
  },

  /** Sleep on c_z with no timeout: only a stop of the machine ends it. */
  'lab:sleep-forever': (k) => {
    const L = labOf(k);
    return { r: k.sync.tsleep(L.chan('c_z'), 0, 'forever', 0) };
  },
  /** A broken role: it sleeps again whatever wakes it and never looks at the shutdown word. */
  'lab:deaf': (k) => {
    const L = labOf(k);
    for (;;) k.sync.tsleep(L.chan('c_z'), 0, 'deaf', 0);
  },

  /** Uncontended lock + unlock pairs: raw CAS + store, spinlock, sleep lock (ns per pair). */
  'lab:bench-uncontended': (k, a: { iters: number; reps: number }) => {
    const L = labOf(k);
    const s = k.sync;
    const i32 = k.arena.i32;
    const raw = L.V.idx(L.base, 'rawlock');
    const out = { raw: [] as number[], spin: [] as number[], mtx: [] as number[] };
    for (let r = 0; r < a.reps; r++) {
      let t = performance.now();
      for (let i = 0; i < a.iters; i++) {
        if (Atomics.compareExchange(i32, raw, 0, 1) !== 0) throw new Error('raw lock was held');
        Atomics.store(i32, raw, 0);
      }
      out.raw.push(((performance.now() - t) * 1e6) / a.iters);
      t = performance.now();
      for (let i = 0; i < a.iters; i++) {
        s.spin_lock(L.spin);
        s.spin_unlock(L.spin);
      }
      out.spin.push(((performance.now() - t) * 1e6) / a.iters);
      t = performance.now();
      for (let i = 0; i < a.iters; i++) {
        s.lock(L.mtx);
        s.unlock(L.mtx);
      }
      out.mtx.push(((performance.now() - t) * 1e6) / a.iters);
    }
    return out;
  },

  /** Contended acquisitions by several cpus: raw CAS spin, spinlock, or sleep lock. */
  'lab:bench-contended': (k, a: { iters: number; kind: 'raw' | 'spin' | 'mtx' }) => {
    const L = labOf(k);
    const s = k.sync;
    const i32 = k.arena.i32;
    const raw = L.V.idx(L.base, 'rawlock');
    const cnt = L.V.idx(L.base, 'rawcount');
    const t0 = wallMs();
    if (a.kind === 'raw') {
      for (let i = 0; i < a.iters; i++) {
        while (Atomics.compareExchange(i32, raw, 0, 1) !== 0) {
          while (Atomics.load(i32, raw) !== 0) {
            // spin
          }
        }
        i32[cnt]++;
        Atomics.store(i32, raw, 0);
      }
    } else if (a.kind === 'spin') {
      for (let i = 0; i < a.iters; i++) {
        s.spin_lock(L.spin);
        i32[cnt]++;
        s.spin_unlock(L.spin);
      }
    } else {
      for (let i = 0; i < a.iters; i++) {
        s.lock(L.mtx);
        i32[cnt]++;
        s.unlock(L.mtx);
      }
    }
    return { t0, t1: wallMs() };
  },
});

/** Read the lab's words from the main thread (tests). */
export function labWords(arena: import('../src/shm/arena.js').Arena): Record<LabField, number> {
  const base = arena.pool('lab', LabLayout).addr(0);
  const V = arena.view(LabLayout);
  const out = {} as Record<LabField, number>;
  for (const f of Object.keys(LabLayout.off) as LabField[]) out[f] = V.load(base, f);
  return out;
}

export function labChannel(arena: import('../src/shm/arena.js').Arena, f: LabField): number {
  return LabLayout.addrOf(arena.pool('lab', LabLayout).addr(0), f);
}

