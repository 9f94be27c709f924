/**
 * Race scenarios of the swap layer (src/swap), over memory disks served by the race daemon
 * "device" (a device worker with the swap I/O layer attached, so child completions and
 * sw_reg_iodone run there, as the `swap:device` role does).
 *
 *  - `swap-xfer`: two pagers each fault two pages in and push them out again, synchronously, to
 *    a regular swap file whose bmap splits every transfer into 2 KiB children. Catches
 *    swap-vx-busy-missing (a parent transfer completed twice: sg_xfer_double > 0).
 *  - `swap-start`: the same over a "network" file (swd_maxactive 2), so children queue on swd_tab.
 *    Catches swap-busy-flag-race (a child left queued with nobody to start it: its pager never
 *    returns from biowait — a hang in explore, the progress watchdog in stress), and
 *    swap-iodone-inline (a completion starts the next child with sw_reg_start while the other
 *    pager holds the file's vnode lock in VOP_BMAP: "sleep in a completion context").
 *  - `swap-off`: SWAP_OFF's page-in pass (anon_swap_off over device A's drum range, A disabled)
 *    races a pager that faults the page in, rewrites it and pushes it out again (to B). Catches
 *    swap-off-stale-slots (a page read back from a slot that is no longer its own: the page's
 *    stamp mismatches, or the stale slot is freed twice).
 *  - `swap-off-io`: a real SWAP_OFF (sys_swapctl) of a "network" regular file A while a pager
 *    pushes a rewritten page out (to A before it is disabled, and SWAP_OFF brings it back; else B);
 *    each iteration swaps A on again. Catches swap-off-inflight (the device torn down while the
 *    completion of the child that brought the last page in is still running: its poisoned
 *    swapdev is touched).
 */
import { Devices } from '../../device/disk.js';
import { deviceWorker } from '../../device/worker.js';
import '../../../workers/swap.js'; // the swap planner and initializer (boot-time swapon)
import type { Kernel } from '../../engine/spec.js';
import { ContractError } from '../../sync/errno.js';
import { PG_RESIDENT, PG_SWAPPED, SWAP_OFF, SWAP_ON, SWF_ENABLE, SwapGlobalsLayout } from '../../swap/layout.js';
import { swapOffHook } from '../../swap/ctlchannel.js';
import { sys_swapctl } from '../../swap/swapctl.js';
import { Pager } from '../../swap/pager.js';
import { defineStruct } from '../../shm/layout.js';
import { registerPlanner } from '../../engine/spec.js';
import { registerWakeCondition } from '../detect.js';
import { registerRaceScenario, type RaceDaemon } from '../scenario.js';

const device = (unit: number): RaceDaemon => ({
  name: `device${unit}`,
  run: (k, stop) => {
    Pager.of(k.sync, k.spec); // attaches SwapIO: sw_reg_iodone runs on this cpu
    return deviceWorker(Devices.of(k.sync, k.spec), unit, stop);
  },
});

const RaceSwapLayout = defineStruct('race_swap', { rs_phase: { line: 'i32' } }, { align: 64 });
registerPlanner('race.swap', (plan, spec) => {
  if (spec.race?.scenario === 'swap-off' || spec.race?.scenario === 'swap-off-io') plan.pool('race.swap', RaceSwapLayout, 1);
});
registerWakeCondition('swphase', (arena, w) => arena.word().load(w) !== 0);

interface SwCtx {
  k: Kernel;
  pg: Pager;
  phase: number;
  /** swap-off-io: sg_drain_waits seen after the last iteration. */
  drains: number;
}

function attach(k: Kernel): SwCtx {
  const pg = Pager.of(k.sync, k.spec);
  const sc = k.spec.race?.scenario;
  const phase = sc === 'swap-off' || sc === 'swap-off-io' ? RaceSwapLayout.addrOf(k.arena.pool('race.swap', RaceSwapLayout).addr(0), 'rs_phase') : 0;
  return { k, pg, phase, drains: 0 };
}

const G = (c: SwCtx, f: Parameters<Pager['swap']['G']['load']>[1]) => c.pg.swap.G.load(c.pg.swap.g, f);

