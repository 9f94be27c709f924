import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { PAGE_SIZE, SWAP_CTL, SWAP_OFF, SWAP_ON, type SwapFileSpec } from '../../src/swap/layout.js';
import { type SwapOffHook, sys_swapctl } from '../../src/swap/swapctl.js';
import type { Swap } from '../../src/swap/swapdev.js';
import { swapMachine, swapOf } from './helpers.js';

// NetBSD 1.44 calls extent_alloc without EX_FAST, both for a device's slots (uvm_swap_alloc) and
// for a device's drum range (swapdrum_add): extent(9) then takes the free gap with the smallest
// leftover, the allocation at its start, ties to the lowest address. Like slots.test.ts, these
// run on the main thread of a machine with no worker started.

/** SWAP_OFF's pager half for a device with nothing in use. */
const idle: SwapOffHook = { anon_swap_off: () => 0, drain: () => {} };
const root = { priv: true }; // the superuser's swapctl

/** Parse a map such as 'F3 U1 F2' (F = free pages, U = used pages) into runs. */
function parseMap(map: string): { used: boolean; len: number }[] {
  return map.split(/\s+/).map((r) => {
    const m = /^([FU])(\d+)$/.exec(r);
    if (!m) throw new Error(`bad map run ${r}`);
    return { used: m[1] === 'U', len: Number(m[2]) };
  });
}

/** A machine with one regular swap file (no label page) as long as `map`, its extent set to `map`. */
function deviceWithMap(map: string): Swap {
  const runs = parseMap(map);
  const npages = runs.reduce((s, r) => s + r.len, 0);
  const sw = swapOf(swapMachine([{ path: 'x', device: 'md0', type: 'reg', bytes: npages * PAGE_SIZE, bsize: 4096, swapon: true }]));
  sw.lockData();
  try {
    let p = 0;
    for (const r of runs) {
      if (r.used) sw.extent_alloc_region(0, p, r.len);
      p += r.len;
    }
  } finally {
    sw.unlockData();
  }
  return sw;
}

interface MapCase {
  map: string;
  /** Requests in order, on the same extent. */
  n: number[];
  /** The start page of each (-1: nothing fits). */
  want: number[];
}

