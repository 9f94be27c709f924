/**
 * swap roles (registered with registerRoles, src/engine/roles.ts), and the planner/initializer registration of its arena regions.
 *
 *  swap:device   a device worker (the disk controller) that has the swap I/O layer attached, so
 *                child completions (sw_reg_iodone) and async pageouts (swap.aio_biodone) run here.
 *  swap:swapctl  the swapctl executor (daemon): runs the main thread's swapctl requests.
 *  swap:pager    a "process" under memory pressure: touches random pages of its range, faulting
 *                swapped ones back (uvm_swap_get; a share asynchronously) and pushing pages out
 *                (uvm_swap_put, as the pagedaemon: a VM_PAGER_AGAIN ends that pressure round) to
 *                stay within its resident limit; every page brought back is checked by its stamp.
 *  swap:xfer     clusters of `npages` pages pushed out in one transfer and read back, checked.
 *  swap:fault    faults a list of pages back synchronously and checks them (tests).
 *  swap:hold     returns when the main thread releases the load (Swapctl.release()).
 */
import { deviceWorker } from '../src/device/worker.js';
import { mix32 } from '../src/device/config.js';
import { Devices } from '../src/device/disk.js';
import { OpRecorder } from '../src/report/types.js';
import { PINTERLOCKED } from '../src/sync/sync.js';
import { released, swapctlExecutor } from '../src/swap/ctlchannel.js';
import { PG_RESIDENT, PG_SWAPPED, SwapCtlLayout } from '../src/swap/layout.js';
import { PAGEOUT_AGAIN, Pager } from '../src/swap/pager.js';
import { VM_PAGER_AGAIN, VM_PAGER_PEND } from '../src/swap/io.js';
import { bootSwapon } from '../src/swap/swapctl.js';
import { initSwap, planSwap } from '../src/swap/init.js';
import { registerRoles } from '../src/engine/roles.js';
import { type Kernel, registerInitializer, registerPlanner } from '../src/engine/spec.js';

registerPlanner('swap', (plan, spec) => planSwap(plan, spec));
registerInitializer('swap', (arena, sync, spec) => {
  initSwap(arena, sync, spec);
  bootSwapon(sync, spec);
});

export interface PagerArgs {
  first: number;
  count: number;
  /** Resident pages this pager keeps at most (memory pressure). */
  resident: number;
  /** Operations to do; or run until the main thread releases the load (`until: 'released'`). */
  ops?: number;
  until?: 'released';
  seed?: number;
  /** Share of touches that modify the page (new version). Default 0.5. */
  writeRatio?: number;
  /** Share of pageouts done asynchronously. Default 0.5. */
  asyncRatio?: number;
  /** Share of faults on swapped pages paged in asynchronously (fault_async). Default 0. */
  asyncReadRatio?: number;
  /** Longest cluster of consecutive pages pushed out in one transfer. Default 4. */
  cluster?: number;
  /** At the end, fault every page of the range back and check it. */
  faultAll?: boolean;
  /** After the ops (and before faultAll), count this pager in ctl_phase_done and wait for the main thread's release. */
  holdUntilRelease?: boolean;
  /** Warm-up (ms): operations that end within it are left out of the figures. */
  rampMs?: number;
  /** Width of a timeline bin (ms, default 100). */
  binMs?: number;
}

export interface PagerResult {
  cpu: number;
  ops: number;
  /** Swapped pages faulted back during the load (uvm_swap_get). */
  faults: number;
  /** Swapped pages faulted back by the final faultAll pass. */
  finalFaults: number;
  zerofills: number;
  puts: number;
  transfers: number;
  getErrors: number;
  nospace: number;
  /** Pageouts that got VM_PAGER_AGAIN (no pager map or pbuf for the pagedaemon). */
  again: number;
  /** Faults paged in asynchronously (their completion checks the stamp: sg_mismatch). */
  asyncFaults: number;
  /** Async page-ins that got VM_PAGER_AGAIN and were done synchronously instead. */
  readAgain: number;
  mismatches: number;
  rec: ReturnType<OpRecorder['toJSON']>;
}

