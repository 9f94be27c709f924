/**
 * Probes: small deterministic scenarios run inside one worker (a real cpu that may lock and
 * sleep), returning plain JSON for the tests — queue placement of brelse/bqrelse, getnewbuf's
 * recycling order and restart paths, getblk's size change and B_DELWRI-without-B_CACHE commit,
 * a failed write staying dirty, cluster_awrite's run, a vnode's clean and dirty lists; and a
 * few two-cpu probes (a role each, meeting through the cache's own state).
 */
import { B_AGE, B_CACHE, B_DELWRI, B_ERROR, B_INVAL, B_LOCKED, B_NOCACHE, B_RELBUF, B_VNCLEAN, B_VNDIRTY, bflagsToString } from '../device/buf.js';
import { Devices } from '../device/disk.js';
import { setAccessHook } from '../shm/access.js';
import { Arena } from '../shm/arena.js';
import { Field } from '../shm/view.js';
import { Sync } from '../sync/sync.js';
import { cluster_awrite } from './cluster.js';
import { BufCache } from './core.js';
import { findblk, getblk, getcacheblk, regetblk } from './getblk.js';
import { checkInvariants } from './invariants.js';
import { bawrite, bdirty, bdwrite, bheavy, bqrelse, breadcb, brelse, bwrite } from './io.js';
import { VHASH_SIZE, type BufMachineSpec } from './layout.js';
import { FileLoad } from './load.js';
import { BQUEUE_NAMES, FINDBLK_TEST, RESTART_NAMES } from './tunables.js';
import { vfsync } from './vnode.js';

export interface Placement {
  name: string;
  queue: string;
  /** 'head' | 'tail' | 'middle' | 'none' */
  at: string;
  flags: string;
  bufsize: number;
  hashed: boolean;
}

/** A private word outside the arena that nobody notifies: waiting on it is a plain sleep. */
const nap = new Field(new Int32Array(new SharedArrayBuffer(4)), 0);

function where(bc: BufCache, bp: number, name: string): Placement {
  const q = bc.b_qindex.load(bp);
  const set = bc.B.load(bp, 'b_qcpu');
  const head = bc.qfirst(set, q) === bp;
  const tail = bc.P.loadAt(bc.pcpus.addr(set), 'q_tail', q) === bp;
  return {
    name,
    queue: BQUEUE_NAMES[q],
    at: q === 0 ? 'none' : head && tail ? 'head+tail' : head ? 'head' : tail ? 'tail' : 'middle',
    flags: bflagsToString(bc.b_flags.load(bp)),
    bufsize: bc.B.load(bp, 'b_bufsize'),
    hashed: bc.B.load(bp, 'b_vp') !== 0,
  };
}

function restarts(bc: BufCache): Record<string, number> {
  const out: Record<string, number> = {};
  for (let c = 0; c < bc.pcpus.count; c++) {
    RESTART_NAMES.forEach((n, k) => (out[n] = (out[n] ?? 0) + bc.P.loadAt(bc.pcpus.addr(c), 'gnb_restart', k)));
  }
  return out;
}

function waitIdle(bc: BufCache): void {
  while (bc.gl('runningbufcount') > 0) nap.wait(0, 0, 1);
}

/** The file blocks (b_loffset / bsize) on list `head` of vnode `vp`, sorted. Quiescent callers only. */
function listOf(bc: BufCache, vp: number, head: Field): number[] {
  const out: number[] = [];
  for (let bp = head.load(bc.vnode(vp)); bp !== 0; bp = bc.b_vnnext.load(bp)) out.push(bc.b_loffset.load(bp) / bc.gl('bsize'));
  return out.sort((a, b) => a - b);
}

/**
 * vfsync(vp) through a second, instrumented attachment of this cpu to the arena: how many of the
 * vnode's hash slots it read and the pool indexes of the buffer headers it touched.
 */
