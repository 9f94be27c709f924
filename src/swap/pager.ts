/**
 * The pager: a table of swappable pages (the anons of UVM), each with its own frame in the arena,
 * its drum slot while swapped, and a content stamp (page id, version, body) that proves a page
 * brought back from swap holds the bytes that were pushed out.
 *
 * Page lock: PG_BUSY in pt_state, taken by CAS (`page_lock` may sleep on "pgbusy"). It protects
 * pt_slot, pt_version and the frame. An asynchronous pageout keeps the pages busy until its
 * completion (`swap.aio_biodone`, on the device cpu) has recorded the outcome.
 *
 * Who is who (UVM's roles): every pageout is the pagedaemon's (it never sleeps for a pbuf, nor an
 * async one for the pager map: VM_PAGER_AGAIN instead, and the pageout is undone); a fault (and
 * anon_swap_off) is a process's synchronous read, which sleeps for them. fault_async pages a page in asynchronously
 * (the page stays busy until swap.aget_biodone has recorded the outcome).
 *
 * anon_swap_off pages in every page whose slot lies in a drum range (SWAP_OFF), locking each
 * page and re-checking its slot under the lock (the fix of the "swap-off-stale-slots" race).
 */
import { registerBioDone } from '../device/bio.js';
import { B_ERROR } from '../device/buf.js';
import type { StructView } from '../shm/view.js';
import { ContractError, EIO, ENOMEM } from '../sync/errno.js';
import { PINTERLOCKED, type Sync } from '../sync/sync.js';
import { SwapIO, VM_PAGER_AGAIN, VM_PAGER_ERROR, VM_PAGER_OK, VM_PAGER_PEND } from './io.js';
import { PAGE_SIZE, PG_BUSY, PG_RESIDENT, PG_SWAPPED, PG_WANTED, PteLayout, type PteField, type SwapSpec } from './layout.js';
import type { Swap } from './swapdev.js';
import { bugs } from '../sync/switches.js';

export const PAGE_MAGIC = 0x53574150; // 'SWAP'
/** Pager.pageout's answer when uvm_swap_put said VM_PAGER_AGAIN (0 means no swap space). */
export const PAGEOUT_AGAIN = -1;
type SpecLike = { swap?: SwapSpec; devices?: { name: string; blocks: number; blockSize?: number }[] };

function body(page: number, version: number, i: number): number {
  let h = Math.imul(page ^ 0x2c1b3c6d, 0x297a2d39) ^ Math.imul(version + i, 0x9e3779b1);
  h ^= h >>> 13;
  return Math.imul(h, 0x85ebca6b) | 0;
}

/** What a frame whose page went to swap is scribbled over with: one page of 0x0badf00d words. */
const SCRIBBLE = new Uint8Array(new Int32Array(PAGE_SIZE >>> 2).fill(0x0badf00d).buffer);

const attached = new WeakMap<Sync, Pager>();

export class Pager {
  readonly sio: SwapIO;
  readonly swap: Swap;
  readonly T: StructView<PteField>;
  readonly npages: number;
  private readonly pte0: number;
  private readonly frames: number;
  /** One page of content, built here and written into a frame as a range (stamp). */
  private readonly scratch = new Int32Array(PAGE_SIZE >>> 2);
  private readonly scratchBytes = new Uint8Array(this.scratch.buffer);
  /** Race lab instrumentation point (sync.point): SWAP_OFF chose a candidate page, before its page lock. */
  private readonly ptSwapOffCandidate: number;

  static of(sync: Sync, spec: SpecLike): Pager {
    let p = attached.get(sync);
    if (!p) {
      p = new Pager(sync, spec);
      attached.set(sync, p);
    }
    return p;
  }

  private constructor(
    readonly sync: Sync,
    spec: SpecLike,
  ) {
    this.sio = SwapIO.of(sync, spec);
    this.swap = this.sio.swap;
    this.sio.io.ext.set('swappager', this);
    const a = sync.arena;
    this.T = a.view(PteLayout);
    this.ptSwapOffCandidate = sync.intern('anon_swap_off.candidate');
    const pool = a.pool('swap.pte', PteLayout);
    this.npages = pool.count;
    this.pte0 = pool.addr(0);
    this.frames = a.region('swap.frames').offset;
  }

  pte(p: number): number {
    return this.pte0 + p * PteLayout.bytes;
  }
  frame(p: number): number {
    return this.frames + p * PAGE_SIZE;
  }

  // ------------------------------------------------------------- content