// Worked by hand. "gaps" lists the free runs as [start, end) with their leftovers for the request.
const mapCases: MapCase[] = [
  // gaps [0,3) [4,6) [7,12); 2: leftovers 1, 0 -> the 2-gap fits exactly.
  { map: 'F3 U1 F2 U1 F5', n: [2], want: [4] },
  // 3: leftovers 0 (exact, the scan stops) -> the 3-gap.
  { map: 'F3 U1 F2 U1 F5', n: [3], want: [0] },
  // 4: only the 5-gap holds it.
  { map: 'F3 U1 F2 U1 F5', n: [4], want: [7] },
  // 1: leftovers 2, 1, 4 -> the 2-gap (first fit would take page 0).
  { map: 'F3 U1 F2 U1 F5', n: [1], want: [4] },
  // 6: no gap is that large.
  { map: 'F3 U1 F2 U1 F5', n: [6], want: [-1] },
  // gaps [0,5) [6,9) [10,13); 2: leftovers 3, 1, 1 -> a tie, the lower 3-gap at 6.
  // Then [0,5) [8,9) [10,13); 2: leftovers 3, -, 1 -> 10. Then [0,5) [8,9) [12,13); 2: only
  // [0,5) -> 0. Then [2,5) [8,9) [12,13); 1: leftovers 2, 0 -> 8; 1 again: 2, 0 -> 12.
  { map: 'F5 U1 F3 U1 F3', n: [2, 2, 2, 1, 1], want: [6, 10, 0, 8, 12] },
  // 96 pages, three words. gaps [28,41) (13, across the word boundary at 32) and [64,96) (a whole
  // free word at the end); 12: leftovers 1, 20 -> 28. Then [40,41) [64,96); 1: exact at 40.
  // Then [64,96); 20: 64. Then [84,96); 12: exact at 84.
  { map: 'U28 F13 U23 F32', n: [12, 1, 20, 12], want: [28, 40, 64, 84] },
  { map: 'U28 F13 U23 F32', n: [13, 32, 33], want: [28, 64, -1] },
  // Words: free, all used, free. 31: leftovers 1, 1 -> the lower, 0. Then [31,32) [64,96);
  // 32: exact at 64; 1: exact at 31; 1: nothing left.
  { map: 'F32 U32 F32', n: [31, 32, 1, 1], want: [0, 64, 31, -1] },
  // A run from the middle of word 0 through all of word 1: gaps [5,64) (59) [65,96) (31);
  // 30: leftovers 29, 1 -> 65. Then [5,64) [95,96); 40: 5. Then [45,64) [95,96); 19: exact at 45;
  // 1: exact at 95.
  { map: 'U5 F59 U1 F31', n: [30, 40, 19, 1], want: [65, 5, 45, 95] },
  // 200 pages, 7 words, the last one 8 bits long. gaps [10,15) [100,104) [196,200) (at the
  // extent's end); 4: leftovers 1, 0 -> exact at 100. Then 1, -, 0 -> exact at 196. Then only
  // [10,15) -> 10. Then [14,15); 1: 14; 1: nothing left.
  { map: 'U10 F5 U85 F4 U92 F4', n: [4, 4, 4, 1, 1], want: [100, 196, 10, 14, -1] },
  // 40 pages: the 24 bits of the last word past the extent's end are not pages. gap [36,40).
  { map: 'U36 F4', n: [5, 4, 1], want: [-1, 36, -1] },
  // All free, 70 pages (more than two words): one gap.
  { map: 'F70', n: [3, 67, 1], want: [0, 3, -1] },
];

// ------------------------------------------------------------------ an independent model

/** Free intervals [start, end) of an extent, sorted, disjoint and not adjacent. */
class FreeList {
  iv: [number, number][];
  constructor(start: number, end: number) {
    this.iv = end > start ? [[start, end]] : [];
  }
  /** Best fit: the interval with the smallest leftover (the first on a tie); its start, or -1. */
  bestFit(n: number): number {
    let bi = -1;
    let bl = Infinity;
    for (let i = 0; i < this.iv.length; i++) {
      const left = this.iv[i][1] - this.iv[i][0] - n;
      if (left >= 0 && left < bl) {
        bi = i;
        bl = left;
        if (left === 0) break;
      }
    }
    if (bi < 0) return -1;
    const [s, e] = this.iv[bi];
    if (e - s === n) this.iv.splice(bi, 1);
    else this.iv[bi] = [s + n, e];
    return s;
  }
  /** Take [start, start+n), which must be free. */
  take(start: number, n: number): void {
    const i = this.iv.findIndex(([s, e]) => s <= start && start + n <= e);
    if (i < 0) throw new Error(`model: [${start}, ${start + n}) is not free`);
    const [s, e] = this.iv[i];
    const parts: [number, number][] = [];
    if (s < start) parts.push([s, start]);
    if (start + n < e) parts.push([start + n, e]);
    this.iv.splice(i, 1, ...parts);
  }
  /** Give back [start, start+n), which must be allocated; merges with the neighbours. */
  give(start: number, n: number): void {
    const end = start + n;
    let i = 0;
    while (i < this.iv.length && this.iv[i][1] < start) i++;
    let s = start;
    let e = end;
    let j = i;
    for (; j < this.iv.length && this.iv[j][0] <= end; j++) {
      if (this.iv[j][0] < end && this.iv[j][1] > start) throw new Error(`model: double free of [${start}, ${end})`);
      s = Math.min(s, this.iv[j][0]);
      e = Math.max(e, this.iv[j][1]);
    }
    this.iv.splice(i, j - i, [s, e]);
  }
}

