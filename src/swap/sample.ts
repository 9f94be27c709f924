/**
 * The swap layer's instant invariants, sampled by the race lab's checker while the machine runs
 * (src/race/checker.ts). checkSwapInvariants (report.ts) needs a quiescent machine (no I/O
 * active, nothing queued); a sampler asserts only what holds at every instant under the lock it
 * takes, one lock at a time:
 *
 *  - under swap_data_lock: the priority list is sorted and its circleqs close; for every device
 *    on it (placeholders excepted) swd_npginuse <= swd_npages and its extent holds exactly
 *    swd_npginuse pages plus the label; Σ swd_npginuse = uvmexp.swpginuse <= swpages,
 *    swpgonly >= 0, nswapdev = the devices listed; drum ranges start at slot 1 and are disjoint;
 *  - under a device's swd_tablock, unless SWAP_OFF tore it down (its I/O state poisoned): 0 <= swd_active <= swd_maxactive (regular files), and
 *    swd_tab is a chain of swd_qlen children in ascending device offset;
 *  - always (an atomic counter): no parent transfer was completed twice; no vnode's v_holdcnt or
 *    v_numoutput is negative.
 */
import { SWF_FAKE, VndbufLayout, type SwapSpec, reservedPages, swfToString } from './layout.js';
import { Swap } from './swapdev.js';
import { SwapVnodes } from './vnode.js';
import { POISON } from '../sync/poison.js';
import type { SampleCtx, SampleResult } from '../sync/sample.js';

type SpecLike = { swap?: SwapSpec; devices?: { name: string; blocks: number; blockSize?: number }[] };

/** Sample the swap layer of the machine (the spec must have `swap`). Never sleeps. */
export function sampleSwap(spec: SpecLike, x: SampleCtx): SampleResult {
  const sw = Swap.of(x.sync, spec);
  const out: string[] = [];
  let skipped = 0;
  const dbl = sw.G.load(sw.g, 'sg_xfer_double');
  if (dbl !== 0) out.push(`${dbl} parent transfer(s) completed more than once`);
  out.push(...new SwapVnodes(sw.arena, sw.conf).sample(sw.conf.files.map((f) => f.path)));
  if (x.take(sw.dataLock)) {
    try {
      dataInvariants(sw, out);
    } catch (e) {
      out.push(`swap list: ${(e as Error).message}`);
    } finally {
      x.drop(sw.dataLock);
    }
  } else skipped++;
  const S = sw.S;
  const V = sw.arena.view(VndbufLayout);
  const vbufs = sw.arena.pool('swap.vndbuf', VndbufLayout);
  for (let sd = 0; sd < sw.conf.files.length && out.length === 0; sd++) {
    const a = sw.sdp(sd);
    const tab = S.addrOf(a, 'swd_tablock');
    if (!x.take(tab)) {
      skipped++;
      continue;
    }
    try {
      // A device SWAP_OFF tore down has its I/O state poisoned until SWAP_ON: nothing to check.
      if (S.load(a, 'swd_tab') === POISON) continue;
      const name = sw.conf.files[sd].path;
      const active = S.load(a, 'swd_active');
      const max = S.load(a, 'swd_maxactive');
      if (active < 0 || (max > 0 && active > max)) out.push(`${name}: swd_active ${active} outside [0, ${max}] under swd_tablock`);
      let n = 0;
      let last = -Infinity;
      for (let k = S.load(a, 'swd_tab'); k !== 0; k = V.load(vbufs.addr(k - 1), 'vb_actnext')) {
        if (k < 1 || k > vbufs.count || ++n > vbufs.count) {
          out.push(`${name}: swd_tab ${n > vbufs.count ? 'has a cycle' : `links to vndbuf ${k - 1}, outside the pool`}`);
          break;
        }
        const off = V.load(vbufs.addr(k - 1), 'vb_off');
        if (off < last) out.push(`${name}: swd_tab is not in ascending device offset (${off} after ${last})`);
        last = off;
      }
      if (out.length === 0 && n !== S.load(a, 'swd_qlen')) out.push(`${name}: swd_tab holds ${n} children but swd_qlen says ${S.load(a, 'swd_qlen')}`);
    } finally {
      x.drop(tab);
    }
  }
  return { violations: out, skipped };
}

/** The list, slot and drum invariants. Caller holds swap_data_lock. */
function dataInvariants(sw: Swap, out: string[]): void {
  const S = sw.S;
  let prev = -Infinity;
  for (const p of sw.priorities()) {
    if (p.priority <= prev) out.push(`swap list not sorted: priority ${p.priority} after ${prev}`);
    prev = p.priority;
  }
  let sum = 0;
  let ndev = 0;
  const ranges: [number, number, string][] = [];
  for (const { sd } of sw.walk()) {
    ndev++;
    const a = sw.sdp(sd);
    const name = sw.conf.files[sd].path;
    const inuse = S.load(a, 'swd_npginuse');
    const flags = S.load(a, 'swd_flags');
    sum += inuse;
    if (flags & SWF_FAKE) {
      if (inuse !== 0) out.push(`${name}: placeholder (${swfToString(flags)}) has ${inuse} pages in use`);
      continue;
    }
    if (inuse > S.load(a, 'swd_npages')) out.push(`${name}: swd_npginuse ${inuse} > swd_npages ${S.load(a, 'swd_npages')}`);
    const kept = reservedPages(sw.conf.files[sd]);
    const used = sw.extent_used(sd);
    if (used !== inuse + kept) out.push(`${name}: its extent has ${used} pages allocated but swd_npginuse is ${inuse} (+${kept} kept by swap_on)`);
    ranges.push([S.load(a, 'swd_drumoffset'), S.load(a, 'swd_drumsize'), name]);
  }
  if (ndev !== sw.uvmexp('nswapdev')) out.push(`uvmexp.nswapdev ${sw.uvmexp('nswapdev')} but ${ndev} devices on the list`);
  const swpginuse = sw.uvmexp('swpginuse') - sw.G.load(sw.g, 'sg_badleak'); // less 1.44's SWAP_OFF leak
  if (sum !== swpginuse) out.push(`Σ swd_npginuse ${sum} ≠ uvmexp.swpginuse ${swpginuse} (less the bad pages SWAP_OFF left)`);
  if (swpginuse > sw.uvmexp('swpages')) out.push(`uvmexp.swpginuse ${swpginuse} > swpages ${sw.uvmexp('swpages')}`);
  if (sw.uvmexp('swpgonly') < 0) out.push(`uvmexp.swpgonly ${sw.uvmexp('swpgonly')} < 0`);
  ranges.sort((p, q) => p[0] - q[0]);
  for (let i = 0; i < ranges.length; i++) {
    if (ranges[i][0] < 1) out.push(`${ranges[i][2]}: drum range starts at slot ${ranges[i][0]} (slot 0 is reserved)`);
    if (i > 0 && ranges[i - 1][0] + ranges[i - 1][1] > ranges[i][0]) out.push(`drum ranges overlap: ${ranges[i - 1][2]} [${ranges[i - 1][0]}, +${ranges[i - 1][1]}) and ${ranges[i][2]} at ${ranges[i][0]}`);
  }
}
