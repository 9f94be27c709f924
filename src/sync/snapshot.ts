/**
 * Who sleeps on what: a read-only view of the sync layer for the main thread (and the race lab's
 * checker). It takes no lock; each record is read atomically field by field, so a snapshot of a
 * running machine is a sample, exact only at quiescent points.
 */
import { LK_MTX, LK_SPIN, LockLayout, TDF_SLEEPING, type ThreadField } from './layouts.js';
import { MAX_NAMES, type Sync, read64 } from './sync.js';

export interface SleeperInfo {
  cpu: number;
  role: string;
  ident: number;
  wmesg: string;
  /** Milliseconds since the arena's epoch when the sleep began. */
  since: number;
}

export interface LockInfo {
  addr: number;
  className: string;
  kind: 'spin' | 'mutex';
  owner: number;
  /** Cpus waiting to take it. */
  waiters: number[];
}

export interface SyncSnapshot {
  at: number;
  sleepers: SleeperInfo[];
  /** Locks held right now, with their waiters. */
  held: LockInfo[];
  /** Cpus blocked on a lock, with the lock. */
  blocked: { cpu: number; role: string; lock: number; className: string; since: number }[];
}

export function snapshot(s: Sync): SyncSnapshot {
  const T = s.T;
  const sleepers: SleeperInfo[] = [];
  const blocked: SyncSnapshot['blocked'] = [];
  const waitersOf = new Map<number, number[]>();
  for (let c = 0; c < s.ncpu; c++) {
    const td = s.threads.addr(c);
    const role = s.nameOf(T.load(td, 'td_role'));
    const wchan = T.load(td, 'td_wchan');
    if (wchan !== 0 && T.load(td, 'td_flags') & TDF_SLEEPING) {
      sleepers.push({ cpu: c, role, ident: wchan, wmesg: s.nameOf(T.load(td, 'td_wmesg')), since: T.load(td, 'td_sleepstart') });
    }
    const lk = T.load(td, 'td_blockaddr');
    if (lk !== 0) {
      blocked.push({ cpu: c, role, lock: lk, className: s.nameOf(s.L.load(lk, 'lk_class')), since: T.load(td, 'td_blocksince') });
      const w = waitersOf.get(lk) ?? [];
      w.push(c);
      waitersOf.set(lk, w);
    }
  }
  const held: LockInfo[] = [];
  for (const lk of s.registeredLocks()) {
    const owner = s.lock_owner(lk);
    if (owner < 0 && !waitersOf.has(lk)) continue;
    const kind = s.L.load(lk, 'lk_kind');
    held.push({
      addr: lk,
      className: s.nameOf(s.L.load(lk, 'lk_class')),
      kind: kind === LK_SPIN ? 'spin' : kind === LK_MTX ? 'mutex' : 'mutex',
      owner,
      waiters: waitersOf.get(lk) ?? [],
    });
  }
  return { at: s.arena.now(), sleepers, held, blocked };
}

export interface LockClassStats {
  className: string;
  kind: 'spin' | 'mutex';
  locks: number;
  acquisitions: number;
  contended: number;
  spins: number;
  sleeps: number;
  waitUsTotal: number;
  waitUsMax: number;
}

/** Lock counters summed per class (the report's lock table). */
export function lockTable(s: Sync): LockClassStats[] {
  const by = new Map<string, LockClassStats>();
  const o = LockLayout.off;
  for (const lk of s.registeredLocks()) {
    const className = s.nameOf(s.L.load(lk, 'lk_class'));
    const kind = s.L.load(lk, 'lk_kind') === LK_SPIN ? 'spin' : 'mutex';
    const key = `${kind}:${className}`;
    let st = by.get(key);
    if (!st) {
      st = { className, kind, locks: 0, acquisitions: 0, contended: 0, spins: 0, sleeps: 0, waitUsTotal: 0, waitUsMax: 0 };
      by.set(key, st);
    }
    st.locks++;
    st.acquisitions += read64(s.arena.i32, lk, o.lk_acq_lo);
    st.contended += read64(s.arena.i32, lk, o.lk_contended_lo);
    st.spins += read64(s.arena.i32, lk, o.lk_spins_lo);
    st.sleeps += read64(s.arena.i32, lk, o.lk_sleeps_lo);
    st.waitUsTotal += read64(s.arena.i32, lk, o.lk_waitus_lo);
    st.waitUsMax = Math.max(st.waitUsMax, s.L.load(lk, 'lk_maxwaitus'));
  }
  return [...by.values()].sort((a, b) => b.acquisitions - a.acquisitions);
}

