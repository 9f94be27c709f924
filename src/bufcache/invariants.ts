/**
 * checkInvariants: the buffer-cache invariants of RACES.md, asserted by walking every queue,
 * every header, every vnode hash chain and every vnode's clean and dirty lists. Takes no lock:
 * call it at a quiescent point (no I/O in flight, no buffer locked), from any thread. Returns the
 * violations found (empty: all hold).
 */
import { BUF_CMD_DONE, B_DELWRI, B_HASHED, B_HEAVY, B_LOCKED, B_MARKER, B_VNCLEAN, B_VNDIRTY, BioLayout, b_bio1, bflagsToString } from '../device/buf.js';
import type { Arena } from '../shm/arena.js';
import { snapshot } from '../sync/snapshot.js';
import { Sync } from '../sync/sync.js';
import { bufArena, BufGlobalsLayout, BufLayout, VHASH_SIZE } from './layout.js';
import { BQUEUE_CLEAN, BQUEUE_DIRTY, BQUEUE_DIRTY_HW, BQUEUE_EMPTY, BQUEUE_LOCKED, BQUEUE_NAMES, BQUEUE_NONE, BUFFER_QUEUES } from './tunables.js';

export function checkInvariants(arena: Arena): string[] {
  const out: string[] = [];
  const A = bufArena(arena);
  const { G, P, B, V, g, pcpu, bufs, vnodes } = A;
  const nbuf = G.load(g, 'nbuf');
  const nsets = G.load(g, 'nsets');
  const name = (bp: number) => bufName(A, bp);
  // 1. queues: membership, links, agreement with b_qindex/b_qcpu and with the flags
  const seen = new Map<number, string>();
  for (let set = 0; set < nsets; set++) {
    const pc = pcpu.addr(set);
    if (P.load(pc, 'spin') !== 0) out.push(`bufpcpu[${set}].spin is held at a quiescent point`);
    for (let q = 1; q < BUFFER_QUEUES; q++) {
      let n = 0;
      let prev = 0;
      for (let bp = P.loadAt(pc, 'q_head', q); bp !== 0; bp = B.load(bp, 'b_qnext')) {
        if (++n > nbuf + 2) {
          out.push(`queue ${BQUEUE_NAMES[q]} of set ${set} has a cycle`);
          break;
        }
        if (!bufs.contains(bp)) {
          out.push(`queue ${BQUEUE_NAMES[q]} of set ${set} links to ${bp}, not a buffer header`);
          break;
        }
        const where = `${BQUEUE_NAMES[q]}@${set}`;
        if (seen.has(bp)) out.push(`${name(bp)} is on two queues: ${seen.get(bp)} and ${where}`);
        seen.set(bp, where);
        if (B.load(bp, 'b_qprev') !== prev) out.push(`${name(bp)} on ${where}: b_qprev does not point at its predecessor`);
        prev = bp;
        if (B.load(bp, 'b_qindex') !== q || B.load(bp, 'b_qcpu') !== set) {
          out.push(`${name(bp)} is on ${where} but b_qindex/b_qcpu say ${BQUEUE_NAMES[B.load(bp, 'b_qindex')]}@${B.load(bp, 'b_qcpu')}`);
        }
        const f = B.load(bp, 'b_flags');
        if (f & B_MARKER) {
          out.push(`marker ${name(bp)} left on ${where}`);
          continue;
        }
        const bad =
          (q === BQUEUE_EMPTY && (B.load(bp, 'b_bufsize') !== 0 || f & B_HASHED || B.load(bp, 'b_vp') !== 0)) ||
          (q === BQUEUE_CLEAN && f & B_DELWRI) ||
          (q === BQUEUE_DIRTY && (f & (B_DELWRI | B_HEAVY)) !== B_DELWRI) ||
          (q === BQUEUE_DIRTY_HW && (f & (B_DELWRI | B_HEAVY)) !== (B_DELWRI | B_HEAVY)) ||
          (q === BQUEUE_LOCKED && (f & B_LOCKED) === 0);
        if (bad) out.push(`${name(bp)} on ${where}: its flags do not belong on that queue (bufsize ${B.load(bp, 'b_bufsize')}, vp ${B.load(bp, 'b_vp')})`);
      }
      if (n !== P.loadAt(pc, 'q_len', q)) out.push(`queue ${BQUEUE_NAMES[q]} of set ${set} holds ${n} buffers but q_len says ${P.loadAt(pc, 'q_len', q)}`);
      if (P.loadAt(pc, 'q_tail', q) !== prev) out.push(`queue ${BQUEUE_NAMES[q]} of set ${set}: q_tail is not the last buffer`);
    }
  }
  // 2. headers: counters are the sums over buffers; off-queue buffers are locked
  let dirtycount = 0, dirtyspace = 0, dirtykva = 0, hwcount = 0, hwspace = 0, bufspace = 0, running = 0, runningcount = 0;
  for (let n = 0; n < nbuf; n++) {
    const bp = bufs.addr(n);
    const f = B.load(bp, 'b_flags');
    const locked = B.load(bp, 'b_lock') !== 0;
    if (B.load(bp, 'b_qindex') === BQUEUE_NONE && !locked) out.push(`${name(bp)} is on no queue and not locked`);
    if (B.load(bp, 'b_qindex') !== BQUEUE_NONE && !seen.has(bp)) out.push(`${name(bp)} says queue ${BQUEUE_NAMES[B.load(bp, 'b_qindex')]} but is not on it`);
    if (locked) out.push(`${name(bp)} is locked at a quiescent point`);
    if (B.load(bp, 'b_cmd') !== BUF_CMD_DONE) out.push(`${name(bp)} has b_cmd ${B.load(bp, 'b_cmd')} (an I/O not completed) at a quiescent point`);
    if (B.load(bp, 'b_refs') < 0) out.push(`${name(bp)} has negative b_refs ${B.load(bp, 'b_refs')}`);
    if (B.load(bp, 'b_refs') > 0) out.push(`${name(bp)} still holds ${B.load(bp, 'b_refs')} reference(s) at a quiescent point`);
    const size = B.load(bp, 'b_bufsize');
    bufspace += size;
    if (f & B_DELWRI) {
      dirtycount++;
      dirtyspace += size;
      dirtykva += B.load(bp, 'b_kvasize');
      if (f & B_HEAVY) {
        hwcount++;
        hwspace += size;
      }
    }
    const rs = B.load(bp, 'b_runningbufspace');
    if (rs < 0) out.push(`${name(bp)} has negative b_runningbufspace`);
    running += rs;
    if (rs > 0) runningcount++;
    if (((f & B_HASHED) !== 0) !== (B.load(bp, 'b_vp') !== 0)) out.push(`${name(bp)}: B_HASHED and b_vp (${B.load(bp, 'b_vp')}) disagree`);
  }
  const expect: [string, number, number][] = [
    ['dirtybufcount', G.load(g, 'dirtybufcount'), dirtycount],
    ['dirtybufspace', G.load(g, 'dirtybufspace'), dirtyspace],
    ['dirtykvaspace', G.load(g, 'dirtykvaspace'), dirtykva],
    ['dirtybufcounthw', G.load(g, 'dirtybufcounthw'), hwcount],
    ['dirtybufspacehw', G.load(g, 'dirtybufspacehw'), hwspace],
    ['bufspace', G.load(g, 'bufspace'), bufspace],
    ['runningbufspace', G.load(g, 'runningbufspace'), running],
    ['runningbufcount', G.load(g, 'runningbufcount'), runningcount],
  ];
  for (const [k, have, want] of expect) if (have !== want) out.push(`vfs.${k} is ${have} but the buffers add up to ${want}`);
  // 3. hash chains: every hashed buffer on its vnode's chain once, one buffer per (vp, loffset)
  const hashed = new Set<number>();
  for (let i = 0; i < vnodes.count; i++) {
    const v = vnodes.addr(i);
    const keys = new Set<number>();
    let count = 0;
    for (let k = 0; k < VHASH_SIZE; k++) {
      let guard = 0;
      for (let bp = V.loadAt(v, 'v_hash', k); bp !== 0; bp = B.load(bp, 'b_hnext')) {
        if (++guard > nbuf) {
          out.push(`vnode ${i + 1} hash slot ${k} has a cycle`);
          break;
        }
        count++;
        const lo = B.load(bp, 'b_loffset');
        if (B.load(bp, 'b_vp') !== i + 1) out.push(`${name(bp)} is on vnode ${i + 1}'s hash but b_vp is ${B.load(bp, 'b_vp')}`);
        if (keys.has(lo)) out.push(`two hashed buffers for (vnode ${i + 1}, offset ${lo})`);
        keys.add(lo);
        if (hashed.has(bp)) out.push(`${name(bp)} is hashed twice`);
        hashed.add(bp);
      }
    }
    if (count !== V.load(v, 'v_nbufs')) out.push(`vnode ${i + 1}: v_nbufs is ${V.load(v, 'v_nbufs')} but its hash holds ${count}`);
  }
  for (let n = 0; n < nbuf; n++) {
    const bp = bufs.addr(n);
    if (B.load(bp, 'b_flags') & B_HASHED && !hashed.has(bp)) out.push(`${name(bp)} is B_HASHED but on no hash chain`);
  }
  // 4. clean and dirty lists: every hashed buffer on exactly one of its vnode's, the dirty one iff B_DELWRI
  const listed = new Set<number>();
  let ndirty = 0;
  for (let i = 0; i < vnodes.count; i++) {
    const { clean, dirty } = vnodeLists(A, i, out);
    for (const bp of clean) if (B.load(bp, 'b_flags') & B_DELWRI) out.push(`${name(bp)} is B_DELWRI but on vnode ${i + 1}'s clean list`);
    for (const bp of dirty) if ((B.load(bp, 'b_flags') & B_DELWRI) === 0) out.push(`${name(bp)} is on vnode ${i + 1}'s dirty list without B_DELWRI`);
    for (const bp of [...clean, ...dirty]) listed.add(bp);
    ndirty += dirty.length;
  }
  for (const bp of hashed) if (!listed.has(bp)) out.push(`${name(bp)} is hashed to vnode ${B.load(bp, 'b_vp')} but on neither of its lists`);
  if (ndirty !== dirtycount) out.push(`the vnodes' dirty lists hold ${ndirty} buffers but ${dirtycount} are B_DELWRI`);
  return out;
}