  /** Write version `v` of page `p` into its frame. Caller holds the page busy. */
  stamp(p: number, v: number): void {
    const w = this.scratch;
    w[0] = PAGE_MAGIC;
    w[1] = p;
    w[2] = v;
    for (let i = 3; i < PAGE_SIZE >>> 2; i++) w[i] = body(p, v, i);
    this.sync.arena.writeBytes(this.frame(p), this.scratchBytes);
    this.T.store(this.pte(p), 'pt_version', v);
  }
  /** Scribble over a frame whose page went to swap (so a get must really bring the bytes back). */
  poison(p: number): void {
    this.sync.arena.writeBytes(this.frame(p), SCRIBBLE);
  }
  /** Check page `p`'s frame against its recorded version; a message, or null when right. */
  verify(p: number): string | null {
    const w = new Int32Array(this.sync.arena.readBytes(this.frame(p), PAGE_SIZE).buffer);
    const v = this.T.load(this.pte(p), 'pt_version');
    if (w[0] !== PAGE_MAGIC || w[1] !== p) return `page ${p}: not its content (magic ${w[0] >>> 0}, page ${w[1]})`;
    if (w[2] !== v) return `page ${p}: version ${w[2]} but version ${v} was pushed out (stale)`;
    for (let i = 3; i < PAGE_SIZE >>> 2; i++) if (w[i] !== body(p, v, i)) return `page ${p}: body does not match its stamp (torn)`;
    return null;
  }

  // ------------------------------------------------------------- page lock

  /** Take PG_BUSY on page `p`, sleeping on "pgbusy" while another cpu holds it. May sleep. */
  page_lock(p: number): void {
    const T = this.T;
    const a = this.pte(p);
    const s = this.sync;
    for (;;) {
      const st = T.load(a, 'pt_state');
      if (!(st & PG_BUSY)) {
        if (T.cas(a, 'pt_state', st, st | PG_BUSY) === st) return;
        continue;
      }
      s.tsleep_interlock(a);
      if (T.cas(a, 'pt_state', st, st | PG_WANTED) === st) s.tsleep(a, PINTERLOCKED, 'pgbusy', 100);
      else s.tsleep_remove();
    }
  }
  page_trylock(p: number): boolean {
    const a = this.pte(p);
    const st = this.T.load(a, 'pt_state');
    return !(st & PG_BUSY) && this.T.cas(a, 'pt_state', st, st | PG_BUSY) === st;
  }
  /** Drop PG_BUSY (and set the state bits to `state`), waking a waiter. Never sleeps. */
  page_unlock(p: number, state?: number): void {
    const a = this.pte(p);
    const T = this.T;
    for (;;) {
      const st = T.load(a, 'pt_state');
      if (!(st & PG_BUSY)) throw new ContractError(`page_unlock: page ${p} is not busy`);
      const ns = state ?? st & ~(PG_BUSY | PG_WANTED);
      if (T.cas(a, 'pt_state', st, ns & ~(PG_BUSY | PG_WANTED)) === st) {
        if (st & PG_WANTED) this.sync.wakeup(a);
        return;
      }
    }
  }

  // ------------------------------------------------------------- fault and pageout

  /**
   * Make page `p` resident (the caller holds it busy): zero-fill a fresh page (version 1) or
   * bring a swapped one back with uvm_swap_get, check its bytes, and free its slot. Returns 0,
   * EIO when the read failed (the page stays in swap), or -1 on a content mismatch (counted).
   * May sleep.
   */
  fault(p: number): number {
    const T = this.T;
    const a = this.pte(p);
    const st = T.load(a, 'pt_state');
    if (st & PG_RESIDENT) return 0;
    if (!(st & PG_SWAPPED)) {
      this.stamp(p, 1);
      T.or(a, 'pt_state', PG_RESIDENT);
      this.swap.G.add(this.swap.g, 'sg_resident', 1);
      return 0;
    }
    const slot = T.load(a, 'pt_slot');
    if (this.sio.uvm_swap_get(this.frame(p), slot) !== VM_PAGER_OK) return this.sio.lastError || EIO;
    const bad = this.verify(p);
    this.swap.uvm_swap_free(slot, 1);
    T.store(a, 'pt_slot', 0);
    T.or(a, 'pt_state', PG_RESIDENT);
    T.and(a, 'pt_state', ~PG_SWAPPED);
    this.swap.G.add(this.swap.g, 'sg_resident', 1);
    if (bad) {
      this.swap.G.add(this.swap.g, 'sg_mismatch', 1);
      return -1;
    }
    return 0;
  }