export interface SleepStats {
  wmesg: string;
  sleeps: number;
  wakeups: number;
  timeouts: number;
  totalUs: number;
  maxUs: number;
}

/** Sleep counters per wait message (the report's sleep table). */
export function sleepTable(s: Sync): SleepStats[] {
  const out: SleepStats[] = [];
  const S = s.S;
  for (let id = 1; id <= s.nameCount(); id++) {
    const row: SleepStats = { wmesg: s.nameOf(id), sleeps: 0, wakeups: 0, timeouts: 0, totalUs: 0, maxUs: 0 };
    for (let c = 0; c < s.ncpu; c++) {
      const st = s.sleepstats.addr(c * MAX_NAMES + id);
      row.sleeps += S.load(st, 'ss_sleeps');
      row.wakeups += S.load(st, 'ss_wakeups');
      row.timeouts += S.load(st, 'ss_timeouts');
      row.totalUs += (S.load(st, 'ss_totalus_lo') >>> 0) + S.load(st, 'ss_totalus_hi') * 4294967296;
      row.maxUs = Math.max(row.maxUs, S.load(st, 'ss_maxus'));
    }
    if (row.sleeps > 0) out.push(row);
  }
  return out.sort((a, b) => b.totalUs - a.totalUs);
}

/** Where one cpu's time went since its role started (µs; see ThreadLayout's time words). */
export interface ThreadTime {
  cpu: number;
  role: string;
  /** From the role's start to its end (or to now, while it runs); 0 if it never started. */
  wallUs: number;
  /** Waiting for locks: spinning, or asleep on a sleep lock. */
  lockWaitUs: number;
  /** Asleep in tsleep, all wait messages (the sum of this cpu's sleep statistics). */
  sleepUs: number;
  /** The part of sleepUs spent waiting for an I/O to complete (PIOWAIT: biowait, bio_track_wait). */
  ioWaitUs: number;
  /** A device worker serving requests (the transfer and the latency model): not in sleepUs. */
  deviceBusyUs: number;
  /** Asleep per wait message (µs), this cpu's share of the sleep table. */
  sleeps: Record<string, number>;
}

/** Per-cpu time accounting of every cpu whose role started (a sample while the machine runs). */
export function threadTimes(s: Sync): ThreadTime[] {
  const T = s.T;
  const S = s.S;
  const w64 = (td: number, lo: ThreadField, hi: ThreadField) => (T.load(td, lo) >>> 0) + T.load(td, hi) * 4294967296;
  const now = s.arena.now();
  const out: ThreadTime[] = [];
  for (let c = 0; c < s.ncpu; c++) {
    const td = s.threads.addr(c);
    const start = T.load(td, 'td_runstart');
    if (start === 0) continue;
    const end = T.load(td, 'td_runend') || now;
    const sleeps: Record<string, number> = {};
    let sleepUs = 0;
    for (let id = 1; id <= s.nameCount(); id++) {
      const st = s.sleepstats.addr(c * MAX_NAMES + id);
      const us = (S.load(st, 'ss_totalus_lo') >>> 0) + S.load(st, 'ss_totalus_hi') * 4294967296;
      if (us > 0) sleeps[s.nameOf(id)] = us;
      sleepUs += us;
    }
    out.push({
      cpu: c,
      role: s.nameOf(T.load(td, 'td_role')),
      wallUs: Math.max(0, end - start) * 1000,
      lockWaitUs: w64(td, 'td_lockwait_lo', 'td_lockwait_hi'),
      sleepUs,
      ioWaitUs: w64(td, 'td_iowait_lo', 'td_iowait_hi'),
      deviceBusyUs: w64(td, 'td_devbusy_lo', 'td_devbusy_hi'),
      sleeps,
    });
  }
  return out;
}