function pagerRole(k: Kernel, a: PagerArgs): PagerResult {
  const pg = Pager.of(k.sync, k.spec);
  const T = pg.T;
  const rec = new OpRecorder({ rampMs: a.rampMs ?? 0, binMs: a.binMs });
  const seed = a.seed ?? k.cpu + 1;
  const wr = a.writeRatio ?? 0.5;
  const ar = a.asyncRatio ?? 0.5;
  const cluster = a.cluster ?? 4;
  const arr = a.asyncReadRatio ?? 0;
  const res: PagerResult = { cpu: k.cpu, ops: 0, faults: 0, finalFaults: 0, zerofills: 0, puts: 0, transfers: 0, getErrors: 0, nospace: 0, again: 0, asyncFaults: 0, readAgain: 0, mismatches: 0, rec: rec.toJSON() };
  const own = (p: number): boolean => p >= a.first && p < a.first + a.count;
  const residentOwn = (): number => {
    let n = 0;
    for (let p = a.first; p < a.first + a.count; p++) if (T.load(pg.pte(p), 'pt_state') & PG_RESIDENT) n++;
    return n;
  };
  const pressure = (i: number): void => {
    let tries = 0;
    while (residentOwn() > a.resident && tries++ < a.count) {
      const v = a.first + (mix32(seed ^ 0x1234, i * 31 + tries) % a.count);
      if (!(T.load(pg.pte(v), 'pt_state') & PG_RESIDENT) || !pg.page_trylock(v)) continue;
      if (!(T.load(pg.pte(v), 'pt_state') & PG_RESIDENT)) {
        pg.page_unlock(v);
        continue;
      }
      let len = 1;
      while (len < cluster && own(v + len) && T.load(pg.pte(v + len), 'pt_state') & PG_RESIDENT && pg.page_trylock(v + len)) {
        if (!(T.load(pg.pte(v + len), 'pt_state') & PG_RESIDENT)) {
          pg.page_unlock(v + len);
          break;
        }
        len++;
      }
      const sync = mix32(seed, i * 7 + tries) / 4294967296 >= ar;
      const t0 = performance.now();
      const n = pg.pageout(v, len, sync);
      if (sync && n > 0) rec.write((performance.now() - t0) * 1e6, n * 4096);
      for (let j = Math.max(n, 0); j < len; j++) pg.page_unlock(v + j);
      if (n === PAGEOUT_AGAIN) {
        // No pager map or pbuf right now: back off until the next touch (never spin).
        res.again++;
        return;
      }
      if (n === 0) {
        res.nospace++;
        return;
      }
      res.puts += n;
      res.transfers++;
    }
  };
  for (let i = 0; a.until === 'released' ? !released(k.arena) && !k.shuttingDown() : i < (a.ops ?? 0); i++) {
    const r = mix32(seed, i);
    const p = a.first + (r % a.count);
    pg.page_lock(p);
    const st = T.load(pg.pte(p), 'pt_state');
    if (st & PG_SWAPPED && arr > 0 && mix32(r, 11) / 4294967296 < arr) {
      const q = pg.fault_async(p);
      if (q === VM_PAGER_PEND) {
        // The completion checks the page, makes it resident and unlocks it.
        res.asyncFaults++;
        res.ops++;
        pressure(i);
        continue;
      }
      if (q === VM_PAGER_AGAIN) res.readAgain++;
    }
    const t0 = performance.now();
    const e = pg.fault(p);
    if (st & PG_SWAPPED) {
      if (e === 0) {
        res.faults++;
        rec.read((performance.now() - t0) * 1e6, 4096);
      } else if (e < 0) res.mismatches++;
      else res.getErrors++;
    } else if (!(st & PG_RESIDENT)) res.zerofills++;
    if (e === 0 && mix32(r, 5) / 4294967296 < wr) pg.stamp(p, T.load(pg.pte(p), 'pt_version') + 1);
    pg.page_unlock(p);
    res.ops++;
    pressure(i);
  }
  // Wait out our asynchronous pageouts (their completion unlocks the pages).
  for (let p = a.first; p < a.first + a.count; p++) {
    pg.page_lock(p);
    pg.page_unlock(p);
  }
  if (a.holdUntilRelease) {
    const C = k.arena.view(SwapCtlLayout);
    const c = k.arena.pool('swap.ctl', SwapCtlLayout).addr(0);
    C.add(c, 'ctl_phase_done', 1);
    holdRole(k);
  }
  if (a.faultAll) {
    for (let p = a.first; p < a.first + a.count; p++) {
      pg.page_lock(p);
      const st = T.load(pg.pte(p), 'pt_state');
      const e = pg.fault(p);
      if (st & PG_SWAPPED) {
        if (e === 0) res.finalFaults++;
        else if (e < 0) res.mismatches++;
        else res.getErrors++;
      } else if (st & PG_RESIDENT) {
        if (pg.verify(p) !== null) res.mismatches++;
      }
      pg.page_unlock(p);
    }
  }
  res.rec = rec.toJSON();
  return res;
}