function vfsyncTouches(bc: BufCache, spec: BufMachineSpec, vp: number): { hashReads: number; headers: number[] } {
  const arena = Arena.attach(bc.arena.sab, bc.arena.plan);
  arena.instrument();
  const s = new Sync(arena, bc.cpu);
  Devices.of(s, spec);
  const hash = bc.V.addrOf(bc.vnode(vp), 'v_hash');
  let hashReads = 0;
  const headers = new Set<number>();
  setAccessHook({
    access(_kind, addr) {
      if (addr >= hash && addr < hash + 4 * VHASH_SIZE) hashReads++;
      const n = bc.bufs.elementOf(addr);
      if (n >= 0) headers.add(n);
    },
  });
  try {
    vfsync(BufCache.of(s), vp, 0);
  } finally {
    setAccessHook(null);
  }
  return { hashReads, headers: [...headers].sort((a, b) => a - b) };
}

type Probe = (L: FileLoad, bc: BufCache, spec: BufMachineSpec) => unknown;

const probes: Record<string, Probe> = {
  /** Where each kind of release puts the buffer. Needs ≥ 2 files, file 1 heavy-free. */
  placement(L, bc) {
    const bs = L.bsize;
    const out: Placement[] = [];
    const step = (name: string, lbn: number, prep: (bp: number) => void, rel: (bp: number) => void) => {
      const bp = getblk(bc, 1, lbn * bs, bs, 0);
      bc.b_flags.and(bp, ~B_INVAL);
      prep(bp);
      rel(bp);
      out.push(where(bc, bp, name));
      return bp;
    };
    const valid = (bp: number) => void bc.b_flags.or(bp, B_CACHE);
    step('bdwrite', 0, valid, (bp) => bdwrite(bc, bp));
    step('bdwrite heavy', 1, (bp) => (valid(bp), bheavy(bc, bp)), (bp) => bdwrite(bc, bp));
    step('bqrelse clean', 2, valid, (bp) => bqrelse(bc, bp));
    step('brelse clean', 3, valid, (bp) => brelse(bc, bp));
    step('brelse B_INVAL', 4, (bp) => (valid(bp), bc.b_flags.or(bp, B_INVAL)), (bp) => brelse(bc, bp));
    step('brelse B_ERROR (failed read)', 5, (bp) => bc.b_flags.or(bp, B_ERROR), (bp) => brelse(bc, bp));
    step('brelse B_NOCACHE', 6, (bp) => (valid(bp), bc.b_flags.or(bp, B_NOCACHE)), (bp) => brelse(bc, bp));
    step('brelse B_RELBUF', 7, (bp) => (valid(bp), bc.b_flags.or(bp, B_RELBUF)), (bp) => brelse(bc, bp));
    const held = step('brelse B_RELBUF with b_refs', 8, (bp) => (valid(bp), bc.b_flags.or(bp, B_RELBUF), bc.bqhold(bp)), (bp) => brelse(bc, bp));
    bc.bqdrop(held);
    const lk = step('brelse B_LOCKED', 9, (bp) => (valid(bp), bc.b_flags.or(bp, B_LOCKED)), (bp) => brelse(bc, bp));
    step('bqrelse B_LOCKED', 10, (bp) => (valid(bp), bc.b_flags.or(bp, B_LOCKED)), (bp) => bqrelse(bc, bp));
    step('bdwrite then brelse B_ERROR (re-dirtied stays)', 11, valid, (bp) => {
      bdwrite(bc, bp);
      const again = getblk(bc, 1, 11 * bs, bs, 0);
      bc.b_flags.or(again, B_ERROR);
      brelse(bc, again);
    });
    step('bdwrite then brelse B_INVAL (destroyed)', 12, valid, (bp) => {
      bdwrite(bc, bp);
      const again = getblk(bc, 1, 12 * bs, bs, 0);
      bc.b_flags.or(again, B_INVAL);
      brelse(bc, again);
    });
    step('bdwrite then brelse B_NOCACHE (undirtied, freed)', 13, valid, (bp) => {
      bdwrite(bc, bp);
      const again = getblk(bc, 1, 13 * bs, bs, 0);
      bc.b_flags.or(again, B_NOCACHE);
      brelse(bc, again);
    });
    step('bqrelse dirty heavy', 14, (bp) => (valid(bp), bheavy(bc, bp)), (bp) => {
      bdwrite(bc, bp);
      bqrelse(bc, getblk(bc, 1, 14 * bs, bs, 0));
    });
    // regetblk takes a LOCKED-queue buffer back
    regetblk(bc, lk);
    const reget = where(bc, lk, 'regetblk');
    bc.b_flags.and(lk, ~B_LOCKED);
    bqrelse(bc, lk);
    return { placements: out, reget, dirtybufcount: bc.gl('dirtybufcount'), dirtybufcounthw: bc.gl('dirtybufcounthw') };
  },

  /** getnewbuf's order: EMPTY first, then CLEAN with the B_AGE second chance; refs skip a buffer. */
  order(L, bc) {
    const bs = L.bsize;
    const taken: { lbn: number; buf: number; from: string }[] = [];
    const nbuf = bc.nbuf;
    // Use every header once (all come from EMPTY), releasing them clean.
    for (let i = 0; i < nbuf; i++) {
      const emptyHead = bc.qfirst(0, 5);
      const bp = getblk(bc, 1, i * bs, bs, 0);
      taken.push({ lbn: i, buf: bc.B.load(bp, 'b_owner'), from: bp === emptyHead ? 'EMPTY' : 'other' });
      bc.b_flags.or(bp, B_CACHE);
      bqrelse(bc, bp);
    }
    const cleanOrder: number[] = [];
    for (let bp = bc.qfirst(0, 2); bp; bp = bc.b_qnext.load(bp)) cleanOrder.push(bc.B.load(bp, 'b_owner'));
    // Hold the last one: getnewbuf must skip a referenced buffer.
    const last = bc.buf(cleanOrder[cleanOrder.length - 1]);
    bc.bqhold(last);
    const r1 = getblk(bc, 2, 0, bs, 0);
    const first = bc.B.load(r1, 'b_owner');
    const agedAfterFirst = cleanOrder.filter((n) => bc.b_flags.load(bc.buf(n)) & B_AGE).length;
    bc.b_flags.or(r1, B_CACHE);
    bqrelse(bc, r1);
    // A cache hit on the next-oldest buffer clears its B_AGE and requeues it at the tail: it
    // survives the next recycle, which takes the one after it.
    const hit = getblk(bc, 1, 1 * bs, bs, 0);
    const hitBuf = bc.B.load(hit, 'b_owner');
    bqrelse(bc, hit);
    const r2 = getblk(bc, 2, bs, bs, 0);
    const second = bc.B.load(r2, 'b_owner');
    bc.b_flags.or(r2, B_CACHE);
    bqrelse(bc, r2);
    bc.bqdrop(last);
    const hitStillCached = bc.B.load(bc.buf(hitBuf), 'b_vp') === 1;
    return { taken, cleanOrder, held: cleanOrder[cleanOrder.length - 1], first, second, hitBuf, hitStillCached, agedAfterFirst, restarts: restarts(bc) };
  },

  /** Restart paths: flushingbufs hysteresis, next cpu, and the sleep on needsbuffer (timed). */
  restarts(L, bc) {
    const bs = L.bsize;
    const nbuf = bc.nbuf;
    // Fill the cache with clean buffers: bufspace climbs to hibufspace, then flushingbufs frees.
    for (let i = 0; i < nbuf + 4; i++) {
      const bp = getblk(bc, 1, (i % L.fileBlocks) * bs, bs, 0);
      bc.b_flags.or(bp, B_CACHE);
      bqrelse(bc, bp);
    }
    const afterFill = { bufspace: bc.gl('bufspace'), hibufspace: bc.gl('hibufspace'), lobufspace: bc.gl('lobufspace'), restarts: restarts(bc) };
    // Dirty every header: getnewbuf finds nothing anywhere and sleeps on needsbuffer.
    let i = 0;
    const dirty: number[] = [];
    for (;;) {
      const bp = getblk(bc, 2, i * bs, bs, 0, 50);
      if (bp === 0) break;
      bc.b_flags.or(bp, B_CACHE);
      bdwrite(bc, bp);
      dirty.push(bc.B.load(bp, 'b_owner'));
      i++;
      if (i > nbuf + 2) break;
    }
    const sets = new Set(dirty.map((n) => bc.B.load(bc.buf(n), 'b_qcpu')));
    return { afterFill, dirtied: dirty.length, setsUsed: [...sets].sort(), restarts: restarts(bc), needsbuffer: bc.gl('needsbuffer') };
  },

  /** getblk: a size change writes the dirty buffer out; B_DELWRI without B_CACHE is committed first. */
  getblk(L, bc) {
    const bs = L.bsize;
    const o = L.oracle!;
    // size change of a dirty buffer
    L.write(1, 0, 'delayed', bc.cpu);
    const v1 = o.latestVersion(L.devblk(1, 0));
    const small = getblk(bc, 1, 0, bs / 2, 0);
    const sizeChange = { bcount: bc.B.load(small, 'b_bcount'), cached: (bc.b_flags.load(small) & B_CACHE) !== 0, deviceVersionBefore: v1, deviceVersionAfter: o.latestVersion(L.devblk(1, 0)), dirtyAfter: bc.gl('dirtybufcount') };
    bc.b_flags.or(small, B_INVAL);
    brelse(bc, small);
    // B_DELWRI without B_CACHE
    L.write(1, 1, 'delayed', bc.cpu);
    const bp = getblk(bc, 1, bs, bs, 0);
    bc.b_flags.and(bp, ~B_CACHE);
    bqrelse(bc, bp);
    const before = o.latestVersion(L.devblk(1, bs));
    const again = getblk(bc, 1, bs, bs, 0);
    const commit = { deviceVersionBefore: before, deviceVersionAfter: o.latestVersion(L.devblk(1, bs)), flags: bflagsToString(bc.b_flags.load(again)), dirty: (bc.b_flags.load(again) & B_DELWRI) !== 0 };
    bc.b_flags.or(again, B_INVAL);
    brelse(bc, again);
    // getcacheblk: only fully valid buffers
    L.write(1, 2, 'delayed', bc.cpu);
    const c1 = getcacheblk(bc, 1, 2 * bs, 0, 0);
    const cached = c1 !== 0;
    if (c1) bqrelse(bc, c1);
    const c2 = getcacheblk(bc, 1, 3 * bs, 0, 0);
    return { sizeChange, commit, getcacheblk: { cached, uncached: c2 } };
  },

  /** breadcb: a miss completes through the callback on the device's cpu; a hit calls it at once. */
  breadcb(L, bc) {
    const bs = L.bsize;
    const count = () => {
      let n = 0;
      for (let c = 0; c < bc.pcpus.count; c++) n += bc.P.load(bc.pcpus.addr(c), 'readahead');
      return n;
    };
    breadcb(bc, 1, 5 * bs, bs, 0, 'bufcache.breadcb_release', 0);
    const bp = findblk(bc, 1, 5 * bs, FINDBLK_TEST);
    for (let i = 0; i < 5000 && (bc.BUF_LOCKINUSE(bp) || count() < 1); i++) nap.wait(0, 0, 1);
    const afterMiss = { callbacks: count(), cached: (bc.b_flags.load(bp) & B_CACHE) !== 0, queue: BQUEUE_NAMES[bc.b_qindex.load(bp)] };
    breadcb(bc, 1, 5 * bs, bs, 0, 'bufcache.breadcb_release', 0);
    const afterHit = { callbacks: count(), locked: bc.BUF_LOCKINUSE(bp), queue: BQUEUE_NAMES[bc.b_qindex.load(bp)] };
    const out: string[] = [];
    L.read(1, 5, 0, out);
    return { afterMiss, afterHit, mismatches: out };
  },

  /** A write to a bad block fails and the buffer stays dirty; the async retry fails the same way. */
  failedWrite(L, bc) {
    const bs = L.bsize;
    const bp = getblk(bc, 1, 0, bs, 0);
    L.oracle?.stamp(bc.B.load(bp, 'b_data'), L.devblk(1, 0), bs / L.devBlockSize, bc.cpu);
    bc.b_flags.or(bp, B_CACHE);
    bdirty(bc, bp);
    const error = bwrite(bc, bp);
    const afterSync = { error, ...where(bc, bp, 'after bwrite'), dirtybufcount: bc.gl('dirtybufcount') };
    const again = getblk(bc, 1, 0, bs, 0);
    bawrite(bc, again);
    waitIdle(bc);
    nap.wait(0, 0, 5);
    const afterAsync = { ...where(bc, again, 'after bawrite'), dirtybufcount: bc.gl('dirtybufcount'), runningbufspace: bc.gl('runningbufspace') };
    return { afterSync, afterAsync };
  },
};


