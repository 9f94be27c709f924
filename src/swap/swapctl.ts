/**
 * swapctl's kernel side: sys_swapctl's commands, swap_on and swap_off, run by the swapctl
 * executor (a daemon worker) on behalf of the main thread, which serializes whole calls with
 * async-mutex (swap_syscall_lock) and never touches a sleeping lock itself (see ctlclient.ts).
 * swap_on alone also runs on the main thread at boot (the initializer), before any worker.
 *
 * Contract of every function here: called with swap_syscall_lock held (one call at a time);
 * they take swap_data_lock themselves and drop it before anything that may sleep.
 */
import { ContractError, EBUSY, EINVAL, ENOENT, ENOMEM, ENOTBLK, ENXIO, EPERM } from '../sync/errno.js';
import type { Sync } from '../sync/sync.js';
import {
  NODEV,
  PAGE_SIZE,
  SWAP_CTL,
  SWAP_DUMPDEV,
  SWAP_GETDUMPDEV,
  SWAP_NSWAP,
  SWAP_OFF,
  SWAP_ON,
  SWAP_STATS,
  SWF_ENABLE,
  SWF_FAKE,
  SWF_INUSE,
  SWD_IO_WORDS,
  SwapCtlLayout,
  SwapentLayout,
  type SwapSpec,
  VBLK,
  btodb,
  filePages,
} from './layout.js';
import { Swap } from './swapdev.js';
import { poison } from '../sync/poison.js';
import { bugs } from '../sync/switches.js';

type SpecLike = { swap?: SwapSpec; devices?: { name: string; blocks: number; blockSize?: number }[] };

/** The part of a swapctl that needs the pager (SWAP_OFF's page-in); absent at boot. */
export interface SwapOffHook {
  anon_swap_off(startslot: number, endslot: number): number;
  /** Wait until no child I/O of device `sd` is queued, active or completing (never long: every page is in). */
  drain(sd: number): void;
}

/**
 * swap_on: size the device (a block device keeps page 0 for the label, the root device also the
 * miniroot after it), create its extent, give it a drum range, and take it live (SWF_FAKE →
 * SWF_INUSE|SWF_ENABLE). The placeholder is on the list already. Takes swap_data_lock; never sleeps.
 */
export function swap_on(sw: Swap, sd: number): number {
  const f = sw.conf.files[sd];
  const S = sw.S;
  const a = sw.sdp(sd);
  const npages = filePages(f);
  const label = f.type === VBLK ? 1 : 0;
  let size = npages - label;
  if (size < 1) return EINVAL;
  sw.lockData();
  try {
    if (!(S.load(a, 'swd_flags') & SWF_FAKE)) throw new ContractError(`swap_on: ${f.path} is not a placeholder (SWF_FAKE)`);
    S.store(a, 'swd_nblks', btodb(f.bytes));
    S.store(a, 'swd_bsize', f.bsize);
    S.store(a, 'swd_maxactive', f.type === VBLK ? 0 : f.maxactive);
    sw.extent_create(sd);
    if (label) sw.extent_alloc_region(sd, 0, label);
    // vp == rootvp: preserve the miniroot (resolveSwap refused one larger than the area).
    if (f.root) {
      sw.extent_alloc_region(sd, label, f.rootPages);
      size -= f.rootPages;
    }
    sw.swapdrum_add(sd, npages);
    S.store(a, 'swd_npages', size);
    S.store(a, 'swd_flags', (S.load(a, 'swd_flags') & ~SWF_FAKE) | SWF_INUSE | SWF_ENABLE);
    sw.G.add(sw.g, 'swpages', size);
  } finally {
    sw.unlockData();
  }
  return 0;
}

/**
 * swap_off as 1.44 writes it: disable the device, page everything on it back in with one pass
 * (re-enabling it with ENOMEM if that fails), then take it off the list, trim the list, release
 * its drum range and extent, and free (poison) its I/O state. Its bad pages stay counted in
 * swpginuse (1.44 leaks them; kiolab records the leak in sg_badleak). kiolab also waits until
 * its child I/O has drained (the last completion may still run after the page it read is in);
 * the bug switch swap-off-inflight gives the seed's code without that wait. Entered with
 * swap_data_lock held (sys_swapctl's lookup); returns with it released. May sleep.
 */