registerRoles(import.meta.url, {
  'swap:device': (k, a: { unit?: number }) => {
    Pager.of(k.sync, k.spec);
    return deviceWorker(Devices.of(k.sync, k.spec), a.unit ?? 0, () => k.ioStopping());
  },

  'swap:swapctl': (k) => swapctlExecutor(k.sync, k.spec, () => k.shuttingDown()),

  'swap:pager': (k, a: PagerArgs) => pagerRole(k, a),

  /**
   * Push out `reps` clusters of `npages` consecutive pages from `first` in one transfer each
   * (contiguous slots, or fewer with lessok), then fault them back and check. Returns counts.
   */
  'swap:xfer': (k, a: { first: number; npages: number; reps: number; sync?: boolean }) => {
    const pg = Pager.of(k.sync, k.spec);
    const out = { transfers: 0, pages: 0, putErrors: 0, getErrors: 0, mismatches: 0, short: 0, nospace: 0, again: 0 };
    for (let r = 0; r < a.reps; r++) {
      for (let i = 0; i < a.npages; i++) {
        const p = a.first + i;
        pg.page_lock(p);
        pg.fault(p);
        pg.stamp(p, pg.T.load(pg.pte(p), 'pt_version') + 1);
      }
      const r0 = pg.pageout(a.first, a.npages, a.sync ?? true);
      if (r0 === PAGEOUT_AGAIN) out.again++;
      const n = Math.max(r0, 0);
      if (r0 === 0) out.nospace++;
      if (r0 !== PAGEOUT_AGAIN && n < a.npages) out.short++;
      for (let j = n; j < a.npages; j++) pg.page_unlock(a.first + j);
      out.transfers++;
      for (let i = 0; i < a.npages; i++) {
        const p = a.first + i;
        pg.page_lock(p);
        const st = pg.T.load(pg.pte(p), 'pt_state');
        if (i < n && !(st & PG_SWAPPED)) out.putErrors++;
        const e = pg.fault(p);
        if (st & PG_SWAPPED) {
          if (e < 0) out.mismatches++;
          else if (e > 0) out.getErrors++;
          else out.pages++;
        }
        pg.page_unlock(p);
      }
    }
    return out;
  },

  /** Fault `pages` back synchronously (a process's reads: they sleep for the pager map and pbufs) and check each. */
  'swap:fault': (k, a: { pages: number[] }) => {
    const pg = Pager.of(k.sync, k.spec);
    const out = { faults: 0, errors: 0, mismatches: 0 };
    for (const p of a.pages) {
      pg.page_lock(p);
      const e = pg.fault(p);
      if (e === 0 && pg.verify(p) === null) out.faults++;
      else if (e > 0) out.errors++;
      else out.mismatches++;
      pg.page_unlock(p);
    }
    return out;
  },

  'swap:hold': (k) => holdRole(k),
});

/** Sleep until the main thread releases the load (or the machine stops). */
function holdRole(k: Kernel): { released: boolean } {
  {
    const C = k.arena.view(SwapCtlLayout);
    const c = k.arena.pool('swap.ctl', SwapCtlLayout).addr(0);
    const ch = C.addrOf(c, 'ctl_release');
    while (!released(k.arena) && !k.shuttingDown()) {
      k.sync.tsleep_interlock(ch);
      if (released(k.arena)) {
        k.sync.tsleep_remove();
        break;
      }
      k.sync.tsleep(ch, PINTERLOCKED, 'swaphold', 100);
    }
    return { released: true };
  }
}