/** "buffer 17 (B_CACHE|B_DELWRI)", for messages. */
function bufName(A: ReturnType<typeof bufArena>, bp: number): string {
  return `buffer ${A.B.load(bp, 'b_owner')} (${bflagsToString(A.B.load(bp, 'b_flags'))})`;
}

/**
 * The clean and dirty lists of vnode index `i`: each is a well-formed list (only buffer headers,
 * no cycle, b_vnprev pointing at the predecessor); every member is hashed to this vnode and
 * carries its list's flag (B_VNCLEAN or B_VNDIRTY, not both); no buffer is on both; together they
 * hold v_nbufs buffers. Holds at every instant under the vnode's v_token, and at quiescent
 * points. Appends violations to `out`; returns each list's members. Takes no lock.
 */
export function vnodeLists(A: ReturnType<typeof bufArena>, i: number, out: string[]): { clean: number[]; dirty: number[] } {
  const { B, V, bufs } = A;
  const v = A.vnodes.addr(i);
  const name = (bp: number) => bufName(A, bp);
  const walk = (head: 'v_cleanblkhd' | 'v_dirtyblkhd', flag: number, other: number): number[] => {
    const which = `vnode ${i + 1}'s ${head === 'v_cleanblkhd' ? 'clean' : 'dirty'} list`;
    const members: number[] = [];
    let prev = 0;
    for (let bp = V.load(v, head); bp !== 0; bp = B.load(bp, 'b_vnnext')) {
      if (!bufs.contains(bp) || members.length >= bufs.count) {
        out.push(`${which} ${members.length >= bufs.count ? 'has a cycle' : `links to ${bp}, not a buffer header`}`);
        break;
      }
      members.push(bp);
      const f = B.load(bp, 'b_flags');
      if (B.load(bp, 'b_vnprev') !== prev) out.push(`${name(bp)} on ${which}: b_vnprev does not point at its predecessor`);
      if (B.load(bp, 'b_vp') !== i + 1 || (f & B_HASHED) === 0) out.push(`${name(bp)} is on ${which} but hashed to vnode ${B.load(bp, 'b_vp')}`);
      if ((f & (flag | other)) !== flag) out.push(`${name(bp)} is on ${which} but its flags do not say so`);
      prev = bp;
    }
    return members;
  };
  const clean = walk('v_cleanblkhd', B_VNCLEAN, B_VNDIRTY);
  const dirty = walk('v_dirtyblkhd', B_VNDIRTY, B_VNCLEAN);
  const n = new Set([...clean, ...dirty]).size;
  if (n !== clean.length + dirty.length) out.push(`vnode ${i + 1}: a buffer is on its lists twice`);
  if (clean.length + dirty.length !== V.load(v, 'v_nbufs')) out.push(`vnode ${i + 1}: v_nbufs is ${V.load(v, 'v_nbufs')} but its clean and dirty lists hold ${clean.length} + ${dirty.length}`);
  return { clean, dirty };
}

