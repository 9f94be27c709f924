/**
 * Torture scenarios for the lab's own primitives, in the manner of Linux's locktorture: three
 * cpus hammer one spinlock, one sleep lock, a token handed round on tsleep/wakeup, and a bounded
 * counter guarded by msleep or ssleep, and the scenario checks after every step that the
 * primitive did its job. They catch no catalogue switch: they are there so that a broken unlock,
 * wakeup or interlock in src/sync is caught by the lab, with a diagnosis, in every mode.
 *
 *  - `torture-spin`: each cpu takes `torture_spin` SECTIONS times per iteration (spin_lock, and
 *    spin_trylock now and then). Inside, an exclusion word (add 1, it must have been 0, subtract
 *    1) and a counter bumped with a plain read and a plain write, a point between them: two cpus
 *    inside at once trip the exclusion word or lose an update, which `check` counts.
 *  - `torture-mtx`: the same on the sleep lock `torture_mtx` with lock, trylock, lock_timed with
 *    no time to wait (0 ms: it gives up at once when the lock is held) and with a long one.
 *  - `torture-sleep`: a token passed round-robin; each cpu waits until the token word names it
 *    (tsleep_interlock, recheck, tsleep(PINTERLOCKED) on its own channel, or tsleep_until) and
 *    hands it on with wakeup or wakeup_one. Each cpu's wmesg has a wake condition ("the token
 *    names me"), so a sleeper that misses its turn is named as a lost wakeup.
 *  - `torture-msleep`, `torture-ssleep`: a condition variable: a putter and two takers move
 *    ITEMS items through a counter bounded by CAP under `torture_mtx` (msleep) or
 *    `torture_spin` (ssleep); a waiter sleeps until the counter lets it go on, a waker changes
 *    it under the lock and wakes (wakeup_one under the lock, or wakeup after the unlock).
 *
 * A `sync.point()` follows each shared step of the protocols, so that explore can switch cpus
 * there; the primitives' own points do the rest.
 */
import type { Kernel } from '../../engine/spec.js';
import type { Arena } from '../../shm/arena.js';
import { defineStruct } from '../../shm/layout.js';
import type { Field, StructView } from '../../shm/view.js';
import { ContractError } from '../../sync/errno.js';
import { LK_MTX, LK_SPIN, LockLayout } from '../../sync/layouts.js';
import { PINTERLOCKED, type Sync } from '../../sync/sync.js';
import { registerWakeCondition } from '../detect.js';
import { raceState, raceStateIn, registerRaceScenario, type RaceScenario } from '../scenario.js';

/** Cpus of every torture scenario. */
const NCPU = 3;
/** Critical sections each cpu tries per iteration (torture-spin, torture-mtx). */
const SECTIONS = 4;
/** Turns each cpu takes per iteration (torture-sleep). */
const ROUNDS = 3;
/** Items the putter hands over per iteration, half to each taker (torture-msleep, torture-ssleep). */
const ITEMS = 6;
/** Capacity of the bounded counter: 1 makes every waiter sleep often. */
const CAP = 1;
/** lock_timed's long wait: far longer than any holder keeps the lock. */
const TIMED_MS = 1000;

/**
 * The scenarios' shared state (one struct, reserved while a torture scenario runs).
 *  tt_spin, tt_mtx   the locks under torture (classes torture_spin, torture_mtx)
 *  tt_inside         atomic. Cpus inside a critical section right now: 0 or 1. The lab's own
 *                    check, so `quiet` (below): were its atomics seen, two critical sections that
 *                    did not overlap would be ordered by them, and a broken lock's data race
 *                    hidden from --detect race.
 *  tt_count          plain, under the lock being tortured: sections counted with read, point, write.
 *  tt_sections       atomic, quiet as tt_inside. Sections entered (what tt_count must equal).
 *  tt_missed         atomic. trylock / lock_timed attempts that did not get the lock.
 *  tt_token          atomic. The cpu whose turn it is (torture-sleep).
 *  tt_passes         plain, written only by the cpu the token names: turns taken.
 *  tt_turn0..2       cpu i's channel while it waits for the token (the words are not used).
 *  tt_level          plain, under the condition variable's lock: items in the counter; the
 *                    takers' channel.
 *  tt_room           plain, under that lock: CAP - tt_level; the putter's channel.
 *  tt_put, tt_taken  plain, under that lock: items put and taken in this iteration.
 */