/** cluster_awrite: the dirty run after block 0 ends at the first clean block; all of it reaches the device. */
probes.cluster = (L, bc) => {
  const bs = L.bsize;
  const o = L.oracle!;
  for (const lbn of [0, 1, 2, 4]) L.write(1, lbn, 'delayed', bc.cpu);
  L.read(1, 3, 0, []); // block 3: cached and clean
  const before = [0, 1, 2, 3, 4].map((lbn) => o.latestVersion(L.devblk(1, lbn * bs)));
  const dirtyBefore = bc.gl('dirtybufcount');
  const bp = getblk(bc, 1, 0, bs, 0);
  const run = cluster_awrite(bc, bp);
  waitIdle(bc);
  for (let lbn = 0; lbn < 3; lbn++) {
    bc.BUF_UNLOCK(findblk(bc, 1, lbn * bs, 0)); // its completion released it
  }
  const after = [0, 1, 2, 3, 4].map((lbn) => o.latestVersion(L.devblk(1, lbn * bs)));
  const b4 = getblk(bc, 1, 4 * bs, bs, 0);
  const single = cluster_awrite(bc, b4, 1);
  waitIdle(bc);
  bc.BUF_UNLOCK(findblk(bc, 1, 4 * bs, 0));
  return { run, single, before, after, dirtyBefore, dirtyAfter: bc.gl('dirtybufcount'), runningbufspace: bc.gl('runningbufspace'), block4: o.latestVersion(L.devblk(1, 4 * bs)) };
};

