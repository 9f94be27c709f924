/**
 * A happens-before data-race detector over one explore iteration's event log, in the manner of
 * FastTrack (Flanagan and Freund, 2009) with full vector clocks.
 *
 * In explore and replay one cpu runs at a time and every point it passes is appended to the
 * iteration's log in the order it happened (in stress, where cpus run at once, each takes its
 * slot by an atomic add placed so that the log order respects happens-before: RaceHook.stressLog): every shared access of an instrumented view (plain
 * or atomic, a word or a byte range) and every lock, unlock, sleep and wakeup. Replaying that log
 * through vector clocks gives the happens-before order the program's synchronization guarantees
 * whatever the schedule, and two conflicting accesses that it leaves unordered are a data race,
 * even when this schedule happened to run them far apart.
 *
 * Synchronization edges:
 *  - unlock → a later lock of the same lock (spin or sleep lock; try-locks that succeed count),
 *    except between two shared holders of a spinlock: a shared lock acquires only what exclusive
 *    unlocks released, an exclusive lock acquires every earlier unlock (a reader-writer lock);
 *  - wakeup → a sleeper on the same channel waking up (`tsleep` returning after a `wakeup`);
 *  - atomic write or read-modify-write → a later atomic access of the same word (kiolab's atomics
 *    are sequentially consistent: `biodone`'s CAS on the bio flags → `biowait`'s load is one).
 *    A peek (a relaxed read, READ_ONCE) acquires nothing.
 * Conflicts: two accesses of the same word by different cpus, at least one a write and at least
 * one plain (two atomics never race; a peek counts as atomic here), neither ordered before the other. Byte ranges (page data)
 * are checked against byte ranges, in 64-byte blocks.
 */
import type { Arena } from '../shm/arena.js';
import { POINT_NAMES, PT_SHARED, Point, isAccessPoint } from '../sync/hooks.js';
import type { RaceScenario } from './scenario.js';

/** One side of a race: the cpu, what it did, and the index of the event in the iteration's log. */
export interface RaceAccess {
  cpu: number;
  /** read, write, atomic_read, atomic_write, atomic_rmw, read_range, write_range. */
  kind: string;
  event: number;
}

export interface DataRace {
  /** Byte address of the word (or the 64-byte block of a range) the two accesses conflict on. */
  addr: number;
  range: boolean;
  first: RaceAccess;
  second: RaceAccess;
}

interface Epoch {
  cpu: number;
  clk: number;
  atomic: boolean;
  event: number;
  point: number;
}

interface Shadow {
  write: Epoch | null;
  reads: Map<number, Epoch>;
}

const BLOCK = 64;

/**
 * The first data race of the log, or null. `events` are [cpu, point, addr, name] in the order
 * they happened (RaceCtl.events()); `name` is the byte count of an access.
 */
