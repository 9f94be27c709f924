/**
 * Swap reports and invariants: SWAP_STATS entries, per-device totals, and `checkSwapInvariants`
 * for the swap invariants of RACES.md (Σ swd_npginuse = swpginuse; swpgonly ≤ swpginuse ≤
 * swpages; drum ranges disjoint; nothing allocated from a placeholder; a parent transfer
 * completes exactly once; 0 ≤ swd_active ≤ swd_maxactive; every modelled vnode has
 * v_numoutput 0 and v_holdcnt 0; the pager map is all free), at quiescent points.
 */
import { VndbufLayout, VndxferLayout, PAGE_SIZE, SWF_ENABLE, SWF_FAKE, SWF_INUSE, VBLK, btodb, reservedPages, swfToString } from './layout.js';
import type { Swap, SwapentInfo } from './swapdev.js';
import { SwapVnodes } from './vnode.js';

export type PoolStats = { items: number; perPage: number; pages: number; gets: number; puts: number; inuse: number; hiwat: number; sleeps: number };
/** What `kiolab bench swap` / mixed report of the I/O path: VM_PAGER_AGAIN, async reads, the vnd pools (quiescent reads). */
export type PagerIoStats = {
  again: { pageouts: number; pbuf: number; pagerMap: number };
  pagerMap: { pages: number; free: number; sleeps: number };
  asyncGets: { requested: number; errors: number };
  pools: { vndbuf: PoolStats; vndxfer: PoolStats };
};

export function pagerIoStats(sw: Swap): PagerIoStats {
  const G = sw.G;
  const g = sw.g;
  const pool = (pre: 'vnd' | 'vnx', items: number, bytes: number): PoolStats => ({
    items,
    perPage: Math.max(1, Math.floor(4096 / bytes)),
    pages: G.load(g, `${pre}_npages`),
    gets: G.load(g, `${pre}_gets`),
    puts: G.load(g, `${pre}_puts`),
    inuse: G.load(g, `${pre}_inuse`),
    hiwat: G.load(g, `${pre}_hiwat`),
    sleeps: G.load(g, `${pre}_sleeps`),
  });
  return {
    again: { pageouts: G.load(g, 'sg_pager_again'), pbuf: G.load(g, 'sg_again_pbuf'), pagerMap: G.load(g, 'sg_again_map') },
    pagerMap: { pages: G.load(g, 'pm_size'), free: G.load(g, 'pm_free'), sleeps: G.load(g, 'pm_sleeps') },
    asyncGets: { requested: G.load(g, 'sg_async_get'), errors: G.load(g, 'sg_aget_errors') },
    pools: { vndbuf: pool('vnd', sw.conf.nvndbuf, VndbufLayout.bytes), vndxfer: pool('vnx', sw.conf.nvndxfer, VndxferLayout.bytes) },
  };
}

/** One line of the vnd pools' figures, for the headlines. */
export function poolLine(p: PagerIoStats['pools']): string {
  const one = (n: string, x: PoolStats) => `${n} ${x.gets} gets, ${x.pages} of ${Math.ceil(x.items / x.perPage)} pool pages, ${x.hiwat} of ${x.items} in use at most, ${x.sleeps} sleeps at the limit`;
  return `${one('vndbuf', p.vndbuf)}; ${one('vndxfer', p.vndxfer)}`;
}


/** SWAP_STATS entries in list order (in-use in DEV_BSIZE blocks). Caller holds swap_data_lock or the machine is quiescent. */
export function swapStats(sw: Swap): SwapentInfo[] {
  const S = sw.S;
  const out: SwapentInfo[] = [];
  for (const { sd } of sw.walk()) {
    const a = sw.sdp(sd);
    out.push({
      path: S.load(a, 'swd_nullpath') ? 'miniroot' : sw.conf.files[sd].path,
      vp: sd,
      flags: swfToString(S.load(a, 'swd_flags')),
      priority: S.load(a, 'swd_priority'),
      nblks: S.load(a, 'swd_nblks'),
      inuse: btodb(S.load(a, 'swd_npginuse') * PAGE_SIZE),
      npages: S.load(a, 'swd_npages'),
      npginuse: S.load(a, 'swd_npginuse'),
      npgbad: S.load(a, 'swd_npgbad'),
      drumoffset: S.load(a, 'swd_drumoffset'),
      drumsize: S.load(a, 'swd_drumsize'),
      puts: S.load(a, 'swd_puts'),
      gets: S.load(a, 'swd_gets'),
      errors: S.load(a, 'swd_errors'),
      children: S.load(a, 'swd_children'),
      maxactiveSeen: S.load(a, 'swd_maxseen'),
      maxactive: S.load(a, 'swd_maxactive'),
    });
  }
  return out;
}

export type DeviceTotals = { path: string; type: 'blk' | 'reg'; onlist: boolean; flags: string; priority: number; npages: number; npginuse: number; npgbad: number; puts: number; gets: number; children: number; errors: number; maxactive: number; maxactiveSeen: number };

/** Cumulative I/O figures of every candidate device, on the list or not (quiescent reads). */
export function deviceTotals(sw: Swap): DeviceTotals[] {
  const S = sw.S;
  return sw.conf.files.map((f, sd) => {
    const a = sw.sdp(sd);
    return {
      path: f.path,
      type: f.type === VBLK ? ('blk' as const) : ('reg' as const),
      onlist: S.load(a, 'swd_onlist') !== 0,
      flags: swfToString(S.load(a, 'swd_flags')),
      priority: S.load(a, 'swd_priority'),
      npages: S.load(a, 'swd_npages'),
      npginuse: S.load(a, 'swd_npginuse'),
      npgbad: S.load(a, 'swd_npgbad'),
      puts: S.load(a, 'swd_puts'),
      gets: S.load(a, 'swd_gets'),
      children: S.load(a, 'swd_children'),
      errors: S.load(a, 'swd_errors'),
      maxactive: S.load(a, 'swd_maxactive'),
      maxactiveSeen: S.load(a, 'swd_maxseen'),
    };
  });
}