/** Bring page `p` in (the caller holds it busy); a wrong page is a detected failure. May sleep. */
function faultIn(c: SwCtx, p: number, who: string): void {
  const r = c.pg.fault(p);
  if (r === -1) throw new ContractError(`${who}: page ${p} came back from swap with the wrong bytes (${c.pg.verify(p) ?? 'mismatch counted'})`);
  if (r !== 0) throw new ContractError(`${who}: fault of page ${p} failed with errno ${r}`);
}

/** The swap invariants and the counters of transfers completed twice and pages read back wrong. */
function swapCheck(c: SwCtx): string | null {
  const dbl = G(c, 'sg_xfer_double');
  if (dbl > 0) return `a parent transfer was completed twice (${dbl} double completion(s) of ${G(c, 'sg_xfer_done')})`;
  const mism = G(c, 'sg_mismatch');
  if (mism > 0) return `${mism} page(s) came back from swap with the wrong bytes`;
  const bad = c.pg.swap.checkInvariants();
  return bad.length > 0 ? `swap invariants: ${bad.join('; ')}` : null;
}

function xferInvariant(arena: Kernel['arena']): string | null {
  const V = arena.view(SwapGlobalsLayout);
  const g = arena.pool('swap.globals', SwapGlobalsLayout).addr(0);
  const dbl = V.load(g, 'sg_xfer_double');
  return dbl > 0 ? `a parent transfer was completed twice (${dbl} double completion(s))` : null;
}

// ------------------------------------------------------------------ swap-xfer

/** A pager's iteration: fault its two pages in (from swap after the first), push both out in one synchronous transfer. May sleep. */
function xferRun(c: SwCtx, part: string): void {
  const first = part === 'a' ? 0 : 2;
  const { pg } = c;
  for (let p = first; p < first + 2; p++) {
    pg.page_lock(p);
    faultIn(c, p, `${part}`);
  }
  const n = pg.pageout(first, 2, true);
  if (n !== 2) throw new ContractError(`pager ${part}: pageout of pages ${first}..${first + 1} put ${n} page(s)`);
}

registerRaceScenario<SwCtx>({
  name: 'swap-xfer',
  description: 'two pagers fault pages in and push them out through a split regular swap file',
  bugs: ['swap-vx-busy-missing'],
  parts: ['a', 'b'],
  daemons: [device(0)],
  steps: 200,
  spec: () => ({
    devices: [{ name: 'md0', blocks: 512 }],
    npbuf: 8,
    swap: { files: [{ path: '/swapfile', device: 'md0', type: 'reg', bytes: 16 * 4096, bsize: 2048, maxRun: 1, swapon: true }], pages: 4 },
  }),
  attach,
  run: xferRun,
  check: swapCheck,
  invariant: xferInvariant,
});

// ------------------------------------------------------------------ swap-start

registerRaceScenario<SwCtx>({
  name: 'swap-start',
  description: 'two pagers push pages out through a "network" swap file (at most 2 children active, the rest queued)',
  bugs: ['swap-busy-flag-race', 'swap-iodone-inline'],
  parts: ['a', 'b'],
  daemons: [device(0)],
  steps: 300,
  spec: () => ({
    devices: [{ name: 'md0', blocks: 512 }],
    npbuf: 8,
    swap: { files: [{ path: '/swapfile', device: 'md0', type: 'reg', bytes: 16 * 4096, bsize: 2048, maxRun: 1, network: true, swapon: true }], pages: 4 },
  }),
  attach,
  run: xferRun,
  check: swapCheck,
});

// ------------------------------------------------------------------ swap-off

const A = 0;
const B = 1;

/** Set or clear SWF_ENABLE of swap device `sd` (what SWAP_OFF / a failed SWAP_OFF do), under swap_data_lock. */
function enable(c: SwCtx, sd: number, on: boolean): void {
  const sw = c.pg.swap;
  const a = sw.sdp(sd);
  sw.lockData();
  sw.S.store(a, 'swd_flags', on ? sw.S.load(a, 'swd_flags') | SWF_ENABLE : sw.S.load(a, 'swd_flags') & ~SWF_ENABLE);
  sw.unlockData();
}

/** Drum range [start, end) of swap device `sd`. */
function range(c: SwCtx, sd: number): [number, number] {
  const sw = c.pg.swap;
  const a = sw.sdp(sd);
  const off = sw.S.load(a, 'swd_drumoffset');
  return [off, off + sw.S.load(a, 'swd_drumsize')];
}

