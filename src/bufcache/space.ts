/**
 * Space accounting and back-pressure: buffer space, running (in-flight write) space and dirty
 * space, with their sleep/wakeup handshakes (needsbuffer, runningbufreq, bd_request[_hw] and the
 * bd_wait wake ring). Every counter is an atomic word in the globals; every request word is also
 * the sleep channel its waiters use.
 */
import { bugs } from '../sync/switches.js';
import { EWOULDBLOCK } from '../sync/errno.js';
import { PINTERLOCKED } from '../sync/sync.js';
import type { BufCache } from './core.js';
import { BD_WAKE_MASK, BD_WAKE_SIZE, MAXBSIZE, VFS_BIO_NEED_ANY, VFS_BIO_NEED_BUFSPACE, cdiv } from './tunables.js';

/**
 * bufspacewakeup: wake getnewbuf sleepers waiting for buffer space (VFS_BIO_NEED_BUFSPACE).
 * Costs one load when nobody waits. Never sleeps.
 */
export function bufspacewakeup(bc: BufCache): void {
  const nb = bc.g_needsbuffer;
  const g = bc.g;
  for (;;) {
    const flags = nb.load(g);
    if ((flags & VFS_BIO_NEED_BUFSPACE) === 0) break;
    if (nb.cas(g, flags, flags & ~VFS_BIO_NEED_BUFSPACE) === flags) {
      bc.sync.wakeup(g + (nb.w << 2));
      break;
    }
  }
}

/**
 * bufcountwakeup: a buffer went back on a free queue: wake getnewbuf sleepers (clears
 * VFS_BIO_NEED_ANY). Costs one load when nobody waits. Never sleeps.
 */
export function bufcountwakeup(bc: BufCache): void {
  const nb = bc.g_needsbuffer;
  const g = bc.g;
  for (;;) {
    const flags = nb.load(g);
    if (flags === 0) break;
    if (nb.cas(g, flags, flags & ~VFS_BIO_NEED_ANY) === flags) {
      bc.sync.wakeup(g + (nb.w << 2));
      break;
    }
  }
}

/** bsetrunningbufspace: charge a write about to be issued. Entry: buffer locked. */
export function bsetrunningbufspace(bc: BufCache, bp: number, bytes: number): void {
  bc.B.store(bp, 'b_runningbufspace', bytes);
  if (bytes) {
    bc.gadd('runningbufspace', bytes);
    bc.gadd('runningbufcount', 1);
  }
}

/**
 * runningbufwakeup: return a completed write's running space, wake waitrunningbufspace
 * sleepers and signal bd_wait sleepers. Called first thing by biodone. Never sleeps.
 */
export function runningbufwakeup(bc: BufCache, bp: number): void {
  const total = bc.B.exchange(bp, 'b_runningbufspace', 0);
  if (total === 0) return;
  // RACE SWITCH vfs-runningbuf-leak (off by default): the historical completion path of an
  // asynchronous write (lock held by the kernel) cleared the buffer's charge but skipped the
  // rest of runningbufwakeup: vfs.runningbufspace only grows, and nobody is woken.
  if (bugs.any && bugs.enabled('vfs-runningbuf-leak') && bc.B.load(bp, 'b_kernproc') !== 0) {
    return;
  }
  bc.gadd('runningbufspace', -total);
  bc.gadd('runningbufcount', -1);
  const G = bc.G;
  for (;;) {
    const flags = G.load(bc.g, 'runningbufreq');
    if (flags === 0) break;
    if (G.cas(bc.g, 'runningbufreq', flags, 0) === flags) {
      bc.sync.wakeup(G.addrOf(bc.g, 'runningbufreq'));
      break;
    }
  }
  bd_signal(bc, total);
}

/**
 * waitrunningbufspace: block while runningbufspace exceeds 4/6 of hirunningspace, or while
 * another thread already waits (fairness). Holds no lock. May sleep ("wdrn1", hz ticks).
 * kiolab's one addition: a sleep that times out with no write in flight clears runningbufreq.
 * In the seed a write that completes between a waiter's test and its fetchadd leaves the
 * request set with nothing running, and the waiter sleeps hz at a time until some other write
 * completes; a bounded load has no other writer, so both daemons would wait there for good
 * (src/bufcache/README.md, differences). Daemons leave when the machine stops.
 */
export function waitrunningbufspace(bc: BufCache): void {
  const G = bc.G;
  const g = bc.g;
  const ch = G.addrOf(g, 'runningbufreq');
  const limit = cdiv(bc.gl('hirunningspace') * 4, 6);
  while (G.load(g, 'runningbufspace') > limit || G.load(g, 'runningbufreq') !== 0) {
    if (bc.stop()) return;
    bc.sync.tsleep_interlock(ch);
    const flags = G.add(g, 'runningbufreq', 1);
    if (G.load(g, 'runningbufspace') > limit || flags) {
      bc.stat('wdrn_waits');
      const r = bc.sync.tsleep(ch, PINTERLOCKED, 'wdrn1', bc.ticks(bc.hz));
      if (r === EWOULDBLOCK && G.load(g, 'runningbufcount') === 0) G.store(g, 'runningbufreq', 0);
    } else {
      bc.sync.tsleep_remove();
    }
  }
}

/** True when dirty + running space is past hidirtybufspace or half the buffers are dirty. */
export function buf_dirty_count_severe(bc: BufCache): boolean {
  return bc.gl('runningbufspace') + bc.gl('dirtykvaspace') >= bc.gl('hidirtybufspace') || bc.gl('dirtybufcount') >= cdiv(bc.nbuf, 2);
}