export const TortureLayout = defineStruct(
  'torture',
  {
    tt_spin: { struct: LockLayout },
    tt_mtx: { struct: LockLayout },
    tt_inside: { line: 'i32' },
    tt_count: 'i32',
    tt_sections: 'i32',
    tt_missed: 'i32',
    tt_token: { line: 'i32' },
    tt_passes: 'i32',
    tt_turn0: { line: 'i32' },
    tt_turn1: { line: 'i32' },
    tt_turn2: { line: 'i32' },
    tt_level: { line: 'i32' },
    tt_room: { line: 'i32' },
    tt_put: 'i32',
    tt_taken: 'i32',
  },
  { align: 64, quiet: ['tt_inside', 'tt_sections'] },
);
type TortureField = keyof typeof TortureLayout.off;

const TURN = ['tt_turn0', 'tt_turn1', 'tt_turn2'] as const;
/** The fields `reset` clears (every word but the locks'). */
const WORDS = (Object.keys(TortureLayout.off) as TortureField[]).filter((f) => f !== 'tt_spin' && f !== 'tt_mtx');

// What each sleeper waits for. A channel is a word of the state struct (`chanField`), so the
// struct's address is the channel less that word's offset.
const read = (arena: Arena, chan: number, chanField: TortureField, f: TortureField) => arena.view(TortureLayout).load(chan - TortureLayout.addrOf(0, chanField), f);
TURN.forEach((turn, i) => registerWakeCondition(`tttoken${i}`, (arena, chan) => read(arena, chan, turn, 'tt_token') === i));
registerWakeCondition(['tmlevel', 'tslevel'], (arena, chan) => read(arena, chan, 'tt_level', 'tt_level') > 0);
registerWakeCondition(['tmroom', 'tsroom'], (arena, chan) => read(arena, chan, 'tt_room', 'tt_room') > 0);

interface Torture {
  s: Sync;
  V: StructView<TortureField>;
  base: number;
  spin: number;
  mtx: number;
  f: Record<'inside' | 'count' | 'sections' | 'missed' | 'token' | 'passes' | 'level' | 'room' | 'put' | 'taken', Field>;
  /** Channels: each cpu's turn, the takers' (tt_level) and the putter's (tt_room). */
  turn: number[];
  levelChan: number;
  roomChan: number;
  /** Names of this scenario's points. */
  pt: Record<'entered' | 'read' | 'wrote' | 'left' | 'missed' | 'interlocked' | 'passed', number>;
}

function attach(k: Kernel): Torture {
  const s = k.sync;
  const V = k.arena.view(TortureLayout);
  const base = raceState(k);
  const pt = (n: string) => s.intern(`torture:${n}`);
  // Wait messages enter the name table under a spinlock on first use: do it now, outside the
  // iterations, so that every iteration passes the same points.
  for (const w of [...TURN.map((_, i) => `tttoken${i}`), 'tmlevel', 'tmroom', 'tslevel', 'tsroom']) s.intern(w);
  return {
    s,
    V,
    base,
    spin: V.addrOf(base, 'tt_spin'),
    mtx: V.addrOf(base, 'tt_mtx'),
    f: {
      inside: V.field('tt_inside'),
      count: V.field('tt_count'),
      sections: V.field('tt_sections'),
      missed: V.field('tt_missed'),
      token: V.field('tt_token'),
      passes: V.field('tt_passes'),
      level: V.field('tt_level'),
      room: V.field('tt_room'),
      put: V.field('tt_put'),
      taken: V.field('tt_taken'),
    },
    turn: TURN.map((f) => V.addrOf(base, f)),
    levelChan: V.addrOf(base, 'tt_level'),
    roomChan: V.addrOf(base, 'tt_room'),
    pt: { entered: pt('entered'), read: pt('read'), wrote: pt('wrote'), left: pt('left'), missed: pt('missed'), interlocked: pt('interlocked'), passed: pt('passed') },
  };
}