  /**
   * Push out the resident busy pages `first..first+n-1` (contiguous ids, hence one contiguous
   * run of frames), as the pagedaemon: uvm_swap_alloc(n, lessok) may give fewer; the pages
   * beyond are left alone (still busy: the caller unlocks them). Returns how many pages were put
   * (or queued, async), 0 when swap is full, PAGEOUT_AGAIN when uvm_swap_put said VM_PAGER_AGAIN
   * (no pager map or pbuf right now): then the slots are freed and every page is left resident
   * and busy for the caller (counted in sg_pager_again). Sync: the pages are unlocked here; async:
   * by swap.aio_biodone. Never sleeps for the pager map or a pbuf; may sleep otherwise.
   */
  pageout(first: number, n: number, sync: boolean): number {
    const { G, g } = this.swap;
    const { slot, nslots } = this.swap.uvm_swap_alloc(n, true);
    if (slot === 0) return 0;
    for (let i = 0; i < nslots; i++) this.T.store(this.pte(first + i), 'pt_slot', slot + i);
    if (!sync) G.add(g, 'sg_aio_pending', 1);
    const r = this.sio.uvm_swap_put(slot, this.frame(first), nslots, sync, 'swap.aio_biodone', first, true);
    if (r === VM_PAGER_AGAIN) {
      if (!sync) G.add(g, 'sg_aio_pending', -1);
      this.swap.uvm_swap_free(slot, nslots);
      for (let i = 0; i < nslots; i++) this.T.store(this.pte(first + i), 'pt_slot', 0);
      G.add(g, 'sg_pager_again', 1);
      return PAGEOUT_AGAIN;
    }
    if (!sync) {
      if (r !== VM_PAGER_PEND) throw new ContractError(`pageout: async put returned ${r}`);
      return nslots;
    }
    this.putdone(first, nslots, slot, r === VM_PAGER_OK);
    return nslots;
  }

  /**
   * Page in swapped page `p` (the caller holds it busy) asynchronously: VM_PAGER_PEND, and the
   * page stays busy until swap.aget_biodone has recorded the outcome and unlocked it; or
   * VM_PAGER_AGAIN (no pager map or pbuf) / VM_PAGER_ERROR, with the page still swapped and
   * still the caller's to unlock. Never sleeps.
   */
  fault_async(p: number): number {
    const a = this.pte(p);
    const st = this.T.load(a, 'pt_state');
    if (!(st & PG_BUSY) || !(st & PG_SWAPPED)) throw new ContractError(`fault_async: page ${p} is not busy and swapped (state ${st})`);
    const { G, g } = this.swap;
    G.add(g, 'sg_aget_pending', 1);
    const r = this.sio.uvm_swap_get(this.frame(p), this.T.load(a, 'pt_slot'), false, 'swap.aget_biodone', p);
    if (r !== VM_PAGER_PEND) G.add(g, 'sg_aget_pending', -1);
    return r === VM_PAGER_PEND || r === VM_PAGER_AGAIN ? r : VM_PAGER_ERROR;
  }

  /**
   * The completion of an async page-in of `p` from `slot` (completion context; never sleeps): on
   * success check the stamp, free the slot and make the page resident; on an error it stays
   * swapped and only in swap (swpgonly++, as uvm_swap_get's failure path). Unlocks the page.
   */
  agetdone(p: number, slot: number, ok: boolean): void {
    const sw = this.swap;
    const a = this.pte(p);
    if (ok) {
      const bad = this.verify(p);
      sw.uvm_swap_free(slot, 1);
      this.T.store(a, 'pt_slot', 0);
      sw.G.add(sw.g, 'sg_resident', 1);
      if (bad) sw.G.add(sw.g, 'sg_mismatch', 1);
      this.page_unlock(p, PG_RESIDENT);
    } else {
      sw.lockData();
      sw.G.add(sw.g, 'swpgonly', 1);
      sw.unlockData();
      sw.G.add(sw.g, 'sg_aget_errors', 1);
      this.page_unlock(p);
    }
    sw.G.add(sw.g, 'sg_aget_pending', -1);
  }

  /**
   * Record the outcome of a pageout (uvm_aio_biodone's job) and unlock the pages: on success the
   * pages are only in swap (swpgonly += n) and their frames are scribbled over; on an error the
   * slots are marked bad (they stay allocated; the page forgets them) and the pages stay resident.
   * Never sleeps.
   */
  putdone(first: number, n: number, slot: number, ok: boolean): void {
    const sw = this.swap;
    if (ok) {
      sw.lockData();
      sw.G.add(sw.g, 'swpgonly', n);
      sw.unlockData();
      for (let i = 0; i < n; i++) {
        const p = first + i;
        this.poison(p);
        sw.G.add(sw.g, 'sg_resident', -1);
        this.page_unlock(p, PG_SWAPPED);
      }
    } else {
      sw.uvm_swap_markbad(slot, n);
      for (let i = 0; i < n; i++) {
        this.T.store(this.pte(first + i), 'pt_slot', 0);
        this.page_unlock(first + i, PG_RESIDENT);
      }
    }
  }

