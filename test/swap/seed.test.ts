import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { ContractError } from '../../src/sync/errno.js';
import { SWAP_OFF, resolveSwap } from '../../src/swap/layout.js';
import { type SwapOffHook, sys_swapctl } from '../../src/swap/swapctl.js';
import { swapMachine, swapOf } from './helpers.js';

const root = { priv: true };

// swap_off as NetBSD uvm_swap.c 1.44 writes it, on the main thread of a machine with no worker
// started (the pager's page-in pass is a stand-in hook: these tests are about swap_off itself).
describe('swap: swap_off as 1.44', () => {
  it('makes one page-in pass: pages it did not find are the seed\'s DIAGNOSTIC panic, not a second pass', () => {
    const m = swapMachine([{ path: '/dev/wd0b', device: 'md0', type: 'blk', blocks: 512, swapon: true }]);
    const sw = swapOf(m);
    expect(sw.uvm_swap_alloc(1, false).slot).to.be.greaterThan(0);
    let passes = 0;
    const hook: SwapOffHook = { anon_swap_off: () => (passes++, 0), drain: () => {} };
    expect(() => sys_swapctl(sw, SWAP_OFF, 0, 0, hook, root)).to.throw(ContractError, /still has 1 pages in use \(0 bad\) after its page-in pass/);
    expect(passes).to.equal(1);
  });

  it('leaves the device\'s bad pages counted in uvmexp.swpginuse, as 1.44 leaks them (counted in sg_badleak)', () => {
    const m = swapMachine([
      { path: '/dev/wd0b', device: 'md0', type: 'blk', blocks: 512, swapon: true },
      { path: '/dev/wd1b', device: 'md1', type: 'blk', blocks: 512, swapon: true, priority: 1 },
    ]);
    const sw = swapOf(m);
    const { slot } = sw.uvm_swap_alloc(3, false);
    expect(sw.slotToDev(slot)!.sd).to.equal(0);
    sw.uvm_swap_markbad(slot, 2); // a failed pageout: the slots stay allocated, counted bad
    sw.uvm_swap_free(slot + 2, 1);
    expect(sw.uvmexp('swpginuse')).to.equal(2);
    const hook: SwapOffHook = { anon_swap_off: () => 0, drain: () => {} };
    expect(sys_swapctl(sw, SWAP_OFF, 0, 0, hook, root).error).to.equal(0);
    expect(sw.uvmexp('swpginuse'), 'the seed does not take the bad pages out').to.equal(2);
    expect(sw.uvmexp('swpages')).to.equal(63);
    expect(sw.G.load(sw.g, 'sg_badleak')).to.equal(2);
    expect(sw.checkInvariants()).to.deep.equal([]);
  });
});

describe('swap: the root device in the spec', () => {
  const devices = [{ name: 'md0', blocks: 1024 }];
  it('is one block device with a miniroot that fits (the seed panics at SWAP_ON otherwise: refused before the load)', () => {
    const ok = resolveSwap({ files: [{ path: 'r', device: 'md0', type: 'blk', blocks: 64, root: true, minirootBytes: 4096 * 5 }] }, devices);
    expect(ok.files[0]).to.deep.include({ root: true, rootPages: 5 });
    expect(() => resolveSwap({ files: [{ path: 'r', device: 'md0', type: 'blk', blocks: 64, root: true }] }, devices)).to.throw(/minirootBytes must be a positive multiple of 512/);
    expect(() => resolveSwap({ files: [{ path: 'r', device: 'md0', type: 'blk', blocks: 64, root: true, minirootBytes: 4096 * 8 }] }, devices)).to.throw(/miniroot \(8 pages\) is larger than the swap area \(7 pages\)/);
    expect(() => resolveSwap({ files: [{ path: 'r', device: 'md0', type: 'reg', bytes: 8192, root: true, minirootBytes: 512 }] }, devices)).to.throw(/root device is a block device/);
    expect(() => resolveSwap({ files: [{ path: 'r', device: 'md0', type: 'blk', blocks: 64, minirootBytes: 512 }] }, devices)).to.throw(/applies only to the root device/);
    expect(() =>
      resolveSwap({ files: [{ path: 'r', device: 'md0', type: 'blk', blocks: 64, root: true, minirootBytes: 512 }, { path: 's', device: 'md0', type: 'blk', firstBlock: 100, blocks: 64, root: true, minirootBytes: 512 }] }, devices),
    ).to.throw(/at most one root device/);
  });
});