/**
 * A vnode's lists through bdwrite, vfsync and brelse(B_INVAL): cached blocks sit on the clean
 * list, dirtied ones on the dirty list; vfsync (instrumented) walks the dirty list only, and its
 * writes bring the buffers back to the clean list; an invalidated buffer leaves both.
 */
probes.vnodeLists = (L, bc, spec) => {
  const bs = L.bsize;
  const mismatches: string[] = [];
  for (let lbn = 0; lbn < 12; lbn++) L.read(1, lbn, 0, mismatches);
  for (let lbn = 0; lbn < 4; lbn++) L.read(2, lbn, 0, mismatches);
  const dirtied = [1, 4, 7];
  for (const lbn of dirtied) L.write(1, lbn, 'delayed', bc.cpu);
  const lists = (vp: number) => ({ clean: listOf(bc, vp, bc.v_cleanblkhd), dirty: listOf(bc, vp, bc.v_dirtyblkhd) });
  const before = { v1: lists(1), v2: lists(2), invariants: checkInvariants(bc.arena) };
  const dirtyBufs = dirtied.map((lbn) => findblk(bc, 1, lbn * bs, FINDBLK_TEST));
  const o = L.oracle!;
  const versionsBefore = dirtied.map((lbn) => o.latestVersion(L.devblk(1, lbn * bs)));
  const touched = vfsyncTouches(bc, spec, 1);
  for (const bp of dirtyBufs) {
    bc.BUF_LOCK(bp); // its write completed and released it
    bc.BUF_UNLOCK(bp);
  }
  const versionsAfter = dirtied.map((lbn) => o.latestVersion(L.devblk(1, lbn * bs)));
  const after = lists(1);
  const bp0 = getblk(bc, 1, 0, bs, 0);
  bc.b_flags.or(bp0, B_INVAL);
  brelse(bc, bp0);
  const invalidated = { ...lists(1), onList: (bc.b_flags.load(bp0) & (B_VNCLEAN | B_VNDIRTY)) !== 0 };
  return { before, vfsync: touched, dirtyHeaders: dirtyBufs.map((bp) => bc.bufs.index(bp)).sort((a, b) => a - b), versionsBefore, versionsAfter, after, invalidated, mismatches };
};

