/**
 * Detectors: lost wakeups (a sleeper whose wake condition already holds; a cpu a wakeup or an
 * unlock let go that still waits in the host), deadlocks (a cycle in
 * the wait-for graph over sleep locks and spinlocks, with sleepers listed), lock-order reversals
 * (recorded on every acquisition by the race hooks, reported even when no hang happens), owner
 * death (the locks a dead cpu still holds) and poisoning of freed structs.
 */
import type { Arena } from '../shm/arena.js';
import { LK_MTX, TDF_SLEEPING } from '../sync/layouts.js';
import type { SyncSnapshot } from '../sync/snapshot.js';
import type { Sync } from '../sync/sync.js';
import { wakeConditionOf } from '../sync/wakecond.js';
import { LOR_CLASSES, type RaceCtl } from './control.js';

// ------------------------------------------------------------------ lost wakeups

// The registry of wake conditions lives in src/sync/wakecond.ts; re-exported here.
export { registerWakeCondition, type WakeCondition } from '../sync/wakecond.js';

export interface LostWakeup {
  cpu: number;
  role: string;
  ident: number;
  wmesg: string;
  sinceMs: number;
}

/** Sleepers of the snapshot whose wake condition already holds. */
export function lostWakeups(arena: Arena, snap: SyncSnapshot): LostWakeup[] {
  const out: LostWakeup[] = [];
  for (const s of snap.sleepers) {
    const cond = wakeConditionOf(s.wmesg);
    if (cond && cond(arena, s.ident)) out.push({ cpu: s.cpu, role: s.role, ident: s.ident, wmesg: s.wmesg, sinceMs: snap.at - s.since });
  }
  return out;
}

export interface UnwokenWaiter {
  cpu: number;
  role: string;
  /** 'sleep': a waker took it off its channel; 'mutex': the sleep lock it waits for is free. */
  kind: 'sleep' | 'mutex';
  /** The sleep's wait message, or the lock's name. */
  what: string;
  /** The same string for the same wait in every sample (cpu, what, when the wait began). */
  key: string;
}

/**
 * Cpus that were let go but still wait in the host: a sleeper whose channel a waker cleared
 * (td_wchan 0 with TDF_SLEEPING still set), and a cpu blocked on a sleep lock that is free. In a
 * working machine either lasts only until the host runs that cpu again; one that lasts was never
 * notified (a wakeup that cleared the channel but did not kick the sleeper, an unlock that did not
 * wake the waiter it recorded). Spinners are left out: they need no notify. One sample; the
 * caller judges whether it persists. The stress watchdog's; explore never lets a cpu into the
 * host wait once it may go on, so it cannot see these.
 */
export function unwokenWaiters(s: Sync, snap: SyncSnapshot): UnwokenWaiter[] {
  const out: UnwokenWaiter[] = [];
  const T = s.T;
  for (let c = 0; c < s.ncpu; c++) {
    const td = s.threads.addr(c);
    if (T.load(td, 'td_wchan') === 0 && T.load(td, 'td_flags') & TDF_SLEEPING) {
      const wmesg = s.nameOf(T.load(td, 'td_wmesg'));
      out.push({ cpu: c, role: s.nameOf(T.load(td, 'td_role')), kind: 'sleep', what: wmesg, key: `${c}:sleep:${wmesg}:${T.load(td, 'td_sleepseq')}` });
    }
  }
  for (const b of snap.blocked) {
    if (s.L.load(b.lock, 'lk_kind') === LK_MTX && !s.lock_busy(b.lock)) {
      out.push({ cpu: b.cpu, role: b.role, kind: 'mutex', what: s.lockName(b.lock), key: `${b.cpu}:mutex:${b.lock}:${b.since}` });
    }
  }
  return out;
}

// ------------------------------------------------------------------ deadlock

export interface WaitEdge {
  cpu: number;
  role: string;
  /** What it waits for. */
  lock: string;
  kind: 'spin' | 'mutex';
  owner: number;
}