/** Coordinator, no other cpu running: every word back to its start (the locks are checked free by `check`). */
function reset(c: Torture): void {
  for (const f of WORDS) c.V.store(c.base, f, 0);
  c.V.store(c.base, 'tt_room', CAP);
}

const state: RaceScenario['state'] = {
  layout: TortureLayout,
  init(sync, addr) {
    sync.lock_init(TortureLayout.addrOf(addr, 'tt_spin'), 'torture_spin', LK_SPIN);
    sync.lock_init(TortureLayout.addrOf(addr, 'tt_mtx'), 'torture_mtx', LK_MTX);
  },
};

/** A lock of the scenario still held after an iteration (every part returned), or null. */
function locksFree(c: Torture): string | null {
  for (const lk of [c.spin, c.mtx]) {
    if (c.s.lock_busy(lk)) return `${c.s.lockName(lk)} is still held after the iteration (lk_word ${c.s.L.load(lk, 'lk_word')}, owner cpu ${c.s.L.load(lk, 'lk_owner') - 1})`;
  }
  return null;
}

const partIndex = (part: string) => Number(part.slice(-1));

// ------------------------------------------------------------------ torture-spin, torture-mtx

/**
 * One critical section of `lk`: the lock must name this cpu, nobody else may be inside (the
 * exclusion word), and the counter goes up by a plain read and a plain write with a point
 * between (an update lost to a second cpu inside shows in `check`). Whatever went wrong is
 * returned, for the caller to throw once the section's work is done: a cpu that got in wrongly
 * still does that work, as it would with a broken lock, so its plain accesses of the counter race
 * with the other cpu's and --detect race can name both. `owned`: the lock names this cpu (the
 * caller unlocks only then). Entry: `lk` taken by this cpu (or so it believes). Never sleeps (a
 * point may hand the cpu over).
 */
function critical_section(c: Torture, lk: number, who: string): { bad: string | null; owned: boolean } {
  const { s, f, base, pt } = c;
  const owner = s.lock_owner(lk);
  const others = f.inside.add(base, 1);
  s.point(pt.entered, lk);
  const v = f.count.get(base);
  s.point(pt.read, lk);
  f.count.set(base, v + 1);
  s.point(pt.wrote, lk);
  f.sections.add(base, 1);
  f.inside.sub(base, 1);
  s.point(pt.left, lk);
  if (owner !== s.cpu) return { bad: `${who}: cpu ${s.cpu} took ${s.lockName(lk)} but the lock names ${owner < 0 ? 'no owner' : `cpu ${owner}`}`, owned: false };
  return { bad: others === 0 ? null : `${who}: cpu ${s.cpu} entered the critical section of ${s.lockName(lk)} while ${others} other cpu(s) were inside`, owned: true };
}

/** An attempt that did not get the lock (trylock, lock_timed): counted, and a point. */
function missed(c: Torture, lk: number): void {
  c.f.missed.add(c.base, 1);
  c.s.point(c.pt.missed, lk);
}

/** Which way attempt `j` of cpu `me` takes the lock in iteration `iter`: each way once per iteration at SECTIONS = 4. */
const way = (me: number, j: number, iter: number) => (me + j + iter) % 4;

/**
 * torture-spin, one attempt: spin_lock (three ways in four) or spin_trylock, then a critical
 * section if taken. Entry and exit: torture_spin not held. Never sleeps.
 */
function spin_attempt(c: Torture, me: number, j: number, iter: number): void {
  const s = c.s;
  if (way(me, j, iter) === 3) {
    if (!s.spin_trylock(c.spin)) return missed(c, c.spin);
  } else {
    s.spin_lock(c.spin);
  }
  const { bad, owned } = critical_section(c, c.spin, 'torture-spin');
  // The lock does not name us: we hold nothing we could release.
  if (owned) s.spin_unlock(c.spin);
  if (bad !== null) throw new ContractError(bad);
}