/** How long the two-cpu probes wait for the other cpu before they report what they saw. */
const PEER_WAIT_MS = 20_000;

/** Nap until `done()` or PEER_WAIT_MS passed; returns `done()`. */
function awaitPeer(done: () => boolean): boolean {
  const deadline = performance.now() + PEER_WAIT_MS;
  while (!done() && performance.now() < deadline) nap.wait(0, 0, 1);
  return done();
}

/**
 * With vtokenFinder on another cpu: cache block 0 of vnode 1, then hold the vnode's v_token
 * shared (across naps: a probe, not kernel code) until the finder has the block locked.
 */
probes.vtokenHolder = (L, bc) => {
  const bp = getblk(bc, 1, 0, L.bsize, 0);
  bc.b_flags.or(bp, B_CACHE);
  bqrelse(bc, bp);
  const tok = bc.vnode(1);
  bc.sync.spin_lock_shared(tok);
  const foundWhileHeld = awaitPeer(() => bc.BUF_LOCKINUSE(bp));
  bc.sync.spin_unlock_shared(tok);
  return { foundWhileHeld };
};

/** Once vtokenHolder holds v_token shared, getblk block 0 of vnode 1 (findblk), and keep it until the token is free. */
probes.vtokenFinder = (L, bc) => {
  const tok = bc.vnode(1);
  // The holder's own getblk takes the token shared too (findblk): wait for the cached block as well.
  const cached = (): boolean => {
    for (let i = 0; i < bc.nbuf; i++) {
      const bp = bc.bufs.addr(i);
      if (bc.b_vp.load(bp) === 1 && bc.b_loffset.load(bp) === 0 && (bc.b_flags.load(bp) & B_CACHE) !== 0 && !bc.BUF_LOCKINUSE(bp)) return true;
    }
    return false;
  };
  const holderIn = awaitPeer(() => cached() && bc.sync.lock_shared_count(tok) > 0);
  const bp = getblk(bc, 1, 0, L.bsize, 0);
  const found = (bc.b_flags.load(bp) & B_CACHE) !== 0 && bc.b_vp.load(bp) === 1 && bc.b_loffset.load(bp) === 0;
  const holderOut = awaitPeer(() => !bc.sync.lock_busy(tok));
  bqrelse(bc, bp);
  return { holderIn, found, holderOut };
};