interface ModelDev {
  path: string;
  /** Pages of the extent (the file), and the label pages at its start. */
  total: number;
  label: number;
  npages: number;
  inuse: number;
  drumoff: number;
  ex: FreeList;
  on: boolean;
  priority: number;
}

/** The seed's allocator, written plainly: a priority list of device lists, free lists, counters. */
class Model {
  devs: ModelDev[];
  list: { priority: number; devs: number[] }[] = [];
  drum = new FreeList(1, 0x7fffffff + 1);
  swpages = 0;
  swpginuse = 0;
  constructor(files: SwapFileSpec[]) {
    this.devs = files.map((f) => {
      const total = f.type === 'blk' ? (f.blocks! * 512) / PAGE_SIZE : f.bytes! / PAGE_SIZE;
      return { path: f.path, total, label: f.type === 'blk' ? 1 : 0, npages: 0, inuse: 0, drumoff: 0, ex: new FreeList(0, 0), on: false, priority: 0 };
    });
  }
  nswapdev(): number {
    return this.list.reduce((s, p) => s + p.devs.length, 0);
  }
  private insert(sd: number, priority: number): void {
    let p = this.list.find((x) => x.priority === priority);
    if (!p) {
      p = { priority, devs: [] };
      this.list.push(p);
      this.list.sort((a, b) => a.priority - b.priority);
    }
    p.devs.push(sd);
    this.devs[sd].priority = priority;
  }
  private remove(sd: number): void {
    for (const p of this.list) p.devs = p.devs.filter((d) => d !== sd);
    this.list = this.list.filter((p) => p.devs.length > 0);
  }
  swapOn(sd: number, priority: number): void {
    const d = this.devs[sd];
    this.insert(sd, priority);
    d.ex = new FreeList(0, d.total);
    if (d.label) d.ex.take(0, d.label);
    d.drumoff = this.drum.bestFit(d.total);
    d.npages = d.total - d.label;
    d.inuse = 0;
    d.on = true;
    this.swpages += d.npages;
  }
  swapOff(sd: number): void {
    const d = this.devs[sd];
    if (d.inuse !== 0) throw new Error('model: SWAP_OFF of a device in use');
    this.remove(sd);
    this.drum.give(d.drumoff, d.total);
    this.swpages -= d.npages;
    d.on = false;
  }
  ctl(sd: number, priority: number): void {
    this.remove(sd);
    this.insert(sd, priority);
  }
  alloc(n: number, lessok: boolean): { slot: number; nslots: number } {
    if (this.nswapdev() < 1) return { slot: 0, nslots: n };
    for (;;) {
      for (const p of this.list) {
        for (let i = 0; i < p.devs.length; i++) {
          const d = this.devs[p.devs[i]];
          if (d.inuse + n > d.npages) continue;
          const r = d.ex.bestFit(n);
          if (r < 0) continue;
          p.devs.push(...p.devs.splice(i, 1));
          d.inuse += n;
          this.swpginuse += n;
          return { slot: d.drumoff + r, nslots: n };
        }
      }
      if (n > 1 && lessok) {
        n = 1;
        continue;
      }
      return { slot: 0, nslots: n };
    }
  }
  owner(slot: number): number {
    return this.devs.findIndex((d) => d.on && slot >= d.drumoff && slot < d.drumoff + d.total);
  }
  free(slot: number, n: number): void {
    const d = this.devs[this.owner(slot)];
    d.ex.give(slot - d.drumoff, n);
    d.inuse -= n;
    this.swpginuse -= n;
  }
  /** What is compared after every step. */
  snap(): unknown {
    const devs: unknown[] = [];
    for (const p of this.list) for (const sd of p.devs) {
      const d = this.devs[sd];
      devs.push([d.path, d.priority, d.drumoff, d.total, d.npages, d.inuse]);
    }
    return { nswapdev: this.nswapdev(), swpages: this.swpages, swpginuse: this.swpginuse, devs };
  }
}