/**
 * torture-mtx, one attempt: lock (twice in four), trylock, or lock_timed (0 ms: no wait; or
 * TIMED_MS), then a critical section if taken. Entry and exit: torture_mtx not held. May sleep.
 */
function mtx_attempt(c: Torture, me: number, j: number, iter: number): void {
  const s = c.s;
  switch (way(me, j, iter)) {
    case 2:
      if (!s.trylock(c.mtx)) return missed(c, c.mtx);
      break;
    case 3:
      if (s.lock_timed(c.mtx, iter % 2 === 0 ? 0 : TIMED_MS) !== 0) return missed(c, c.mtx);
      break;
    default:
      s.lock(c.mtx);
  }
  const { bad, owned } = critical_section(c, c.mtx, 'torture-mtx');
  if (owned) s.unlock(c.mtx);
  if (bad !== null) throw new ContractError(bad);
}

/** After an iteration of torture-spin/torture-mtx: every section counted once, no lock held. */
function checkSections(c: Torture): string | null {
  const { V, base } = c;
  const count = V.load(base, 'tt_count');
  const sections = V.load(base, 'tt_sections');
  const missedN = V.load(base, 'tt_missed');
  if (count !== sections) return `critical sections: ${sections} entered but the counter says ${count} (an update was lost: two cpus were inside at once)`;
  if (sections + missedN !== NCPU * SECTIONS) return `critical sections: ${sections} entered and ${missedN} missed, not the ${NCPU * SECTIONS} attempts made`;
  return locksFree(c);
}

/** The instant invariant of torture-spin and torture-mtx: at most one cpu inside. */
const insideAtMostOne = (name: string) => (arena: Arena) => {
  const n = arena.view(TortureLayout).load(raceStateIn(arena, name), 'tt_inside');
  return n === 0 || n === 1 ? null : `tt_inside is ${n}: ${n} cpus inside one critical section`;
};

const PARTS = Array.from({ length: NCPU }, (_, i) => `cpu${i}`);

registerRaceScenario<Torture>({
  name: 'torture-spin',
  description: `${NCPU} cpus take one spinlock (spin_lock, spin_trylock) ${SECTIONS} times each: exclusion, no lost update`,
  bugs: [],
  parts: PARTS,
  steps: 120,
  state,
  attach,
  reset,
  run(c, part, iter) {
    for (let j = 0; j < SECTIONS; j++) spin_attempt(c, partIndex(part), j, iter);
  },
  check: checkSections,
  invariant: insideAtMostOne('torture-spin'),
  outcome: (c) => `missed:${c.V.load(c.base, 'tt_missed')}`,
});

registerRaceScenario<Torture>({
  name: 'torture-mtx',
  description: `${NCPU} cpus take one sleep lock (lock, trylock, lock_timed) ${SECTIONS} times each: exclusion, no lost update`,
  bugs: [],
  parts: PARTS,
  steps: 120,
  state,
  attach,
  reset,
  run(c, part, iter) {
    for (let j = 0; j < SECTIONS; j++) mtx_attempt(c, partIndex(part), j, iter);
  },
  check: checkSections,
  invariant: insideAtMostOne('torture-mtx'),
  outcome: (c) => `missed:${c.V.load(c.base, 'tt_missed')}`,
});

// ------------------------------------------------------------------ torture-sleep

/**
 * Wait until the token names cpu `me`: the interlock idiom by hand (check, tsleep_interlock,
 * recheck, tsleep(PINTERLOCKED)) or tsleep_until, on this cpu's own channel. Entry and exit: no
 * lock held. May sleep.
 */