  // ------------------------------------------------------------- swap_off

  /**
   * anon_swap_off: page in every page whose slot is in [startslot, endslot). Each candidate page
   * (slot in range, or busy: its slot may be changing) is locked and re-checked. Fails with
   * ENOMEM when memory (physmem) is exhausted or a page cannot be read back; pages already
   * brought in stay in. May sleep.
   */
  anon_swap_off(startslot: number, endslot: number): number {
    const T = this.T;
    const sw = this.swap;
    if (bugs.any && bugs.enabled('swap-off-stale-slots')) return this.anon_swap_off_stale(startslot, endslot);
    for (let p = 0; p < this.npages; p++) {
      const a = this.pte(p);
      // State first, then slot: a page not busy now published its slot before it was unlocked,
      // and no page can get a new slot here (the device is disabled).
      const busy = (T.load(a, 'pt_state') & PG_BUSY) !== 0;
      const slot = T.load(a, 'pt_slot');
      if (!busy && !(slot >= startslot && slot < endslot)) continue;
      this.sync.point(this.ptSwapOffCandidate, a);
      this.page_lock(p);
      const st = T.load(a, 'pt_state');
      const s2 = T.load(a, 'pt_slot');
      if (!(st & PG_SWAPPED) || s2 < startslot || s2 >= endslot) {
        this.page_unlock(p);
        continue;
      }
      if (sw.G.load(sw.g, 'sg_resident') >= sw.G.load(sw.g, 'sg_physmem')) {
        this.page_unlock(p);
        return ENOMEM;
      }
      const r = this.fault(p);
      this.page_unlock(p);
      if (r > 0) return ENOMEM;
    }
    return 0;
  }

  /**
   * Bug switch swap-off-stale-slots (FreeBSD r358024): snapshot the (page, slot) pairs first,
   * then page each in from its snapshot slot without re-checking under the page lock. A page
   * faulted and pushed out again meanwhile is read from a slot that is no longer its own.
   */
  private anon_swap_off_stale(startslot: number, endslot: number): number {
    const T = this.T;
    const sw = this.swap;
    const snap: [number, number][] = [];
    for (let p = 0; p < this.npages; p++) {
      const slot = T.load(this.pte(p), 'pt_slot');
      if (slot >= startslot && slot < endslot) snap.push([p, slot]);
    }
    for (const [p, slot] of snap) {
      this.page_lock(p);
      if (sw.G.load(sw.g, 'sg_resident') >= sw.G.load(sw.g, 'sg_physmem')) {
        this.page_unlock(p);
        return ENOMEM;
      }
      const wasSwapped = (T.load(this.pte(p), 'pt_state') & PG_SWAPPED) !== 0;
      if (this.sio.uvm_swap_get(this.frame(p), slot) !== VM_PAGER_OK) {
        this.page_unlock(p);
        return ENOMEM;
      }
      if (this.verify(p) !== null) sw.G.add(sw.g, 'sg_mismatch', 1);
      sw.uvm_swap_free(slot, 1);
      T.store(this.pte(p), 'pt_slot', 0);
      if (wasSwapped) sw.G.add(sw.g, 'sg_resident', 1);
      this.page_unlock(p, PG_RESIDENT);
    }
    return 0;
  }
}

// Completions of asynchronous transfers, on the completing cpu (a completion context: never
// sleeps): release the buf (pager map out, brelvp, relpbuf), then record the outcome.
function aioDone(name: string, record: (pager: Pager, first: number, n: number, slot: number, ok: boolean) => void): void {
  registerBioDone(name, (io, bio) => {
    const pager = io.ext.get('swappager') as Pager | undefined;
    if (!pager) throw new ContractError(`${name}: this cpu never attached the pager (Pager.of)`);
    pager.sio.intr++;
    try {
      const bp = io.O.load(bio, 'bio_buf');
      const first = io.O.load(bio, 'bio_caller1');
      const slot = io.O.load(bio, 'bio_caller2');
      const n = io.B.load(bp, 'b_bcount') / PAGE_SIZE;
      const ok = (io.B.load(bp, 'b_flags') & B_ERROR) === 0;
      pager.sio.uvm_aio_release(bp);
      record(pager, first, n, slot, ok);
    } finally {
      pager.sio.intr--;
    }
  });
}
aioDone('swap.aio_biodone', (pager, first, n, slot, ok) => {
  pager.putdone(first, n, slot, ok);
  pager.swap.G.add(pager.swap.g, 'sg_aio_pending', -1);
});
aioDone('swap.aget_biodone', (pager, p, _n, slot, ok) => pager.agetdone(p, slot, ok));