function kiolabSnap(sw: Swap): unknown {
  return {
    nswapdev: sw.uvmexp('nswapdev'),
    swpages: sw.uvmexp('swpages'),
    swpginuse: sw.uvmexp('swpginuse'),
    devs: sw.stats().map((s) => [s.path, s.priority, s.drumoffset, s.drumsize, s.npages, s.npginuse]),
  };
}

/** mulberry32: a small seeded generator of floats in [0, 1). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Tally {
  allocs: number;
  failed: number;
  cut: number;
  frees: number;
  on: number;
  off: number;
  ctl: number;
}

/** One generated scenario through kiolab and the model, compared after every step; adds what it did to `t`. */
function runScenario(seed: number, steps: number, t: Tally): void {
  const r = rng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  // Some scenarios draw sizes from a few values (equal gaps), some churn devices on and off.
  const fewSizes = r() < 0.4;
  const churn = r() < 0.35;
  const [pAlloc, pFree, pCtl, pOff] = churn ? [0.35, 0.55, 0.6, 0.82] : [0.55, 0.8, 0.87, 0.93];
  const nfiles = churn ? int(5, 8) : int(2, 8);
  const files: SwapFileSpec[] = [];
  for (let i = 0; i < nfiles; i++) {
    const u = r();
    const pages = fewSizes ? [3, 5, 8, 12][int(0, 3)] : u < 0.6 ? int(2, 24) : u < 0.9 ? int(25, 70) : int(71, 140);
    // Three disks, at most 3 files on each, 2560 blocks apart (a regular file spans 16 blocks a page).
    const at = { device: `md${i % 3}`, firstBlock: Math.floor(i / 3) * 2560 };
    const boot = r() < (churn ? 0.9 : 0.6) ? { swapon: true, priority: int(0, 3) } : {};
    files.push(r() < 0.5 ? { path: `b${i}`, type: 'blk', blocks: pages * 8, ...at, ...boot } : { path: `r${i}`, type: 'reg', bytes: pages * PAGE_SIZE, bsize: 4096, ...at, ...boot });
  }
  const sw = swapOf(swapMachine(files, { ndisks: 3, pages: 8 }));
  const model = new Model(files);
  files.forEach((f, i) => f.swapon && model.swapOn(i, f.priority ?? 0));
  let where = `seed ${seed} at boot`;
  const check = () => expect(kiolabSnap(sw), where).to.deep.equal(model.snap());
  check();
  const held: { slot: number; n: number }[] = [];
  const free = (slot: number, n: number) => {
    sw.uvm_swap_free(slot, n);
    model.free(slot, n);
    t.frees++;
  };
  for (let step = 0; step < steps; step++) {
    const u = r();
    const on = model.devs.map((d, i) => (d.on ? i : -1)).filter((i) => i >= 0);
    const off = model.devs.map((d, i) => (d.on ? -1 : i)).filter((i) => i >= 0);
    if (u < pAlloc) {
      const n = int(1, 8);
      const lessok = r() < 0.5;
      where = `seed ${seed} step ${step}: alloc ${n} lessok ${lessok}`;
      const got = sw.uvm_swap_alloc(n, lessok);
      expect(got, where).to.deep.equal(model.alloc(n, lessok));
      t.allocs++;
      if (got.slot > 0) held.push({ slot: got.slot, n: got.nslots });
      else t.failed++;
      if (got.nslots < n) t.cut++;
    } else if (u < pFree) {
      if (held.length === 0) continue;
      const [h] = held.splice(int(0, held.length - 1), 1);
      const i = r() < 0.5 ? 0 : int(0, h.n - 1);
      const k = i === 0 && r() < 0.5 ? h.n : int(1, h.n - i);
      where = `seed ${seed} step ${step}: free ${k} of ${h.n} at ${h.slot + i}`;
      free(h.slot + i, k);
      if (i > 0) held.push({ slot: h.slot, n: i });
      if (i + k < h.n) held.push({ slot: h.slot + i + k, n: h.n - i - k });
    } else if (u < pCtl) {
      if (on.length === 0) continue;
      const sd = on[int(0, on.length - 1)];
      const pri = int(0, 3);
      where = `seed ${seed} step ${step}: SWAP_CTL ${files[sd].path} ${pri}`;
      expect(sys_swapctl(sw, SWAP_CTL, sd, pri, null, root).error, where).to.equal(0);
      model.ctl(sd, pri);
      t.ctl++;
    } else if (u < pOff) {
      // Churning scenarios take up to 3 devices off in a row (several drum gaps at once).
      for (let left = churn ? int(1, 3) : 1; left > 0 && on.length > 0; left--) {
        const [sd] = on.splice(int(0, on.length - 1), 1);
        where = `seed ${seed} step ${step}: SWAP_OFF ${files[sd].path}`;
        for (let j = held.length - 1; j >= 0; j--) {
          if (model.owner(held[j].slot) !== sd) continue;
          free(held[j].slot, held[j].n);
          held.splice(j, 1);
        }
        expect(sys_swapctl(sw, SWAP_OFF, sd, 0, idle, root).error, where).to.equal(0);
        model.swapOff(sd);
        t.off++;
        check();
      }
    } else {
      if (off.length === 0) continue;
      const sd = off[int(0, off.length - 1)];
      const pri = int(0, 3);
      where = `seed ${seed} step ${step}: SWAP_ON ${files[sd].path} ${pri}`;
      expect(sys_swapctl(sw, SWAP_ON, sd, pri, null, root).error, where).to.equal(0);
      model.swapOn(sd, pri);
      t.on++;
    }
    check();
  }
  expect(sw.checkInvariants(), `seed ${seed} at the end`).to.deep.equal([]);
}

