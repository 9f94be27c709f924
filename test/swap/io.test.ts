import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import type { PagerResult } from '../../workers/swap.js';
import { SwapGlobalsLayout } from '../../src/swap/layout.js';
import { swapMachine, swapOf } from './helpers.js';

type Xfer = { transfers: number; pages: number; putErrors: number; getErrors: number; mismatches: number; short: number; nospace: number };

const devices = (n: number) => Array.from({ length: n }, (_, unit) => ({ role: 'swap:device', args: { unit }, daemon: true }));

describe('swap: page put/get and regular-file swap I/O', function () {
  this.timeout(60_000);

  it('puts and gets pages under memory pressure on a block device and a split regular file: same bytes back', async () => {
    const m = swapMachine(
      [
        { path: '/dev/wd0b', device: 'md0', type: 'blk', blocks: 1024, swapon: true, priority: 0 },
        { path: '/swapfile', device: 'md1', type: 'reg', bytes: 64 * 4096, bsize: 2048, maxRun: 2, swapon: true, priority: 0 },
      ],
      { pages: 128 },
    );
    const res = await m.run(
      [
        { role: 'swap:pager', args: { first: 0, count: 64, resident: 12, ops: 1500, faultAll: true }, count: 1 },
        { role: 'swap:pager', args: { first: 64, count: 64, resident: 12, ops: 1500, faultAll: true, seed: 99 }, count: 1 },
        ...devices(2),
      ],
      { timeoutMs: 50_000 },
    );
    const pagers = res.slice(0, 2).map((r) => r.value as PagerResult);
    for (const p of pagers) {
      expect(p.mismatches, 'pages brought back with other bytes').to.equal(0);
      expect(p.getErrors).to.equal(0);
      expect(p.puts).to.be.greaterThan(0);
      expect(p.faults).to.be.greaterThan(0);
    }
    const sw = swapOf(m);
    expect(sw.checkInvariants()).to.deep.equal([]);
    const st = sw.stats();
    const file = st.find((s) => s.path === '/swapfile')!;
    const blk = st.find((s) => s.path === '/dev/wd0b')!;
    expect(blk.puts + file.puts).to.be.greaterThan(0);
    // Every page was faulted back: nothing left in swap.
    expect(sw.uvmexp('swpginuse')).to.equal(0);
    expect(sw.uvmexp('swpgonly')).to.equal(0);
    expect(sw.uvmexp('nswget')).to.be.greaterThan(0);
    if (file.puts + file.gets > 0) expect(file.children).to.be.greaterThan(file.puts + file.gets); // 2 KiB blocks: ≥ 2 children a page
    expect(file.maxactiveSeen).to.be.at.most(8);
  });

  it('splits clusters into child I/Os along the bmap and never runs more than swd_maxactive of them', async () => {
    const m = swapMachine(
      [
        { path: '/swapfile', device: 'md0', type: 'reg', bytes: 128 * 4096, bsize: 2048, maxRun: 1, swapon: true },
        { path: 'nfs:/swap', device: 'md1', type: 'reg', bytes: 128 * 4096, bsize: 4096, maxRun: 1, network: true, swapon: true, priority: 1 },
      ],
      { pages: 128, latencyUs: 100 },
    );
    const res = await m.run(
      [
        { role: 'swap:xfer', args: { first: 0, npages: 8, reps: 20 } },
        { role: 'swap:xfer', args: { first: 8, npages: 8, reps: 20 } },
        { role: 'swap:xfer', args: { first: 16, npages: 8, reps: 20 } },
        ...devices(2),
      ],
      { timeoutMs: 50_000 },
    );
    for (const r of res.slice(0, 3)) {
      const x = r.value as Xfer;
      expect(x.mismatches).to.equal(0);
      expect(x.putErrors + x.getErrors).to.equal(0);
      expect(x.pages).to.equal(160);
    }
    const sw = swapOf(m);
    expect(sw.checkInvariants()).to.deep.equal([]);
    const f = sw.stats().find((s) => s.path === '/swapfile')!;
    // 8 pages in 2 KiB blocks that are never contiguous: 16 children per put, 2 per get.
    expect(f.children).to.equal(f.puts * 16 + f.gets * 2);
    expect(f.maxactiveSeen).to.be.within(1, 8);
    expect(f.maxactive).to.equal(8);
    const G = m.arena.view(SwapGlobalsLayout);
    const g = m.arena.pool('swap.globals', SwapGlobalsLayout).addr(0);
    expect(G.load(g, 'sg_xfer_double')).to.equal(0);
    expect(G.load(g, 'sg_xfer_done')).to.equal(f.puts + f.gets);
  });

  it('a network file never has more than 2 children active', async () => {
    const m = swapMachine([{ path: 'nfs:/swap', device: 'md0', type: 'reg', bytes: 128 * 4096, bsize: 1024, maxRun: 1, network: true, swapon: true }], { pages: 64, latencyUs: 100 });
    const res = await m.run(
      [
        { role: 'swap:xfer', args: { first: 0, npages: 4, reps: 15 } },
        { role: 'swap:xfer', args: { first: 4, npages: 4, reps: 15 } },
        ...devices(1),
      ],
      { timeoutMs: 50_000 },
    );
    for (const r of res.slice(0, 2)) expect((r.value as Xfer).mismatches).to.equal(0);
    const f = swapOf(m).stats()[0];
    expect(f.maxactive).to.equal(2);
    expect(f.maxactiveSeen).to.be.within(1, 2);
    expect(f.children).to.equal(f.puts * 16 + f.gets * 4);
    expect(swapOf(m).checkInvariants()).to.deep.equal([]);
  });

  it('a failing child fails its parent exactly once; the slots are marked bad and the pages stay resident', async () => {
    // The file area of md1 has a bad stretch: some children of every put land there.
    const m = swapMachine([{ path: '/swapfile', device: 'md1', type: 'reg', bytes: 32 * 4096, bsize: 2048, maxRun: 1, swapon: true }], {
      pages: 64,
      faults: { 1: [[0, 8191]] },
    });
    const res = await m.run([{ role: 'swap:xfer', args: { first: 0, npages: 4, reps: 3 } }, ...devices(2)], { timeoutMs: 50_000 });
    const x = res[0].value as Xfer;
    expect(x.putErrors).to.equal(12);
    expect(x.mismatches).to.equal(0);
    const sw = swapOf(m);
    const f = sw.stats()[0];
    expect(f.npgbad).to.equal(12);
    expect(f.npginuse).to.equal(12);
    const G = m.arena.view(SwapGlobalsLayout);
    const g = m.arena.pool('swap.globals', SwapGlobalsLayout).addr(0);
    expect(G.load(g, 'sg_xfer_done')).to.equal(3);
    expect(G.load(g, 'sg_xfer_double')).to.equal(0);
    expect(sw.checkInvariants()).to.deep.equal([]);
  });
});