/**
 * The swap invariants of RACES.md, checked at a quiescent point (no swap I/O or swapctl in
 * progress). Returns the violations (empty when all hold).
 */
export function checkSwapInvariants(sw: Swap): string[] {
  const bad: string[] = [];
  const S = sw.S;
  let sum = 0;
  const ranges: [number, number, string][] = [];
  let prevPri = -Infinity;
  for (const p of sw.priorities()) {
    if (p.priority <= prevPri) bad.push(`swap list not sorted: priority ${p.priority} after ${prevPri}`);
    if (p.devices.length === 0) bad.push(`swap list: empty priority ${p.priority} was not trimmed`);
    prevPri = p.priority;
  }
  let ndev = 0;
  for (const { sd } of sw.walk()) {
    ndev++;
    const a = sw.sdp(sd);
    const name = sw.conf.files[sd].path;
    const inuse = S.load(a, 'swd_npginuse');
    sum += inuse;
    const flags = S.load(a, 'swd_flags');
    if (flags & SWF_FAKE) {
      if (inuse !== 0) bad.push(`${name}: placeholder (SWF_FAKE) has ${inuse} pages in use`);
      continue;
    }
    if (inuse > S.load(a, 'swd_npages')) bad.push(`${name}: swd_npginuse ${inuse} > swd_npages ${S.load(a, 'swd_npages')}`);
    if (!(flags & SWF_INUSE)) bad.push(`${name}: on the list without SWF_INUSE (${swfToString(flags)})`);
    const kept = reservedPages(sw.conf.files[sd]);
    const used = sw.extent_used(sd);
    if (used !== inuse + kept) bad.push(`${name}: extent has ${used} pages allocated, expected swd_npginuse ${inuse} + ${kept} kept by swap_on (label, miniroot)`);
    if (!(flags & SWF_ENABLE) && inuse > S.load(a, 'swd_npgbad')) {
      // A disabled device (SWAP_OFF in progress) may still hold pages; at quiescence it is re-enabled or gone.
      bad.push(`${name}: disabled but still holding ${inuse} pages at a quiescent point`);
    }
    ranges.push([S.load(a, 'swd_drumoffset'), S.load(a, 'swd_drumsize'), name]);
    const active = S.load(a, 'swd_active');
    if (active < 0 || (S.load(a, 'swd_maxactive') > 0 && active > S.load(a, 'swd_maxactive'))) bad.push(`${name}: swd_active ${active} outside [0, ${S.load(a, 'swd_maxactive')}]`);
    if (S.load(a, 'swd_maxseen') > S.load(a, 'swd_maxactive') && S.load(a, 'swd_maxactive') > 0) bad.push(`${name}: swd_active reached ${S.load(a, 'swd_maxseen')} > swd_maxactive ${S.load(a, 'swd_maxactive')}`);
    if (active !== 0 || S.load(a, 'swd_qlen') !== 0) bad.push(`${name}: I/O active (${active}) or queued (${S.load(a, 'swd_qlen')}) at a quiescent point`);
  }
  if (ndev !== sw.uvmexp('nswapdev')) bad.push(`uvmexp.nswapdev ${sw.uvmexp('nswapdev')} ≠ ${ndev} devices on the list`);
  // 1.44's swap_off leaves a removed device's bad pages in swpginuse: sg_badleak counts them.
  const leak = sw.G.load(sw.g, 'sg_badleak');
  const swpginuse = sw.uvmexp('swpginuse') - leak;
  const swpgonly = sw.uvmexp('swpgonly');
  const swpages = sw.uvmexp('swpages');
  if (sum !== swpginuse) bad.push(`Σ swd_npginuse ${sum} ≠ uvmexp.swpginuse ${swpginuse + leak} − ${leak} bad pages left by SWAP_OFF`);
  if (!(swpgonly >= 0 && swpgonly <= swpginuse && swpginuse <= swpages)) bad.push(`expected 0 ≤ swpgonly ${swpgonly} ≤ swpginuse ${swpginuse} (less ${leak} left by SWAP_OFF) ≤ swpages ${swpages}`);
  ranges.sort((x, y) => x[0] - y[0]);
  for (let i = 0; i < ranges.length; i++) {
    if (ranges[i][0] < 1) bad.push(`${ranges[i][2]}: drum range starts at ${ranges[i][0]} (slot 0 is reserved)`);
    if (i > 0 && ranges[i - 1][0] + ranges[i - 1][1] > ranges[i][0]) bad.push(`drum ranges overlap: ${ranges[i - 1][2]} [${ranges[i - 1][0]}, +${ranges[i - 1][1]}) and ${ranges[i][2]} at ${ranges[i][0]}`);
  }
  if (sw.G.load(sw.g, 'sg_xfer_double') !== 0) bad.push(`${sw.G.load(sw.g, 'sg_xfer_double')} parent transfers completed more than once`);
  const paths = sw.conf.files.map((f) => f.path);
  bad.push(...new SwapVnodes(sw.arena, sw.conf).check(paths));
  if (sw.G.load(sw.g, 'pm_free') !== sw.G.load(sw.g, 'pm_size')) bad.push(`pager map: ${sw.G.load(sw.g, 'pm_size') - sw.G.load(sw.g, 'pm_free')} pages still mapped at a quiescent point`);
  return bad;
}