/**
 * With sleepfailWaiter on another cpu: getblk block 0 of vnode 1 and hold it until the waiter
 * sleeps on its lock (the lock word marked contended), then invalidate it (brelse B_INVAL
 * unhashes it and wakes the waiter).
 */
probes.sleepfailHolder = (L, bc) => {
  const bp = getblk(bc, 1, 0, L.bsize, 0);
  const asleep = awaitPeer(() => {
    for (let c = 0; c < bc.sync.ncpu; c++) {
      if (c !== bc.cpu && bc.sync.T.load(bc.sync.threads.addr(c), 'td_blockaddr') === bp) return bc.b_lockword.load(bp) === 2;
    }
    return false;
  });
  bc.b_flags.or(bp, B_INVAL);
  brelse(bc, bp);
  return { asleep };
};

/**
 * Once sleepfailHolder holds block 0 of vnode 1, getblk it: what came back, and how this cpu's
 * getblk counted the retries (getblk_recycled: locked a recycled buffer; getblk_sleepfail: slept
 * on a busy one and looked again).
 */
probes.sleepfailWaiter = (L, bc) => {
  const held = awaitPeer(() => {
    const x = findblk(bc, 1, 0, FINDBLK_TEST);
    return x !== 0 && bc.BUF_LOCKINUSE(x);
  });
  const count = () => [bc.P.load(bc.mypc, 'getblk_recycled'), bc.P.load(bc.mypc, 'getblk_sleepfail')];
  const [r0, s0] = count();
  const bp = getblk(bc, 1, 0, L.bsize, 0);
  const [r1, s1] = count();
  const identity = bc.b_vp.load(bp) === 1 && bc.b_loffset.load(bp) === 0;
  bc.b_flags.or(bp, B_INVAL);
  brelse(bc, bp);
  return { held, identity, recycled: r1 - r0, sleepfail: s1 - s0 };
};

/** Run probe `name` on this cpu. */
export function runProbe(sync: Sync, spec: BufMachineSpec, name: string): unknown {
  const p = probes[name];
  if (!p) throw new RangeError(`bufcache probe: unknown probe ${JSON.stringify(name)}; have ${Object.keys(probes).join(', ')}`);
  const L = new FileLoad(sync, spec);
  return p(L, L.bc, spec);
}
