import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { EBUSY, EINVAL } from '../../src/sync/errno.js';
import { SWAP_OFF, SWAP_ON, SWF_FAKE, SWSLOT_BAD } from '../../src/swap/layout.js';
import { sys_swapctl } from '../../src/swap/swapctl.js';
import { swapMachine, swapOf } from './helpers.js';

// These run on the main thread of a machine with no worker started: the swap state is only ever
// touched by this thread, so the spinlocks are uncontended.
describe('swap: devices, priorities, drum and slots', () => {
  it('keeps the priority list sorted, trims empty priorities, and gives disjoint drum ranges', () => {
    const m = swapMachine([
      { path: '/dev/wd0b', device: 'md0', type: 'blk', blocks: 256, swapon: true, priority: 5 },
      { path: '/swapfile', device: 'md1', type: 'reg', bytes: 64 * 4096, firstBlock: 0, swapon: true, priority: 1 },
      { path: '/dev/wd1b', device: 'md0', type: 'blk', firstBlock: 4096, blocks: 512, swapon: true, priority: 5 },
    ]);
    const sw = swapOf(m);
    expect(sw.priorities()).to.deep.equal([
      { priority: 1, devices: ['/swapfile'] },
      { priority: 5, devices: ['/dev/wd0b', '/dev/wd1b'] },
    ]);
    const st = sw.stats();
    const blk = st.find((s) => s.path === '/dev/wd0b')!;
    expect(blk.npages).to.equal(256 * 512 / 4096 - 1); // page 0 kept for the label
    expect(blk.nblks).to.equal(256);
    expect(st.find((s) => s.path === '/swapfile')!.npages).to.equal(64);
    const ranges = st.map((s) => [s.drumoffset, s.drumoffset + s.drumsize]).sort((a, b) => a[0] - b[0]);
    expect(ranges[0][0]).to.be.at.least(1);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i][0]).to.be.at.least(ranges[i - 1][1]);
    expect(sw.uvmexp('nswapdev')).to.equal(3);
    expect(sw.uvmexp('swpages')).to.equal(31 + 64 + 63);
    expect(sw.checkInvariants()).to.deep.equal([]);
  });

  it('allocates round robin within a priority, and falls to the next priority only when full', () => {
    const m = swapMachine([
      { path: 'a', device: 'md0', type: 'blk', blocks: 40, swapon: true, priority: 0 }, // 5 pages - 1 = 4
      { path: 'b', device: 'md0', type: 'blk', firstBlock: 1000, blocks: 40, swapon: true, priority: 0 },
      { path: 'c', device: 'md1', type: 'blk', blocks: 80, swapon: true, priority: 1 },
    ]);
    const sw = swapOf(m);
    const owner = (slot: number) => sw.conf.files[sw.slotToDev(slot)!.sd].path;
    const order: string[] = [];
    for (let i = 0; i < 8; i++) order.push(owner(sw.uvm_swap_alloc(1, false).slot));
    expect(order).to.deep.equal(['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']);
    // Priority 0 is full (4 + 4): the next slots come from c.
    const next = sw.uvm_swap_alloc(1, false);
    expect(owner(next.slot)).to.equal('c');
    expect(sw.uvmexp('swpginuse')).to.equal(9);
    expect(sw.checkInvariants()).to.deep.equal([]);
  });

  it('lessok falls back to one slot; without it a too-large request fails', () => {
    const m = swapMachine([{ path: 'a', device: 'md0', type: 'blk', blocks: 48, swapon: true }]); // 5 usable pages
    const sw = swapOf(m);
    // Fragment the extent: take all, free every other one.
    const slots = [0, 1, 2, 3, 4].map(() => sw.uvm_swap_alloc(1, false).slot);
    expect(slots.every((s) => s > 0)).to.equal(true);
    sw.uvm_swap_free(slots[1], 1);
    sw.uvm_swap_free(slots[3], 1);
    expect(sw.uvm_swap_alloc(2, false)).to.deep.include({ slot: 0 });
    const r = sw.uvm_swap_alloc(2, true);
    expect(r.nslots).to.equal(1);
    expect(r.slot).to.be.greaterThan(0);
    expect(sw.uvmexp('swpginuse')).to.equal(4);
    expect(sw.checkInvariants()).to.deep.equal([]);
  });

  it('uvm_swap_free ignores SWSLOT_BAD; markbad counts bad pages; a double free is refused', () => {
    const m = swapMachine([{ path: 'a', device: 'md0', type: 'blk', blocks: 64, swapon: true }]);
    const sw = swapOf(m);
    const { slot } = sw.uvm_swap_alloc(2, false);
    sw.uvm_swap_free(SWSLOT_BAD, 1);
    expect(sw.uvmexp('swpginuse')).to.equal(2);
    sw.uvm_swap_markbad(slot, 1);
    expect(sw.stats()[0].npgbad).to.equal(1);
    sw.uvm_swap_free(slot + 1, 1);
    expect(() => sw.uvm_swap_free(slot + 1, 1)).to.throw(/not allocated|double free/);
    expect(sw.uvm_swap_alloc(1, false).slot).to.be.greaterThan(0);
  });

  it('SWAP_ON of a device too small for one page is EINVAL and leaves no placeholder; SWAP_OFF of a placeholder is EBUSY', () => {
    const m = swapMachine([
      { path: 'tiny', device: 'md0', type: 'blk', blocks: 8 }, // one page, which is the label
      { path: 'ok', device: 'md1', type: 'blk', blocks: 64 },
    ]);
    const sw = swapOf(m);
    expect(sys_swapctl(sw, SWAP_ON, 0, 0, null, { priv: true }).error).to.equal(EINVAL);
    expect(sw.uvmexp('nswapdev')).to.equal(0);
    expect(sw.priorities()).to.deep.equal([]);
    // A placeholder as SWAP_ON leaves it while swap_on runs: not in use, so SWAP_OFF is EBUSY.
    sw.lockData();
    sw.S.store(sw.sdp(1), 'swd_flags', SWF_FAKE);
    sw.swaplist_insert(1, 3);
    sw.unlockData();
    expect(sys_swapctl(sw, SWAP_OFF, 1, 0, null, { priv: true }).error).to.equal(EBUSY);
    expect(sw.uvm_swap_alloc(1, false).slot).to.equal(0); // nothing from a placeholder
  });
});