export function swap_off(sw: Swap, sd: number, hook: SwapOffHook): number {
  const S = sw.S;
  const a = sw.sdp(sd);
  S.store(a, 'swd_flags', S.load(a, 'swd_flags') & ~SWF_ENABLE);
  const off = S.load(a, 'swd_drumoffset');
  const size = S.load(a, 'swd_drumsize');
  sw.unlockData();
  if (hook.anon_swap_off(off, off + size) !== 0) {
    sw.lockData();
    S.store(a, 'swd_flags', S.load(a, 'swd_flags') | SWF_ENABLE);
    sw.unlockData();
    return ENOMEM;
  }
  // The seed's DIAGNOSTIC panic: one pass must have found every page.
  if (S.load(a, 'swd_npginuse') !== S.load(a, 'swd_npgbad')) throw new ContractError(`swap_off: ${sw.conf.files[sd].path} still has ${S.load(a, 'swd_npginuse')} pages in use (${S.load(a, 'swd_npgbad')} bad) after its page-in pass`);
  // Bug switch swap-off-inflight: tear the device down without waiting for its child I/O.
  if (!(bugs.any && bugs.enabled('swap-off-inflight'))) hook.drain(sd);
  sw.lockData();
  try {
    sw.G.add(sw.g, 'swpages', -S.load(a, 'swd_npages'));
    sw.G.add(sw.g, 'sg_badleak', S.load(a, 'swd_npgbad'));
    if (sw.swaplist_find(sd, true) < 0) throw new ContractError(`swap_off: ${sw.conf.files[sd].path} not on the list`);
    sw.swaplist_trim();
    for (const k of ['swd_flags', 'swd_npages', 'swd_npginuse', 'swd_npgbad', 'swd_drumoffset', 'swd_drumsize', 'swd_nblks', 'swd_nullpath'] as const) S.store(a, k, 0);
    S.add(a, 'swd_gen', 1);
  } finally {
    sw.unlockData();
  }
  // Free the device's I/O state: poisoned until SWAP_ON clears it, so that a late touch shows.
  const tab = S.addrOf(a, 'swd_tablock');
  sw.sync.spin_lock(tab);
  poison(sw.arena, S.addrOf(a, 'swd_tab'), SWD_IO_WORDS * 4);
  sw.sync.spin_unlock(tab);
  return 0;
}

export interface SwapctlResult {
  error: number;
  retval: number;
  /** SWAP_GETDUMPDEV: the dump device's vnode, or NODEV. */
  dumpdev?: number;
}

/** sys_swapctl's path argument after the caller's namei: a vnode, a NULL pointer, or a failed lookup. */
export const ARG_NULL = -1;
export const ARG_NOENT = -2;

/**
 * sys_swapctl in the seed's order: SWAP_NSWAP and SWAP_STATS for anyone; then the superuser
 * check (EPERM for every other command, unknown ones too); SWAP_GETDUMPDEV; the path (`arg`: a
 * vnode, ARG_NULL for the root device, ARG_NOENT when namei failed); then SWAP_DUMPDEV,
 * SWAP_CTL, SWAP_ON, SWAP_OFF, or EINVAL. SWAP_STATS writes up to `misc` swapents into the
 * arena without swap_data_lock, as the seed does. `hook` is required for SWAP_OFF. Caller holds
 * swap_syscall_lock. May sleep (SWAP_OFF).
 */
export function sys_swapctl(sw: Swap, cmd: number, arg: number, misc: number, hook: SwapOffHook | null, cred: { priv: boolean }): SwapctlResult {
  const S = sw.S;
  if (cmd === SWAP_NSWAP) return { error: 0, retval: sw.uvmexp('nswapdev') };
  if (cmd === SWAP_STATS) return { error: 0, retval: swap_stats(sw, misc) };
  if (!cred.priv) return { error: EPERM, retval: 0 };
  if (cmd === SWAP_GETDUMPDEV) {
    const d = sw.G.load(sw.g, 'sg_dumpdev');
    return { error: 0, retval: 0, dumpdev: d === 0 ? NODEV : d - 1 };
  }
  let vp = arg;
  const nullpath = arg === ARG_NULL;
  if (nullpath) {
    vp = sw.conf.files.findIndex((f) => f.root);
    if (vp < 0) return { error: ENXIO, retval: 0 }; // kiolab: the spec names no root device
  } else if (arg === ARG_NOENT) return { error: ENOENT, retval: 0 };
  else if (!Number.isInteger(arg) || arg < 0 || arg >= sw.conf.files.length) throw new ContractError(`sys_swapctl: vnode ${arg} is not one of the swap candidates`);
  switch (cmd) {
    case SWAP_DUMPDEV:
      if (sw.conf.files[vp].type !== VBLK) return { error: ENOTBLK, retval: 0 };
      sw.G.store(sw.g, 'sg_dumpdev', vp + 1);
      return { error: 0, retval: 0 };
    case SWAP_CTL: {
      sw.lockData();
      try {
        if (sw.swaplist_find(vp, true) < 0) return { error: ENOENT, retval: 0 };
        sw.swaplist_insert(vp, misc);
        sw.swaplist_trim();
        return { error: 0, retval: 0 };
      } finally {
        sw.unlockData();
      }
    }
    case SWAP_ON: {
      const a = sw.sdp(vp);
      sw.lockData();
      if (sw.swaplist_find(vp, false) >= 0) {
        sw.unlockData();
        return { error: EBUSY, retval: 0 };
      }
      for (const k of ['swd_npages', 'swd_npginuse', 'swd_npgbad', 'swd_drumoffset', 'swd_drumsize', 'swd_active', 'swd_qlen', 'swd_busy', 'swd_tab'] as const) S.store(a, k, 0);
      S.store(a, 'swd_flags', SWF_FAKE);
      S.store(a, 'swd_nullpath', nullpath ? 1 : 0);
      sw.swaplist_insert(vp, misc);
      sw.unlockData();
      const error = swap_on(sw, vp);
      if (error) {
        sw.lockData();
        sw.swaplist_find(vp, true);
        sw.swaplist_trim();
        S.store(a, 'swd_flags', 0);
        sw.unlockData();
      }
      return { error, retval: 0 };
    }
    case SWAP_OFF: {
      sw.lockData();
      const sd = sw.swaplist_find(vp, false);
      if (sd < 0) {
        sw.unlockData();
        return { error: ENXIO, retval: 0 };
      }
      if ((S.load(sw.sdp(sd), 'swd_flags') & (SWF_INUSE | SWF_ENABLE)) === 0) {
        sw.unlockData();
        return { error: EBUSY, retval: 0 };
      }
      if (!hook) {
        sw.unlockData();
        throw new ContractError('sys_swapctl: SWAP_OFF needs the pager (run it on the swapctl executor)');
      }
      return { error: swap_off(sw, sd, hook), retval: 0 };
    }
    default:
      return { error: EINVAL, retval: 0 };
  }
}