registerRaceScenario<SwCtx>({
  name: 'swap-off',
  description: "SWAP_OFF's page-in pass over device A while a pager faults the page in, rewrites it and pushes it out to B",
  bugs: ['swap-off-stale-slots'],
  parts: ['swapoff', 'pager'],
  daemons: [device(0), device(1)],
  steps: 200,
  spec: () => ({
    devices: [
      { name: 'md0', blocks: 256 },
      { name: 'md1', blocks: 256 },
    ],
    npbuf: 8,
    swap: {
      files: [
        { path: 'A', device: 'md0', type: 'blk', blocks: 256, swapon: true, priority: 0 },
        { path: 'B', device: 'md1', type: 'blk', blocks: 256, swapon: true, priority: 0 },
      ],
      pages: 2,
    },
  }),
  attach,
  reset(c) {
    c.k.arena.word().store(c.phase, 0);
  },
  run(c, part) {
    const { pg, k } = c;
    const s = k.sync;
    const p = 0;
    if (part === 'swapoff') {
      // Set-up (the pager waits for it): page 0 swapped out to A, with only A enabled.
      enable(c, A, true);
      enable(c, B, false);
      pg.page_lock(p);
      faultIn(c, p, 'swap-off/setup');
      if (pg.pageout(p, 1, true) !== 1) throw new ContractError('swap-off/setup: pageout to A failed');
      enable(c, B, true);
      // SWAP_OFF of A: disable it (then let the pager go), page everything on it back in.
      enable(c, A, false);
      k.arena.word().store(c.phase, 1);
      s.wakeup(c.phase);
      const [start, end] = range(c, A);
      const r = pg.anon_swap_off(start, end);
      if (r !== 0) throw new ContractError(`swap-off: anon_swap_off returned ${r}`);
      return;
    }
    awaitPhase(c);
    // The pager: fault the page in, write a new version, push it out again (A is disabled: to B).
    pg.page_lock(p);
    faultIn(c, p, 'swap-off/pager');
    pg.stamp(p, pg.T.load(pg.pte(p), 'pt_version') + 1);
    if (pg.pageout(p, 1, true) !== 1) pg.page_unlock(p);
  },
  check(c) {
    const bad = swapCheck(c);
    if (bad) return bad;
    // Page 0 is resident or swapped on B, never on A (A was paged in).
    const { pg } = c;
    const st = pg.T.load(pg.pte(0), 'pt_state');
    const slot = pg.T.load(pg.pte(0), 'pt_slot');
    const [start, end] = range(c, A);
    if (st & PG_SWAPPED && slot >= start && slot < end) return `page 0 is still swapped on A (slot ${slot}) after A's page-in pass`;
    if (!(st & (PG_SWAPPED | PG_RESIDENT))) return `page 0 is neither resident nor swapped (state ${st})`;
    if (st & PG_RESIDENT && pg.verify(0) !== null) return `page 0 is resident with the wrong bytes: ${pg.verify(0)}`;
    return null;
  },
});

// ------------------------------------------------------------------ swap-off-io

/** Wait (tsleep, so that explore can schedule around it) until the swapoff part released the pager. */
function awaitPhase(c: SwCtx): void {
  const { k } = c;
  k.sync.tsleep_until(c.phase, 'swphase', () => k.arena.word().load(c.phase) !== 0);
}

registerWakeCondition('swsettle', (arena, w) => arena.word().load(w) === 0);

/**
 * Wait until no completion of device `sd` is running any more (swd_inflight 0): a step of the
 * scenario after SWAP_OFF returned, so that every late completion runs inside the iteration's
 * schedule (with swap-off-inflight the teardown has already happened: this does not hide it).
 */
function settle(c: SwCtx, sd: number): void {
  const S = c.pg.swap.S;
  const sdp = c.pg.swap.sdp(sd);
  c.k.sync.tsleep_until(S.addrOf(sdp, 'swd_inflight'), 'swsettle', () => S.load(sdp, 'swd_inflight') === 0);
}