// ------------------------------------------------------------------ the tests

/** A regular swap file of `pages` pages, the i-th on md0. */
const reg = (path: string, pages: number, i: number, swapon: boolean): SwapFileSpec => ({ path, device: 'md0', firstBlock: i * 512, type: 'reg', bytes: pages * PAGE_SIZE, bsize: 4096, swapon });

describe('swap: extents and the drum are best fit (extent(9) without EX_FAST)', () => {
  it('extent_alloc: hand-worked free maps', () => {
    for (const c of mapCases) {
      const sw = deviceWithMap(c.map);
      const got: number[] = [];
      sw.lockData();
      try {
        for (const n of c.n) {
          const before = sw.extent_used(0);
          const r = sw.extent_alloc(0, n);
          got.push(r);
          expect(sw.extent_used(0) - before, `${c.map}: ${n} pages at ${r}`).to.equal(r < 0 ? 0 : n);
        }
      } finally {
        sw.unlockData();
      }
      expect(got, `map ${c.map}, requests ${c.n.join(', ')}`).to.deep.equal(c.want);
    }
  });

  it('a 2-slot request that best fit satisfies after a 1-slot request (first fit splits the 2-gap)', () => {
    const sw = swapOf(swapMachine([{ path: 'x', device: 'md0', type: 'reg', bytes: 5 * PAGE_SIZE, bsize: 4096, swapon: true }]));
    const off = sw.stats()[0].drumoffset;
    expect(off).to.equal(1);
    const slots = [0, 1, 2, 3, 4].map(() => sw.uvm_swap_alloc(1, false).slot);
    expect(slots).to.deep.equal([1, 2, 3, 4, 5]); // pages 0..4 in order
    sw.uvm_swap_free(slots[0], 1);
    sw.uvm_swap_free(slots[1], 1);
    sw.uvm_swap_free(slots[4], 1);
    // Free map: [2 free][2 used][1 free]. One slot: leftovers 1, 0 -> page 4 (first fit: page 0).
    const one = sw.uvm_swap_alloc(1, false);
    // Two slots: pages 0..1 are still free together (after first fit only page 4 would be free).
    expect(sw.uvm_swap_alloc(2, false)).to.deep.equal({ slot: off + 0, nslots: 2 });
    expect(one).to.deep.equal({ slot: off + 4, nslots: 1 });
    expect(sw.uvmexp('swpginuse')).to.equal(5);
    expect(sw.checkInvariants()).to.deep.equal([]);
  });

  it('a device added after SWAP_OFF of devices between others takes the best-fitting drum gap', () => {
    const sw = swapOf(swapMachine([reg('A', 8, 0, true), reg('B', 16, 1, true), reg('C', 8, 2, true), reg('D', 6, 3, true), reg('E', 8, 4, true), reg('F', 5, 5, false), reg('G', 16, 6, false)]));
    const drum = () => Object.fromEntries(sw.stats().map((s) => [s.path, [s.drumoffset, s.drumsize]]));
    // Drum: A [1,9) B [9,25) C [25,33) D [33,39) E [39,47).
    expect(drum()).to.deep.equal({ A: [1, 8], B: [9, 16], C: [25, 8], D: [33, 6], E: [39, 8] });
    expect(sys_swapctl(sw, SWAP_OFF, 1, 0, idle, root).error).to.equal(0);
    expect(sys_swapctl(sw, SWAP_OFF, 3, 0, idle, root).error).to.equal(0);
    // Gaps [9,25) (16) [33,39) (6) [47,INT_MAX]; F (5 pages): leftovers 11, 1, huge -> 33
    // (first fit: 9).
    expect(sys_swapctl(sw, SWAP_ON, 5, 0, null, root).error).to.equal(0);
    expect(drum().F).to.deep.equal([33, 5]);
    // G (16 pages): gaps [9,25) (exact) [38,39) [47,..] -> 9.
    expect(sys_swapctl(sw, SWAP_ON, 6, 0, null, root).error).to.equal(0);
    expect(drum().G).to.deep.equal([9, 16]);
    expect(sw.checkInvariants()).to.deep.equal([]);
  });

  it('of two equal best drum gaps, a new device takes the lower', () => {
    const sw = swapOf(swapMachine([reg('A', 8, 0, true), reg('B', 8, 1, true), reg('C', 8, 2, true), reg('D', 8, 3, true), reg('E', 8, 4, true), reg('F', 5, 5, false)]));
    // Drum: A [1,9) B [9,17) C [17,25) D [25,33) E [33,41). Without B and D: gaps [9,17) [25,33)
    // [41,INT_MAX]; F (5 pages): leftovers 3, 3, huge -> the lower, 9.
    expect(sys_swapctl(sw, SWAP_OFF, 1, 0, idle, root).error).to.equal(0);
    expect(sys_swapctl(sw, SWAP_OFF, 3, 0, idle, root).error).to.equal(0);
    expect(sys_swapctl(sw, SWAP_ON, 5, 0, null, root).error).to.equal(0);
    expect(sw.stats().find((s) => s.path === 'F')!.drumoffset).to.equal(9);
  });

  it('agrees with an independent best-fit model of 1.44 over generated scenarios', () => {
    const t: Tally = { allocs: 0, failed: 0, cut: 0, frees: 0, on: 0, off: 0, ctl: 0 };
    let scenarios = 0;
    for (let seed = 1; seed <= 300; seed++) {
      runScenario(seed, 40, t);
      scenarios++;
    }
    console.log(
      `      compared ${scenarios} scenarios with the model: ${t.allocs} allocations (${t.failed} failed, ${t.cut} cut to 1 slot), ` +
        `${t.frees} frees, ${t.on} SWAP_ON, ${t.off} SWAP_OFF, ${t.ctl} SWAP_CTL after boot`,
    );
    expect(t.allocs).to.be.greaterThan(4000);
    expect(Math.min(t.failed, t.cut, t.on, t.off, t.ctl)).to.be.greaterThan(50);
  });
});