export function findDataRace(events: readonly (readonly number[])[], ncpu: number): DataRace | null {
  const vc = Array.from({ length: ncpu }, (_, c) => {
    const v = new Int32Array(ncpu);
    v[c] = 1;
    return v;
  });
  const locks = new Map<number, Int32Array>();
  /** What shared holders of a spinlock released (only an exclusive lock acquires it). */
  const sharedRel = new Map<number, Int32Array>();
  const chans = new Map<number, Int32Array>();
  const atomics = new Map<number, Int32Array>();
  const words = new Map<number, Shadow>();
  const blocks = new Map<number, Shadow>();

  const join = (into: Int32Array, from: Int32Array | undefined): void => {
    if (from) for (let i = 0; i < into.length; i++) if (from[i] > into[i]) into[i] = from[i];
  };
  const release = (m: Map<number, Int32Array>, key: number, c: number): void => {
    let v = m.get(key);
    if (!v) m.set(key, (v = new Int32Array(ncpu)));
    join(v, vc[c]);
    vc[c][c]++;
  };

  for (let e = 0; e < events.length; e++) {
    const [cpu, point, addr, name] = events[e];
    if (cpu < 0 || cpu >= ncpu) continue;
    const C = vc[cpu];
    switch (point) {
      case Point.SPIN_LOCKED:
      case Point.MTX_LOCKED:
        join(C, locks.get(addr));
        if (name !== PT_SHARED) join(C, sharedRel.get(addr));
        continue;
      case Point.SPIN_UNLOCK:
      case Point.MTX_UNLOCK:
        release(name === PT_SHARED ? sharedRel : locks, addr, cpu);
        continue;
      case Point.WAKEUP:
        release(chans, addr, cpu);
        continue;
      case Point.SLEEP_WOKE:
        join(C, chans.get(addr));
        continue;
      case Point.ACQUIRE:
        // Stress: the acquire half of a read-modify-write, logged after it (see RaceHook.stressLog).
        for (let a = addr & ~3; a < addr + Math.max(4, name); a += 4) join(C, atomics.get(a));
        continue;
    }
    if (!isAccessPoint(point)) continue;
    const range = point === Point.READ_RANGE || point === Point.WRITE_RANGE;
    const peek = point === Point.PEEK;
    const atomic = peek || point === Point.ATOMIC_READ || point === Point.ATOMIC_WRITE || point === Point.ATOMIC_RMW;
    const write = point === Point.WRITE || point === Point.ATOMIC_WRITE || point === Point.ATOMIC_RMW || point === Point.WRITE_RANGE;
    const bytes = Math.max(4, name);
    const keys: number[] = [];
    if (range) for (let b = Math.floor(addr / BLOCK); b <= Math.floor((addr + bytes - 1) / BLOCK); b++) keys.push(b);
    else for (let a = addr & ~3; a < addr + bytes; a += 4) keys.push(a);
    const shadowOf = range ? blocks : words;
    // An atomic read (or the read half of a read-modify-write) acquires what earlier atomic writes released.
    if (atomic && !peek && point !== Point.ATOMIC_WRITE) for (const k of keys) join(C, atomics.get(k));
    const me: Epoch = { cpu, clk: C[cpu], atomic, event: e, point };
    for (const k of keys) {
      let s = shadowOf.get(k);
      if (!s) shadowOf.set(k, (s = { write: null, reads: new Map() }));
      const w = s.write;
      if (w && w.cpu !== cpu && !(w.atomic && atomic) && w.clk > C[w.cpu]) return report(range ? k * BLOCK : k, range, w, me);
      if (write) {
        for (const r of s.reads.values()) {
          if (r.cpu !== cpu && !(r.atomic && atomic) && r.clk > C[r.cpu]) return report(range ? k * BLOCK : k, range, r, me);
        }
        s.write = me;
        s.reads.clear();
      } else {
        s.reads.set(cpu, me);
      }
    }
    // An atomic write (or the write half of a read-modify-write) releases to later atomic readers.
    if (atomic && !peek && point !== Point.ATOMIC_READ) {
      for (const k of keys) {
        let v = atomics.get(k);
        if (!v) atomics.set(k, (v = new Int32Array(ncpu)));
        join(v, C);
      }
      C[cpu]++;
    }
  }
  return null;
}

function report(addr: number, range: boolean, a: Epoch, b: Epoch): DataRace {
  const side = (x: Epoch): RaceAccess => ({ cpu: x.cpu, kind: POINT_NAMES[x.point] ?? `point${x.point}`, event: x.event });
  return { addr, range, first: side(a), second: side(b) };
}

/** The failure a data race makes: both accesses named by cpu, part, kind and event, and the word by struct and field. */
export function describeRace(arena: Arena, sc: Pick<RaceScenario, 'name' | 'parts'>, r: DataRace, iter: number): { kind: string; message: string; race: DataRace & { what: string } } {
  const who = (c: number) => `cpu ${c} (${sc.name}/${sc.parts[c] ?? 'daemon'})`;
  const what = r.range ? `the 64 bytes at ${arena.describeAddr(r.addr)}` : arena.describeAddr(r.addr);
  const side = (x: RaceAccess) => `${who(x.cpu)} ${x.kind.replace('_', ' ')} (event ${x.event})`;
  return {
    kind: 'data-race',
    message: `data race on ${what}: ${side(r.first)} and ${side(r.second)} of iteration ${iter}, ordered by no lock, wakeup or atomic between them`,
    race: { ...r, what },
  };
}