registerRaceScenario<SwCtx>({
  name: 'swap-off-io',
  description: 'SWAP_OFF of a regular swap file (page-in, drain, teardown) while a pager rewrites a page and pushes it out',
  bugs: ['swap-off-inflight'],
  parts: ['swapoff', 'pager'],
  daemons: [device(0), device(1)],
  steps: 300,
  spec: () => ({
    devices: [
      { name: 'md0', blocks: 512 },
      { name: 'md1', blocks: 256 },
    ],
    npbuf: 8,
    swap: {
      files: [
        { path: 'A', device: 'md0', type: 'reg', bytes: 16 * 4096, bsize: 2048, maxRun: 1, network: true, swapon: true, priority: 0 },
        { path: 'B', device: 'md1', type: 'blk', blocks: 256, swapon: true, priority: 1 },
      ],
      pages: 2,
    },
  }),
  attach,
  reset(c) {
    c.k.arena.word().store(c.phase, 0);
    // The previous iteration's SWAP_OFF took A away: swap it on again (nothing else runs now).
    const sw = c.pg.swap;
    sw.lockData();
    const on = sw.swaplist_find(A, false) >= 0;
    sw.unlockData();
    if (!on) {
      const r = sys_swapctl(sw, SWAP_ON, A, 0, null, { priv: true });
      if (r.error) throw new ContractError(`swap-off-io/reset: SWAP_ON of A failed with errno ${r.error}`);
    }
  },
  run(c, part) {
    const { pg, k } = c;
    if (part === 'swapoff') {
      // Set-up (the pager waits for it): page 0 pushed out to A (the first priority).
      pg.page_lock(0);
      faultIn(c, 0, 'swap-off-io/setup');
      if (pg.pageout(0, 1, true) !== 1) throw new ContractError('swap-off-io/setup: pageout to A failed');
      k.arena.word().store(c.phase, 1);
      k.sync.wakeup(c.phase);
      // SWAP_OFF of A: disable, page everything on it in, drain its child I/O, tear it down.
      const r = sys_swapctl(pg.swap, SWAP_OFF, A, 0, swapOffHook(pg), { priv: true });
      if (r.error) throw new ContractError(`swap-off-io: SWAP_OFF of A returned errno ${r.error}`);
      settle(c, A);
      return;
    }
    // The pager: fault page 1 in and write a new version; once SWAP_OFF may begin, push it out
    // (to A if it is still enabled: SWAP_OFF then waits for the page and brings it back; else to B).
    const p = 1;
    pg.page_lock(p);
    faultIn(c, p, 'swap-off-io/pager');
    pg.stamp(p, pg.T.load(pg.pte(p), 'pt_version') + 1);
    awaitPhase(c);
    if (pg.pageout(p, 1, true) !== 1) pg.page_unlock(p);
  },
  check(c) {
    const bad = swapCheck(c);
    if (bad) return bad;
    const { pg } = c;
    const sw = pg.swap;
    sw.lockData();
    const on = sw.swaplist_find(A, false) >= 0;
    sw.unlockData();
    if (on) return 'A is still on the swap list after its SWAP_OFF';
    for (const p of [0, 1]) {
      const st = pg.T.load(pg.pte(p), 'pt_state');
      if (!(st & (PG_SWAPPED | PG_RESIDENT))) return `page ${p} is neither resident nor swapped (state ${st})`;
      if (st & PG_RESIDENT && pg.verify(p) !== null) return `page ${p} is resident with the wrong bytes: ${pg.verify(p)}`;
      if (st & PG_SWAPPED && sw.slotToDev(pg.T.load(pg.pte(p), 'pt_slot'))?.sd !== B) return `page ${p} is swapped but not on B (slot ${pg.T.load(pg.pte(p), 'pt_slot')})`;
    }
    return null;
  },
  outcome(c) {
    // Where the pager's page went, and whether SWAP_OFF had to wait for a completion to finish.
    const { pg } = c;
    const G = pg.swap.G;
    const waits = G.load(pg.swap.g, 'sg_drain_waits');
    const drained = waits > c.drains ? 'drain:waited' : 'drain:idle';
    c.drains = waits;
    const st = pg.T.load(pg.pte(1), 'pt_state');
    return `page1:${st & PG_SWAPPED ? 'on-B' : 'paged-in'} ${drained}`;
  },
});