export function buf_runningbufspace_severe(bc: BufCache): boolean {
  return bc.gl('runningbufspace') >= cdiv(bc.gl('hirunningspace') * 4, 6);
}

/** bd_speedup: kick buf_daemon[_hw] when dirty space passed the low-water mark. Never sleeps. */
export function bd_speedup(bc: BufCache): void {
  const nbuf = bc.nbuf;
  const dirtykva = bc.gl('dirtykvaspace');
  const lodirty = bc.gl('lodirtybufspace');
  const count = bc.gl('dirtybufcount');
  const half = cdiv(nbuf, 2);
  if (dirtykva < lodirty && count < half) return;
  const G = bc.G;
  const counthw = bc.gl('dirtybufcounthw');
  if (bc.gl('bd_request') === 0 && (dirtykva > cdiv(lodirty, 2) || count - counthw >= half)) {
    if (G.add(bc.g, 'bd_request', 1) === 0) bc.sync.wakeup(G.addrOf(bc.g, 'bd_request'));
  }
  if (bc.gl('bd_request_hw') === 0 && (dirtykva > cdiv(lodirty, 2) || counthw >= half)) {
    if (G.add(bc.g, 'bd_request_hw', 1) === 0) bc.sync.wakeup(G.addrOf(bc.g, 'bd_request_hw'));
  }
}

/**
 * bd_heatup: speed the daemons up past the first mid-point between lo and hi dirty space;
 * returns how far dirty + running space is past the second mid-point (0 if not). Never sleeps.
 */
export function bd_heatup(bc: BufCache): number {
  const lo = bc.gl('lodirtybufspace');
  const hi = bc.gl('hidirtybufspace');
  const mid1 = lo + cdiv(hi - lo, 2);
  const total = bc.gl('runningbufspace') + bc.gl('dirtykvaspace');
  if (total >= mid1 || bc.gl('dirtybufcount') >= cdiv(bc.nbuf, 2)) {
    bd_speedup(bc);
    const mid2 = mid1 + cdiv(hi - mid1, 2);
    if (total >= mid2) return total - mid2;
  }
  return 0;
}

/**
 * bd_wait: wait until the daemons flushed `totalspace` bytes (counted by bd_signal on the wake
 * ring), then keep waiting while dirty + running space stays past hidirtybufspace. The daemons
 * themselves never wait here. Holds no lock. May sleep ("flstik", hz).
 */
export function bd_wait(bc: BufCache, totalspace: number): void {
  if (bc.isDaemon) return;
  const G = bc.G;
  const g = bc.g;
  while (totalspace > 0) {
    bd_heatup(bc);
    // Fetch the index before the counters: suppliers bump it after updating them.
    let i = G.add(g, 'bd_wake_index', 0);
    const cur = bc.gl('runningbufspace') + bc.gl('dirtykvaspace');
    if (totalspace > cur) totalspace = cur;
    let count = cdiv(totalspace, MAXBSIZE);
    if (count >= BD_WAKE_SIZE / 2) count = BD_WAKE_SIZE / 2;
    i = (i + count) | 0;
    const mi = i & BD_WAKE_MASK;
    const slot = G.addrOf(g, 'bd_wake_ary') + mi * 4;
    if (bugs.any && bugs.enabled('vfs-bdwait-no-recheck')) {
      // RACE SWITCH vfs-bdwait-no-recheck (off by default): the historical bd_wait registered
      // on the slot and slept without an interlock and without rechecking bd_wake_index, so a
      // bd_signal that passed index i before the registration is never seen ("flstik").
      G.addAt(g, 'bd_wake_ary', mi, 1);
      bc.stat('bd_waits');
      bc.sync.tsleep(slot, 0, 'flstik', bc.ticks(bc.hz));
      totalspace = bc.gl('runningbufspace') + bc.gl('dirtykvaspace') - bc.gl('hidirtybufspace');
      continue;
    }
    bc.sync.tsleep_interlock(slot);
    G.addAt(g, 'bd_wake_ary', mi, 1);
    const j = G.add(g, 'bd_wake_index', 0);
    if (((i - j) | 0) >= 0) {
      bc.stat('bd_waits');
      bc.sync.tsleep(slot, PINTERLOCKED, 'flstik', bc.ticks(bc.hz));
    } else {
      bc.sync.tsleep_remove();
    }
    totalspace = bc.gl('runningbufspace') + bc.gl('dirtykvaspace') - bc.gl('hidirtybufspace');
  }
}

/** bd_signal: `totalspace` bytes of running or dirty space went away; advance the wake ring. Never sleeps. */
export function bd_signal(bc: BufCache, totalspace: number): void {
  if (totalspace <= 0) return;
  if (totalspace > MAXBSIZE * BD_WAKE_SIZE) totalspace = MAXBSIZE * BD_WAKE_SIZE;
  const G = bc.G;
  while (totalspace > 0) {
    const i = G.add(bc.g, 'bd_wake_index', 1) & BD_WAKE_MASK;
    if (G.exchangeAt(bc.g, 'bd_wake_ary', i, 0) !== 0) bc.sync.wakeup(G.addrOf(bc.g, 'bd_wake_ary') + i * 4);
    totalspace -= MAXBSIZE;
  }
}

/** bwillwrite: the write path's throttle — heat the daemons up and wait out excess dirty space. May sleep. */
export function bwillwrite(bc: BufCache): void {
  const count = bd_heatup(bc);
  if (count > 0) bd_wait(bc, count);
}
