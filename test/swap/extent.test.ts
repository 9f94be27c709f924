import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { PAGE_SIZE, SWAP_OFF, SWAP_ON, type SwapFileSpec } from '../../src/swap/layout.js';
import { type SwapOffHook, sys_swapctl } from '../../src/swap/swapctl.js';
import type { Swap } from '../../src/swap/swapdev.js';
import { swapMachine, swapOf } from './helpers.js';

// NetBSD 1.44 calls extent_alloc without EX_FAST, both for a device's slots (uvm_swap_alloc) and
// for a device's drum range (swapdrum_add): extent(9) then takes the free gap with the smallest
// leftover, the allocation at its start, ties to the lowest address. Like slots.test.ts, these
// run on the main thread of a machine with no worker started.

/** SWAP_OFF's pager half for a device with nothing in use. */
const idle: SwapOffHook = { anon_swap_off: () => 0, drain: () => {} };

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
    expect(sys_swapctl(sw, SWAP_OFF, 1, 0, idle).error).to.equal(0);
    expect(sys_swapctl(sw, SWAP_OFF, 3, 0, idle).error).to.equal(0);
    // Gaps [9,25) (16) [33,39) (6) [47,INT_MAX]; F (5 pages): leftovers 11, 1, huge -> 33
    // (first fit: 9).
    expect(sys_swapctl(sw, SWAP_ON, 5, 0, null).error).to.equal(0);
    expect(drum().F).to.deep.equal([33, 5]);
    // G (16 pages): gaps [9,25) (exact) [38,39) [47,..] -> 9.
    expect(sys_swapctl(sw, SWAP_ON, 6, 0, null).error).to.equal(0);
    expect(drum().G).to.deep.equal([9, 16]);
    expect(sw.checkInvariants()).to.deep.equal([]);
  });

  it('of two equal best drum gaps, a new device takes the lower', () => {
    const sw = swapOf(swapMachine([reg('A', 8, 0, true), reg('B', 8, 1, true), reg('C', 8, 2, true), reg('D', 8, 3, true), reg('E', 8, 4, true), reg('F', 5, 5, false)]));
    // Drum: A [1,9) B [9,17) C [17,25) D [25,33) E [33,41). Without B and D: gaps [9,17) [25,33)
    // [41,INT_MAX]; F (5 pages): leftovers 3, 3, huge -> the lower, 9.
    expect(sys_swapctl(sw, SWAP_OFF, 1, 0, idle).error).to.equal(0);
    expect(sys_swapctl(sw, SWAP_OFF, 3, 0, idle).error).to.equal(0);
    expect(sys_swapctl(sw, SWAP_ON, 5, 0, null).error).to.equal(0);
    expect(sw.stats().find((s) => s.path === 'F')!.drumoffset).to.equal(9);
  });
});