/** The swapent fields SWAP_STATS copies from the swapdev as they are (se_inuse is converted). */
const SWAPENT_COPY = [
  ['se_flags', 'swd_flags'],
  ['se_priority', 'swd_priority'],
  ['se_nblks', 'swd_nblks'],
  ['se_npages', 'swd_npages'],
  ['se_npginuse', 'swd_npginuse'],
  ['se_npgbad', 'swd_npgbad'],
  ['se_drumoffset', 'swd_drumoffset'],
  ['se_drumsize', 'swd_drumsize'],
  ['se_puts', 'swd_puts'],
  ['se_gets', 'swd_gets'],
  ['se_errors', 'swd_errors'],
  ['se_children', 'swd_children'],
  ['se_maxseen', 'swd_maxseen'],
  ['se_maxactive', 'swd_maxactive'],
  ['se_nullpath', 'swd_nullpath'],
] as const;

/**
 * SWAP_STATS: copy up to `misc` swapents (and at most the candidates' count, the size of kiolab's
 * swapent area) in list order, WITHOUT swap_data_lock: the seed relies on swap_syscall_lock, but
 * uvm_swap_alloc rotates a priority's circleq under swap_data_lock alone, so a walk that races
 * with an allocation may copy a device twice or miss one (counted in sg_stats_dup). The walk
 * reads like the seed's: a device is the last of its circleq when its next is the circleq's
 * current head. Returns the count copied. Never sleeps.
 */
function swap_stats(sw: Swap, misc: number): number {
  const S = sw.S;
  const E = sw.arena.view(SwapentLayout);
  const n = sw.conf.files.length;
  if (n === 0) return 0;
  const pool = sw.arena.pool('swap.swapent', SwapentLayout);
  const room = Math.min(misc, n);
  const seen = new Set<number>();
  let count = 0;
  for (const sd of sw.walkUnlocked(room)) {
    if (seen.has(sd)) sw.G.add(sw.g, 'sg_stats_dup', 1);
    seen.add(sd);
    const a = sw.sdp(sd);
    const e = pool.addr(count++);
    E.store(e, 'se_vp', sd);
    for (const [se, swd] of SWAPENT_COPY) E.store(e, se, S.load(a, swd));
    E.store(e, 'se_inuse', btodb(S.load(a, 'swd_npginuse') * PAGE_SIZE));
  }
  return count;
}

/** Boot-time swapon of the files marked `swapon` (main thread, initializer; no worker runs yet). */
export function bootSwapon(sync: Sync, spec: SpecLike): void {
  if (!spec.swap) return;
  const sw = Swap.of(sync, spec);
  sw.conf.files.forEach((f, i) => {
    if (!f.swapon) return;
    const r = sys_swapctl(sw, SWAP_ON, i, f.priority, null, { priv: true }); // proc0's swapctl
    if (r.error) throw new RangeError(`swap: boot-time SWAP_ON of ${f.path} failed with errno ${r.error}`);
  });
}

export { SwapCtlLayout };