/** Edges cpu → owner of the lock it waits for, and the first cycle among them (cpus), if any. */
export function waitForGraph(s: Sync, snap: SyncSnapshot, extra: { cpu: number; lock: number; kind: 'spin' | 'mutex' }[] = []): { edges: WaitEdge[]; cycle: number[] | null } {
  const edges: WaitEdge[] = [];
  const roleOf = (c: number) => s.nameOf(s.T.load(s.threads.addr(c), 'td_role'));
  const seen = new Set<number>();
  const add = (cpu: number, lk: number, kind: 'spin' | 'mutex') => {
    if (seen.has(cpu)) return;
    seen.add(cpu);
    edges.push({ cpu, role: roleOf(cpu), lock: s.lockName(lk), kind, owner: s.lock_owner(lk) });
  };
  for (const b of snap.blocked) {
    const kind = snap.held.find((h) => h.addr === b.lock)?.kind ?? 'mutex';
    add(b.cpu, b.lock, kind);
  }
  for (const x of extra) add(x.cpu, x.lock, x.kind);
  const next = new Map(edges.map((e) => [e.cpu, e.owner]));
  for (const start of next.keys()) {
    const path: number[] = [];
    let c: number | undefined = start;
    while (c !== undefined && c >= 0 && !path.includes(c)) {
      path.push(c);
      c = next.get(c);
    }
    if (c !== undefined && c >= 0 && path.includes(c)) return { edges, cycle: path.slice(path.indexOf(c)) };
  }
  return { edges, cycle: null };
}

/**
 * Who holds lock `lk`, for a message: a cpu; how many hold it shared; no cpu although the word
 * says held (the main thread, or an unlock that cleared the owner and not the word); or nobody.
 */
export function lockState(s: Sync, lk: number): string {
  const owner = s.lock_owner(lk);
  if (owner >= 0) return `held by cpu ${owner}`;
  const shared = s.lock_shared_count(lk);
  if (shared > 0) return `held shared by ${shared} cpu(s)`;
  return s.lock_busy(lk) ? `held (lk_word ${s.L.load(lk, 'lk_word')}) but owned by no cpu` : 'free';
}

// ------------------------------------------------------------------ lock order

export interface LockOrderReversal {
  first: { from: string; to: string; cpu: number };
  second: { from: string; to: string; cpu: number };
}

/**
 * Record that a cpu acquired `lk` while holding `held` (witness-style, by lock class), and
 * return the reversal if the opposite order was ever recorded. Classes with ids >= 64 and
 * nesting within one class are not checked.
 */
export function lorAcquire(ctl: RaceCtl, s: Sync, held: readonly number[], lk: number): LockOrderReversal | null {
  const cl = s.L.load(lk, 'lk_class');
  if (cl <= 0 || cl >= LOR_CLASSES) return null;
  const W = ctl.W;
  const N = 4 * LOR_CLASSES * LOR_CLASSES;
  for (const h of held) {
    const ch = s.L.load(h, 'lk_class');
    if (ch <= 0 || ch >= LOR_CLASSES || ch === cl) continue;
    const e = ctl.lor + 4 * (ch * LOR_CLASSES + cl);
    if (W.load(e) === 0 && W.cas(e, 0, s.cpu + 1) === 0) {
      W.store(e + N, h);
      W.store(e + 2 * N, lk);
    }
    const r = ctl.lor + 4 * (cl * LOR_CLASSES + ch);
    const rc = W.load(r);
    if (rc !== 0) {
      return {
        first: { from: s.lockName(W.load(r + N)), to: s.lockName(W.load(r + 2 * N)), cpu: rc - 1 },
        second: { from: s.lockName(h), to: s.lockName(lk), cpu: s.cpu },
      };
    }
  }
  return null;
}

// ------------------------------------------------------------------ owner death

/** Locks the snapshot shows held by `cpu` (a worker that died holding them). */
export function heldBy(snap: SyncSnapshot, cpu: number): string[] {
  return snap.held.filter((h) => h.owner === cpu).map((h) => `${h.className}@${h.addr} (${h.kind})`);
}

// ------------------------------------------------------------------ poisoning

// Poisoning lives in src/sync/poison.ts (subsystems poison what they free); re-exported here.
export { assertLive, isPoisoned, POISON, poison } from '../sync/poison.js';