function token_wait(c: Torture, me: number, byHand: boolean): void {
  const { s, f, base } = c;
  const chan = c.turn[me];
  const wmesg = `tttoken${me}`;
  if (!byHand) return s.tsleep_until(chan, wmesg, () => f.token.load(base) === me);
  while (f.token.load(base) !== me) {
    s.tsleep_interlock(chan);
    s.point(c.pt.interlocked, chan);
    if (f.token.load(base) === me) {
      s.tsleep_remove();
      break;
    }
    s.tsleep(chan, PINTERLOCKED, wmesg, 0);
  }
}

/**
 * Turn `r` of cpu `me`, which holds the token: the turn count must be this turn's number (a
 * second holder or a skipped turn shows), then the token goes to the next cpu, which is woken
 * with wakeup or wakeup_one. Entry and exit: no lock held. Never sleeps.
 */
function token_turn(c: Torture, me: number, r: number, iter: number): void {
  const { s, f, base, pt } = c;
  const want = r * NCPU + me;
  const v = f.passes.get(base);
  s.point(pt.read, c.turn[me]);
  if (v !== want) throw new ContractError(`torture-sleep: cpu ${me} holds the token for turn ${want} but the turn count is ${v} (two holders at once, or a turn skipped)`);
  f.passes.set(base, v + 1);
  s.point(pt.wrote, c.turn[me]);
  const next = (me + 1) % NCPU;
  f.token.store(base, next);
  s.point(pt.passed, c.turn[next]);
  if ((me + r + iter) % 2 === 0) s.wakeup(c.turn[next]);
  else s.wakeup_one(c.turn[next]);
}

registerRaceScenario<Torture>({
  name: 'torture-sleep',
  description: `a token handed round ${NCPU} cpus ${ROUNDS} times: tsleep_interlock/tsleep(PINTERLOCKED), tsleep_until, wakeup, wakeup_one`,
  bugs: [],
  parts: PARTS,
  steps: 100,
  state,
  attach,
  reset,
  run(c, part, iter) {
    const me = partIndex(part);
    for (let r = 0; r < ROUNDS; r++) {
      token_wait(c, me, (r + iter) % 2 === 0);
      token_turn(c, me, r, iter);
    }
  },
  check(c) {
    const passes = c.V.load(c.base, 'tt_passes');
    const token = c.V.load(c.base, 'tt_token');
    if (passes !== NCPU * ROUNDS || token !== 0) return `token: ${passes} turns taken (want ${NCPU * ROUNDS}) and the token names cpu ${token} (want 0)`;
    return null;
  },
  invariant(arena) {
    const t = arena.view(TortureLayout).load(raceStateIn(arena, 'torture-sleep'), 'tt_token');
    return t >= 0 && t < NCPU ? null : `tt_token is ${t}, no cpu of ${NCPU}`;
  },
});

// ------------------------------------------------------------------ torture-msleep, torture-ssleep

/** The condition variable's lock and its sleep: msleep on torture_mtx or ssleep on torture_spin. */
interface CondVar {
  name: string;
  lock(c: Torture): void;
  unlock(c: Torture): void;
  /** Sleep on `chan`, dropping and taking the lock again. Entry and exit: the lock held. May sleep. */
  sleep(c: Torture, chan: number, wmesg: string): void;
  levelMsg: string;
  roomMsg: string;
}

const MSLEEP: CondVar = {
  name: 'torture-msleep',
  lock: (c) => c.s.lock(c.mtx),
  unlock: (c) => c.s.unlock(c.mtx),
  sleep: (c, chan, wmesg) => void c.s.msleep(chan, c.mtx, wmesg, 0),
  levelMsg: 'tmlevel',
  roomMsg: 'tmroom',
};

const SSLEEP: CondVar = {
  name: 'torture-ssleep',
  lock: (c) => c.s.spin_lock(c.spin),
  unlock: (c) => c.s.spin_unlock(c.spin),
  sleep: (c, chan, wmesg) => void c.s.ssleep(chan, c.spin, wmesg, 0),
  levelMsg: 'tslevel',
  roomMsg: 'tsroom',
};

/**
 * Put item `i`: sleep while the counter is full, then raise it under the lock and wake a taker
 * (wakeup_one before the unlock, or wakeup after it). Entry and exit: the lock not held. May sleep.
 */
