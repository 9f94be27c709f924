/**
 * swapctl's kernel side: sys_swapctl's commands, swap_on and swap_off, run by the swapctl
 * executor (a daemon worker) on behalf of the main thread, which serializes whole calls with
 * async-mutex (swap_syscall_lock) and never touches a sleeping lock itself (see ctlclient.ts).
 * swap_on alone also runs on the main thread at boot (the initializer), before any worker.
 *
 * Contract of every function here: called with swap_syscall_lock held (one call at a time);
 * they take swap_data_lock themselves and drop it before anything that may sleep.
 */
import { ContractError, EBUSY, EINVAL, ENOENT, ENOMEM, ENXIO } from '../sync/errno.js';
import type { Sync } from '../sync/sync.js';
import {
  PAGE_SIZE,
  SWAP_CTL,
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
 * swap_on: size the device (a block device keeps page 0 for the label), create its extent, give
 * it a drum range, and take it live (SWF_FAKE → SWF_INUSE|SWF_ENABLE). The placeholder is on the
 * list already. Takes swap_data_lock; never sleeps.
 */
export function swap_on(sw: Swap, sd: number): number {
  const f = sw.conf.files[sd];
  const S = sw.S;
  const a = sw.sdp(sd);
  const npages = filePages(f);
  const label = f.type === VBLK ? 1 : 0;
  const size = npages - label;
  if (size < 1) return EINVAL;
  sw.lockData();
  try {
    if (!(S.load(a, 'swd_flags') & SWF_FAKE)) throw new ContractError(`swap_on: ${f.path} is not a placeholder (SWF_FAKE)`);
    S.store(a, 'swd_nblks', btodb(f.bytes));
    S.store(a, 'swd_bsize', f.bsize);
    S.store(a, 'swd_maxactive', f.type === VBLK ? 0 : f.maxactive);
    sw.extent_create(sd);
    if (label) sw.extent_alloc_region(sd, 0, label);
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
 * swap_off: disable the device, page everything on it back in (re-enabling it with ENOMEM if
 * that fails), wait until its child I/O has drained (the last completion may still be running
 * after the page it read is in), then take it off the list, trim the list, release its drum
 * range and extent, and free (poison) its I/O state. Entered with swap_data_lock held
 * (sys_swapctl's lookup); returns with it released. May sleep.
 */
export function swap_off(sw: Swap, sd: number, hook: SwapOffHook): number {
  const S = sw.S;
  const a = sw.sdp(sd);
  S.store(a, 'swd_flags', S.load(a, 'swd_flags') & ~SWF_ENABLE);
  const off = S.load(a, 'swd_drumoffset');
  const size = S.load(a, 'swd_drumsize');
  sw.unlockData();
  // One pass finds every page; further passes only guard the panic below.
  for (let pass = 0; pass < 4 && (pass === 0 || S.load(a, 'swd_npginuse') !== S.load(a, 'swd_npgbad')); pass++) {
    if (hook.anon_swap_off(off, off + size) !== 0) {
      sw.lockData();
      S.store(a, 'swd_flags', S.load(a, 'swd_flags') | SWF_ENABLE);
      sw.unlockData();
      return ENOMEM;
    }
  }
  // Bug switch swap-off-inflight: tear the device down without waiting for its child I/O.
  if (!(bugs.any && bugs.enabled('swap-off-inflight'))) hook.drain(sd);
  sw.lockData();
  try {
    const inuse = S.load(a, 'swd_npginuse');
    const bad = S.load(a, 'swd_npgbad');
    if (inuse !== bad) throw new ContractError(`swap_off: ${sw.conf.files[sd].path} still has ${inuse} pages in use (${bad} bad)`);
    sw.G.add(sw.g, 'swpages', -S.load(a, 'swd_npages'));
    // The bad pages leave with the device (later NetBSD does this too; 1.44 leaked them in swpginuse).
    sw.G.add(sw.g, 'swpginuse', -bad);
    if (sw.swaplist_find(sd, true) < 0) throw new ContractError(`swap_off: ${sw.conf.files[sd].path} not on the list`);
    sw.swaplist_trim();
    for (const k of ['swd_flags', 'swd_npages', 'swd_npginuse', 'swd_npgbad', 'swd_drumoffset', 'swd_drumsize', 'swd_nblks'] as const) S.store(a, k, 0);
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
}

/**
 * sys_swapctl after the path lookup and privilege check (done by the caller): one command on
 * vnode `vp` (-1 for NSWAP/STATS). SWAP_STATS writes up to `misc` swapents into the arena.
 * `hook` is required for SWAP_OFF. May sleep (SWAP_OFF).
 */
export function sys_swapctl(sw: Swap, cmd: number, vp: number, misc: number, hook: SwapOffHook | null): SwapctlResult {
  const S = sw.S;
  switch (cmd) {
    case SWAP_NSWAP:
      return { error: 0, retval: sw.uvmexp('nswapdev') };
    case SWAP_STATS: {
      const E = sw.arena.view(SwapentLayout);
      const pool = sw.conf.files.length ? sw.arena.pool('swap.swapent', SwapentLayout) : null;
      let count = 0;
      sw.lockData();
      try {
        for (const { sd } of sw.walk()) {
          if (count >= misc || !pool) break;
          const a = sw.sdp(sd);
          const e = pool.addr(count++);
          E.store(e, 'se_vp', sd);
          E.store(e, 'se_flags', S.load(a, 'swd_flags'));
          E.store(e, 'se_priority', S.load(a, 'swd_priority'));
          E.store(e, 'se_nblks', S.load(a, 'swd_nblks'));
          E.store(e, 'se_inuse', btodb(S.load(a, 'swd_npginuse') * PAGE_SIZE));
          E.store(e, 'se_npages', S.load(a, 'swd_npages'));
          E.store(e, 'se_npginuse', S.load(a, 'swd_npginuse'));
          E.store(e, 'se_npgbad', S.load(a, 'swd_npgbad'));
          E.store(e, 'se_drumoffset', S.load(a, 'swd_drumoffset'));
          E.store(e, 'se_drumsize', S.load(a, 'swd_drumsize'));
          E.store(e, 'se_puts', S.load(a, 'swd_puts'));
          E.store(e, 'se_gets', S.load(a, 'swd_gets'));
          E.store(e, 'se_errors', S.load(a, 'swd_errors'));
          E.store(e, 'se_children', S.load(a, 'swd_children'));
          E.store(e, 'se_maxseen', S.load(a, 'swd_maxseen'));
          E.store(e, 'se_maxactive', S.load(a, 'swd_maxactive'));
        }
      } finally {
        sw.unlockData();
      }
      return { error: 0, retval: count };
    }
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

/** Boot-time swapon of the files marked `swapon` (main thread, initializer; no worker runs yet). */
export function bootSwapon(sync: Sync, spec: SpecLike): void {
  if (!spec.swap) return;
  const sw = Swap.of(sync, spec);
  sw.conf.files.forEach((f, i) => {
    if (!f.swapon) return;
    const r = sys_swapctl(sw, SWAP_ON, i, f.priority, null);
    if (r.error) throw new RangeError(`swap: boot-time SWAP_ON of ${f.path} failed with errno ${r.error}`);
  });
}

export { SwapCtlLayout };