const attachedSync = new WeakMap<Arena, Sync>();

/**
 * runningbufCycle: the wait-for cycle through running space (RACES.md, vfs-runningbuf-lockholder),
 * or null. A cpu sleeping in waitrunningbufspace ("wdrn1") waits for running space to drain;
 * it waits for cpu C when C holds the lock of a buffer charged to runningbufspace whose write
 * is not issued (nothing in flight to return it). If C itself waits for a lock that the sleeper
 * holds, neither can ever run: the message names the cycle. The correct code charges only once
 * it holds every lock it needs, so a charging cpu is never blocked on a lock: the check has no
 * false positives even on a sample of a running machine. Takes no lock; any thread.
 */
export function runningbufCycle(arena: Arena): string | null {
  const G = arena.view(BufGlobalsLayout);
  const g = arena.pool('bufcache.globals', BufGlobalsLayout).addr(0);
  const space = G.load(g, 'runningbufspace');
  if (space <= 0) return null;
  let s = attachedSync.get(arena);
  if (!s) {
    s = new Sync(arena, -1);
    attachedSync.set(arena, s);
  }
  const snap = snapshot(s);
  const drain = snap.sleepers.filter((w) => w.wmesg === 'wdrn1');
  if (drain.length === 0) return null;
  const B = arena.view(BufLayout);
  const O = arena.view(BioLayout);
  const bufs = arena.pool('bufcache.bufs', BufLayout);
  const nbuf = G.load(g, 'nbuf');
  for (let n = 0; n < nbuf; n++) {
    const bp = bufs.addr(n);
    const charge = B.load(bp, 'b_runningbufspace');
    if (charge === 0 || O.load(b_bio1(bp), 'bio_track') !== 0) continue; // uncharged, or issued (in flight)
    const c = s.lock_owner(bp); // b_lock is the first field of struct buf
    const blocked = c < 0 ? undefined : snap.blocked.find((b) => b.cpu === c);
    if (!blocked) continue;
    const w = drain.find((x) => x.cpu === s.lock_owner(blocked.lock));
    if (!w) continue;
    return (
      `wait-for cycle through running space: cpu ${w.cpu} (${w.role}) sleeps in waitrunningbufspace ("wdrn1") until vfs.runningbufspace (${space} bytes) drains, ` +
      `but ${charge} bytes of it are charged to buffer ${n}, whose write cpu ${c} (${blocked.role}) has not issued (nothing of it is in flight), ` +
      `and cpu ${c} waits for ${s.lockName(blocked.lock)} held by cpu ${w.cpu}`
    );
  }
  return null;
}