function cv_put(c: Torture, cv: CondVar, i: number): void {
  const { s, f, base, pt } = c;
  cv.lock(c);
  while (f.room.get(base) === 0) cv.sleep(c, c.roomChan, cv.roomMsg);
  const level = f.level.get(base);
  const room = f.room.get(base);
  s.point(pt.read, c.levelChan);
  cv_consistent(c, cv, 'put', level, room);
  f.level.set(base, level + 1);
  f.room.set(base, room - 1);
  f.put.set(base, f.put.get(base) + 1);
  s.point(pt.wrote, c.levelChan);
  if (i % 2 === 0) {
    s.wakeup_one(c.levelChan);
    cv.unlock(c);
  } else {
    cv.unlock(c);
    s.wakeup(c.levelChan);
  }
}

/**
 * Take item `i` of this taker: sleep while the counter is empty, then lower it under the lock and
 * wake the putter (wakeup before the unlock, or wakeup_one after it). Entry and exit: the lock
 * not held. May sleep.
 */
function cv_take(c: Torture, cv: CondVar, i: number): void {
  const { s, f, base, pt } = c;
  cv.lock(c);
  while (f.level.get(base) === 0) cv.sleep(c, c.levelChan, cv.levelMsg);
  const level = f.level.get(base);
  const room = f.room.get(base);
  s.point(pt.read, c.roomChan);
  cv_consistent(c, cv, 'take', level, room);
  f.level.set(base, level - 1);
  f.room.set(base, room + 1);
  f.taken.set(base, f.taken.get(base) + 1);
  s.point(pt.wrote, c.roomChan);
  if (i % 2 === 0) {
    s.wakeup(c.roomChan);
    cv.unlock(c);
  } else {
    cv.unlock(c);
    s.wakeup_one(c.roomChan);
  }
}

/**
 * Under the lock the counter and its room add up to CAP; when they do not (a second cpu changed
 * them inside the lock), drop the lock and throw. Entry: the lock held; it is dropped only to throw.
 */
function cv_consistent(c: Torture, cv: CondVar, op: string, level: number, room: number): void {
  if (level + room === CAP && level >= 0 && room >= 0) return;
  cv.unlock(c);
  throw new ContractError(`${cv.name}: ${op} under the lock found tt_level ${level} and tt_room ${room}, which do not add up to ${CAP}`);
}

for (const cv of [MSLEEP, SSLEEP]) {
  const how = cv === MSLEEP ? 'msleep on a sleep lock' : 'ssleep on a spinlock';
  registerRaceScenario<Torture>({
    name: cv.name,
    description: `a putter and two takers move ${ITEMS} items through a counter of ${CAP} (${how}, wakeup and wakeup_one)`,
    bugs: [],
    parts: ['putter', 'taker0', 'taker1'],
    steps: 150,
    state,
    attach,
    reset,
    run(c, part) {
      if (part === 'putter') for (let i = 0; i < ITEMS; i++) cv_put(c, cv, i);
      else for (let i = 0; i < ITEMS / 2; i++) cv_take(c, cv, i);
    },
    check(c) {
      const { V, base } = c;
      const [level, room, put, taken] = (['tt_level', 'tt_room', 'tt_put', 'tt_taken'] as const).map((x) => V.load(base, x));
      if (level !== 0 || room !== CAP || put !== ITEMS || taken !== ITEMS) return `${cv.name}: after the iteration tt_level ${level} (want 0), tt_room ${room} (want ${CAP}), ${put} put and ${taken} taken (want ${ITEMS})`;
      return locksFree(c);
    },
    invariant(arena) {
      const V = arena.view(TortureLayout);
      const b = raceStateIn(arena, cv.name);
      const level = V.load(b, 'tt_level');
      const room = V.load(b, 'tt_room');
      return level >= 0 && level <= CAP && room >= 0 && room <= CAP ? null : `${cv.name}: tt_level ${level}, tt_room ${room}: outside [0, ${CAP}]`;
    },
  });
}
