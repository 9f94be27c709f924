/**
 * The buffer cache's instant invariants, sampled by the race lab's checker while the machine
 * runs (src/race/checker.ts). Unlike checkInvariants (invariants.ts), which needs a quiescent
 * machine, a sampler asserts only what holds at every instant under the lock it takes, and it
 * takes one lock at a time (never nested, so it cannot join a lock cycle):
 *
 *  - under bufpcpu[set].spin: every queue of the set is a well-formed list (no cycle, b_qprev
 *    points at the predecessor, q_tail at the last member, q_len counts the members), every
 *    member is a buffer header whose b_qindex/b_qcpu name this queue and set, b_refs >= 0;
 *  - under a vnode's v_token: every buffer on its hash chains has b_vp = the vnode and B_HASHED,
 *    no two hold the same offset, and v_nbufs counts them; its clean and dirty lists are
 *    well-formed, their members carry their list's flag and together number v_nbufs
 *    (invariants.ts vnodeLists).
 *
 * The caller supplies how locks are taken (`SampleCtx.take`): a lock it cannot take now is
 * skipped (counted in `skipped`), never waited for beyond what `take` does.
 */
import { B_HASHED, bflagsToString } from '../device/buf.js';
import type { Arena } from '../shm/arena.js';
import { vnodeLists } from './invariants.js';
import { bufArena, VHASH_SIZE } from './layout.js';
import { BQUEUE_NAMES, BUFFER_QUEUES } from './tunables.js';
import type { SampleCtx, SampleResult } from '../sync/sample.js';

/** Sample the buffer cache of `arena` (the spec must have `bufcache`). Never sleeps. */
export function sampleBufcache(arena: Arena, x: SampleCtx): SampleResult {
  const out: string[] = [];
  let skipped = 0;
  const A = bufArena(arena);
  const { G, P, B, V, g, pcpu, bufs, vnodes } = A;
  const nbuf = G.load(g, 'nbuf');
  const nsets = G.load(g, 'nsets');
  const name = (bp: number) => `buffer ${B.load(bp, 'b_owner')} (${bflagsToString(B.load(bp, 'b_flags'))})`;
  for (let set = 0; set < nsets; set++) {
    const pc = pcpu.addr(set);
    const spin = P.addrOf(pc, 'spin');
    if (!x.take(spin)) {
      skipped++;
      continue;
    }
    try {
      for (let q = 1; q < BUFFER_QUEUES; q++) {
        const where = `${BQUEUE_NAMES[q]}@${set}`;
        let n = 0;
        let prev = 0;
        for (let bp = P.loadAt(pc, 'q_head', q); bp !== 0; bp = B.load(bp, 'b_qnext')) {
          if (!bufs.contains(bp)) {
            out.push(`queue ${where} links to ${bp}, not a buffer header`);
            break;
          }
          if (++n > nbuf + 2) {
            out.push(`queue ${where} has a cycle`);
            break;
          }
          if (B.load(bp, 'b_qprev') !== prev) out.push(`${name(bp)} on ${where}: b_qprev does not point at its predecessor`);
          const qi = B.load(bp, 'b_qindex');
          const qc = B.load(bp, 'b_qcpu');
          if (qi !== q || qc !== set) out.push(`${name(bp)} is on queue ${where} but its b_qindex/b_qcpu say ${BQUEUE_NAMES[qi] ?? qi}@${qc}`);
          if (B.load(bp, 'b_refs') < 0) out.push(`${name(bp)} has negative b_refs ${B.load(bp, 'b_refs')}`);
          prev = bp;
        }
        if (out.length > 0) break;
        if (n !== P.loadAt(pc, 'q_len', q)) out.push(`queue ${where} holds ${n} buffers but q_len says ${P.loadAt(pc, 'q_len', q)}`);
        if (P.loadAt(pc, 'q_tail', q) !== prev) out.push(`queue ${where}: q_tail is not its last buffer`);
      }
    } finally {
      x.drop(spin);
    }
    if (out.length > 0) return { violations: out, skipped };
  }
  for (let i = 0; i < vnodes.count; i++) {
    const v = vnodes.addr(i);
    const tok = V.addrOf(v, 'v_token');
    if (!x.take(tok)) {
      skipped++;
      continue;
    }
    try {
      const keys = new Set<number>();
      let count = 0;
      for (let k = 0; k < VHASH_SIZE; k++) {
        let guard = 0;
        for (let bp = V.loadAt(v, 'v_hash', k); bp !== 0; bp = B.load(bp, 'b_hnext')) {
          if (!bufs.contains(bp) || ++guard > nbuf) {
            out.push(`vnode ${i + 1} hash slot ${k} ${guard > nbuf ? 'has a cycle' : `links to ${bp}, not a buffer header`}`);
            break;
          }
          count++;
          if (B.load(bp, 'b_vp') !== i + 1) out.push(`${name(bp)} is on vnode ${i + 1}'s hash but its b_vp is ${B.load(bp, 'b_vp')}`);
          if ((B.load(bp, 'b_flags') & B_HASHED) === 0) out.push(`${name(bp)} is on vnode ${i + 1}'s hash without B_HASHED`);
          const lo = B.load(bp, 'b_loffset');
          if (keys.has(lo)) out.push(`two hashed buffers for (vnode ${i + 1}, offset ${lo})`);
          keys.add(lo);
        }
      }
      if (out.length === 0 && count !== V.load(v, 'v_nbufs')) out.push(`vnode ${i + 1}: v_nbufs is ${V.load(v, 'v_nbufs')} but its hash holds ${count} buffers`);
      if (out.length === 0) vnodeLists(A, i, out);
    } finally {
      x.drop(tok);
    }
    if (out.length > 0) break;
  }
  return { violations: out, skipped };
}
