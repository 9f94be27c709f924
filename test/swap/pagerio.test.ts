import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import type { Machine } from '../../src/engine/machine.js';
import type { PagerResult } from '../../workers/swap.js';
import { VM_PAGER_PEND } from '../../src/swap/io.js';
import { PG_BUSY, PG_RESIDENT, PG_SWAPPED, type SwapFileSpec, SwapGlobalsLayout, resolveSwap } from '../../src/swap/layout.js';
import { PAGEOUT_AGAIN, Pager } from '../../src/swap/pager.js';
import { pagerIoStats } from '../../src/swap/report.js';
import { SwapVnodes } from '../../src/swap/vnode.js';
import { snapshot } from '../../src/sync/snapshot.js';
import { sleep, swapMachine } from './helpers.js';

// The I/O path of uvm_swap.c 1.44 (issue 19): VM_PAGER_AGAIN, the pager map, the growing vnd
// pools, async reads and the vnode counters. The single-thread tests play the disk by hand on the
// main thread (as completion.test.ts does); the worker tests assert outcomes, never timings.

const BLK: SwapFileSpec = { path: '/dev/wd0b', device: 'md0', type: 'blk', blocks: 1024, swapon: true, priority: 0 };
const REG: SwapFileSpec = { path: '/swapfile', device: 'md1', type: 'reg', bytes: 64 * 4096, bsize: 1024, maxRun: 1, swapon: true, priority: 0 };
const devices = (n: number) => Array.from({ length: n }, (_, unit) => ({ role: 'swap:device', args: { unit }, daemon: true }));

function hand(m: Machine) {
  const pg = Pager.of(m.sync, m.spec);
  const sio = pg.sio;
  const G = m.arena.view(SwapGlobalsLayout);
  const g = m.arena.pool('swap.globals', SwapGlobalsLayout).addr(0);
  const gl = (f: Parameters<typeof G.load>[1]) => G.load(g, f);
  /** Serve every queued request of every disk as the device worker does (data, faults, biodone). */
  const serveAll = () => {
    const dev = sio.dev;
    for (let again = true; again; ) {
      again = false;
      for (let unit = 0; unit < dev.conf.length; unit++) {
        for (let bio = dev.dequeue(unit); bio !== 0; bio = dev.dequeue(unit)) {
          again = true;
          const fate = dev.fate(unit, bio);
          if (fate.bytes > 0) dev.transferMemory(unit, bio, fate.bytes);
          dev.complete(unit, bio, fate, 0);
        }
      }
    }
  };
  /** Make pages first..first+n-1 resident with version 2, busy. */
  const touch = (first: number, n: number) => {
    for (let p = first; p < first + n; p++) {
      pg.page_lock(p);
      expect(pg.fault(p)).to.equal(0);
      pg.stamp(p, 2);
    }
  };
  /** Push pages out asynchronously and complete the I/O by hand: they end swapped, unlocked. */
  const swapOut = (first: number, n: number) => {
    touch(first, n);
    expect(pg.pageout(first, n, false)).to.equal(n);
    serveAll();
    for (let p = first; p < first + n; p++) expect(pg.T.load(pg.pte(p), 'pt_state')).to.equal(PG_SWAPPED);
  };
  const state = (p: number) => pg.T.load(pg.pte(p), 'pt_state');
  const vnode = (vp: number) => ({ hold: sio.vn.N.load(sio.vn.addr(vp), 'v_holdcnt'), out: sio.vn.N.load(sio.vn.addr(vp), 'v_numoutput') });
  return { pg, sio, gl, serveAll, touch, swapOut, state, vnode };
}

/** Wait (main thread, never blocking) until some cpu sleeps on `wmesg`. */
async function sleeperOn(m: Machine, wmesg: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!snapshot(m.sync).sleepers.some((s) => s.wmesg === wmesg)) {
    if (Date.now() > end) throw new Error(`nobody slept on "${wmesg}" within ${timeoutMs} ms`);
    await sleep(5);
  }
}

describe('swap: the I/O path of uvm_swap.c 1.44 (pager map, VM_PAGER_AGAIN, vnd pools, async reads, vnodes)', function () {
  this.timeout(30_000);

  it('swap.pagerMap is validated with a RangeError naming the field; the default is 1024 pages', () => {
    const disks = [{ name: 'md0', blocks: 8192 }];
    expect(resolveSwap({ files: [BLK] }, disks).pagerMap).to.equal(1024);
    expect(() => resolveSwap({ files: [BLK], pagerMap: 0 }, disks)).to.throw(RangeError, /swap\.pagerMap/);
    expect(() => resolveSwap({ files: [BLK], pagerMap: 1.5 }, disks)).to.throw(RangeError, /swap\.pagerMap/);
  });

  it('a pagedaemon pageout, async or sync, gets VM_PAGER_AGAIN when no pbuf is free: slots freed, pages resident, busy and intact', () => {
    const m = swapMachine([BLK, REG], { pages: 16, npbuf: 2 });
    const { pg, sio, gl, serveAll, touch, state } = hand(m);
    touch(0, 4);
    const held = [sio.dev.pbufs.getpbuf_nowait(), sio.dev.pbufs.getpbuf_nowait()];
    expect(held).to.not.include(null);
    expect(pg.pageout(0, 4, false)).to.equal(PAGEOUT_AGAIN);
    expect(pg.pageout(0, 4, true)).to.equal(PAGEOUT_AGAIN);
    expect(gl('sg_pager_again')).to.equal(2);
    expect(gl('sg_again_pbuf')).to.equal(2);
    expect(gl('sg_again_map')).to.equal(0);
    expect(gl('sg_aio_pending')).to.equal(0);
    expect(pg.swap.uvmexp('swpginuse'), 'the slots were freed').to.equal(0);
    expect(gl('pm_free'), 'the pager map was given back').to.equal(gl('pm_size'));
    for (let p = 0; p < 4; p++) {
      expect(pg.T.load(pg.pte(p), 'pt_slot')).to.equal(0);
      expect(state(p)).to.equal(PG_RESIDENT | PG_BUSY);
      expect(pg.verify(p)).to.equal(null);
    }
    for (const bp of held) sio.dev.pbufs.relpbuf(bp!);
    // With a pbuf free the same pageout goes through.
    expect(pg.pageout(0, 4, false)).to.equal(4);
    serveAll();
    for (let p = 0; p < 4; p++) expect(state(p)).to.equal(PG_SWAPPED);
    expect(pg.swap.checkInvariants()).to.deep.equal([]);
  });

  it('an async pageout gets VM_PAGER_AGAIN when the pager map is full, counted apart from the pbuf cause', () => {
    const m = swapMachine([BLK], { pages: 16, pagerMap: 6 });
    const { pg, sio, gl, serveAll, touch, state } = hand(m);
    touch(0, 8);
    expect(pg.pageout(0, 4, false)).to.equal(4); // 4 of the 6 pages mapped until the completion
    expect(pg.pageout(4, 4, false)).to.equal(PAGEOUT_AGAIN);
    expect(pg.pageout(4, 4, false)).to.equal(PAGEOUT_AGAIN); // (a synchronous one would wait for the map, as the seed's does)
    expect(gl('sg_again_map')).to.equal(2);
    expect(gl('sg_again_pbuf')).to.equal(0);
    expect(gl('sg_pager_again')).to.equal(2);
    expect(gl('pm_free')).to.equal(2);
    serveAll();
    expect(gl('pm_free'), 'the async completion maps out').to.equal(6);
    for (let p = 4; p < 8; p++) {
      expect(state(p)).to.equal(PG_RESIDENT | PG_BUSY);
      expect(pg.verify(p)).to.equal(null);
      pg.page_unlock(p);
    }
    expect(pg.swap.uvmexp('swpginuse')).to.equal(4);
    expect(sio.uvm_pagermapin(6, false)).to.equal(true);
    expect(sio.uvm_pagermapin(1, false), 'no waitok: fails at once').to.equal(false);
    sio.uvm_pagermapout(6);
    expect(pagerIoStats(pg.swap).again).to.deep.equal({ pageouts: 2, pbuf: 0, pagerMap: 2 });
    expect(pg.swap.checkInvariants()).to.deep.equal([]);
  });

  for (const what of ['pbuf', 'pager map'] as const) {
    it(`a synchronous fault sleeps for the ${what} and succeeds once it is given back`, async () => {
      const m = swapMachine([BLK, REG], { pages: 16, npbuf: 2, pagerMap: 4 });
      const { pg, sio, gl, swapOut, state } = hand(m);
      swapOut(0, 2);
      swapOut(2, 2); // on the regular file (round robin)
      let release: () => void;
      if (what === 'pbuf') {
        const held = [sio.dev.pbufs.getpbuf_nowait()!, sio.dev.pbufs.getpbuf_nowait()!];
        release = () => held.forEach((bp) => sio.dev.pbufs.relpbuf(bp));
      } else {
        expect(sio.uvm_pagermapin(4, false)).to.equal(true);
        release = () => sio.uvm_pagermapout(4);
      }
      const run = m.run([{ role: 'swap:fault', args: { pages: [0, 1, 2, 3] } }, ...devices(2)], { timeoutMs: 25_000 });
      await sleeperOn(m, what === 'pbuf' ? 'pbufwait' : 'pager_map');
      release();
      const res = await run;
      expect(res[0].value).to.deep.equal({ faults: 4, errors: 0, mismatches: 0 });
      for (let p = 0; p < 4; p++) expect(state(p)).to.equal(PG_RESIDENT);
      if (what === 'pager map') expect(gl('pm_sleeps')).to.be.greaterThan(0);
      expect(gl('sg_pager_again')).to.equal(0);
      expect(pg.swap.uvmexp('swpginuse')).to.equal(0);
      expect(pg.swap.checkInvariants()).to.deep.equal([]);
    });
  }

  it('the vndbuf pool grows a pool page at a time without sleeping, up to its reservation', () => {
    const m = swapMachine([REG], { pages: 16 });
    const { pg, sio, gl, serveAll, touch } = hand(m);
    const perPage = pagerIoStats(pg.swap).pools.vndbuf.perPage;
    expect(gl('vnd_npages'), 'one pool page at boot').to.equal(1);
    touch(0, 8);
    // 8 pages in 1 KiB blocks that never merge: 32 children, all allocated before any completes.
    expect(pg.pageout(0, 8, false)).to.equal(8);
    expect(32).to.be.greaterThan(perPage);
    const st = pagerIoStats(pg.swap).pools.vndbuf;
    expect(st.inuse).to.equal(32);
    expect(st.hiwat).to.equal(32);
    expect(st.pages).to.equal(Math.ceil(32 / perPage));
    expect(st.sleeps).to.equal(0);
    serveAll();
    const end = pagerIoStats(pg.swap).pools;
    expect(end.vndbuf).to.include({ inuse: 0, gets: 32, puts: 32, sleeps: 0 });
    expect(end.vndxfer).to.include({ inuse: 0, gets: 1, puts: 1, pages: 1, sleeps: 0 });
    expect(sio.intr).to.equal(0);
    expect(pg.swap.checkInvariants()).to.deep.equal([]);
  });

  it('getvndbuf sleeps only at the reservation, and the transfer completes once vndbufs come back', async () => {
    const m = swapMachine([REG], { pages: 16, nvndbuf: 12 });
    const { pg, sio, gl, touch } = hand(m);
    const held: number[] = [];
    for (let i = 0; i < 12; i++) held.push(sio.getvndbuf()); // the main thread empties it: never sleeps
    expect(gl('vnd_npages')).to.equal(Math.ceil(12 / pagerIoStats(pg.swap).pools.vndbuf.perPage));
    expect(gl('vnd_sleeps')).to.equal(0);
    touch(0, 2);
    for (let p = 0; p < 2; p++) pg.page_unlock(p);
    const run = m.run([{ role: 'swap:xfer', args: { first: 0, npages: 2, reps: 2 } }, ...devices(2)], { timeoutMs: 25_000 });
    await sleeperOn(m, 'swpvnd');
    for (const bp of held) sio.putvndbuf(bp);
    const res = await run;
    expect(res[0].value).to.include({ pages: 4, mismatches: 0, putErrors: 0, getErrors: 0, again: 0 });
    const st = pagerIoStats(pg.swap).pools.vndbuf;
    expect(st.sleeps).to.be.greaterThan(0);
    expect(st.pages * st.perPage).to.be.at.least(12);
    expect(st.hiwat).to.equal(12);
    expect(st.inuse).to.equal(0);
    expect(pg.swap.checkInvariants()).to.deep.equal([]);
  });

  for (const file of [BLK, REG]) {
    it(`an async read (${file.type}) brings a page back intact; the page stays busy until the completion`, () => {
      const m = swapMachine([{ ...file, device: 'md0' }], { pages: 16 });
      const { pg, gl, serveAll, swapOut, state, vnode } = hand(m);
      swapOut(0, 1);
      pg.page_lock(0);
      expect(pg.fault_async(0)).to.equal(VM_PAGER_PEND);
      expect(gl('sg_async_get')).to.equal(1);
      expect(state(0)).to.equal(PG_SWAPPED | PG_BUSY);
      expect(vnode(SwapVnodes.DRUM).hold + vnode(1).hold, 'the transfer holds a vnode').to.equal(1);
      serveAll();
      expect(state(0), 'resident and unlocked by the completion').to.equal(PG_RESIDENT);
      expect(pg.verify(0)).to.equal(null);
      expect(pg.T.load(pg.pte(0), 'pt_slot')).to.equal(0);
      expect(gl('sg_resident')).to.equal(1);
      expect(gl('sg_aget_pending')).to.equal(0);
      expect(gl('sg_mismatch')).to.equal(0);
      expect(pg.swap.uvmexp('swpginuse')).to.equal(0);
      expect(pg.swap.uvmexp('swpgonly')).to.equal(0);
      expect(pg.swap.checkInvariants()).to.deep.equal([]);
    });
  }

  it('an async read that fails keeps the page swapped and only in swap', () => {
    const m = swapMachine([{ ...BLK, device: 'md0' }], { pages: 16, faults: { 0: [[0, 8191]] } });
    const { pg, gl, serveAll, touch, state } = hand(m);
    // Page 0 as if pushed out to a slot of the (bad) disk: swapped, only in swap.
    touch(0, 1);
    const slot = pg.swap.uvm_swap_alloc(1, false).slot;
    pg.T.store(pg.pte(0), 'pt_slot', slot);
    pg.T.store(pg.pte(0), 'pt_state', PG_SWAPPED | PG_BUSY);
    pg.swap.lockData();
    pg.swap.G.add(pg.swap.g, 'swpgonly', 1);
    pg.swap.unlockData();
    expect(pg.fault_async(0)).to.equal(VM_PAGER_PEND);
    expect(pg.swap.uvmexp('swpgonly'), 'about to be no longer only in swap').to.equal(0);
    serveAll();
    expect(state(0)).to.equal(PG_SWAPPED);
    expect(pg.T.load(pg.pte(0), 'pt_slot')).to.equal(slot);
    expect(pg.swap.uvmexp('swpgonly')).to.equal(1);
    expect(gl('sg_aget_errors')).to.equal(1);
    expect(gl('sg_aget_pending')).to.equal(0);
    expect(gl('pm_free')).to.equal(gl('pm_size'));
  });

  it('the vnode counters follow the seed: drum → swap vnode for a block device, children on the device vnode for a file', () => {
    const DRUM = SwapVnodes.DRUM;
    {
      const m = swapMachine([BLK], { pages: 16 });
      const { pg, sio, touch, serveAll, vnode } = hand(m);
      touch(0, 2);
      expect(pg.pageout(0, 2, false)).to.equal(2);
      expect(vnode(DRUM), 'swstrategy moved the write off the drum').to.deep.equal({ hold: 0, out: 0 });
      expect(vnode(sio.vn.swapvp(0))).to.deep.equal({ hold: 1, out: 1 });
      serveAll();
      for (let vp = 0; vp < sio.vn.count; vp++) expect(vnode(vp), `vnode ${vp}`).to.deep.equal({ hold: 0, out: 0 });
    }
    const m = swapMachine([REG], { pages: 16 });
    const { pg, sio, touch, serveAll, vnode } = hand(m);
    const md1 = sio.vn.devvp(1);
    touch(0, 2);
    expect(pg.pageout(0, 2, false)).to.equal(2); // 8 children of 1 KiB, all active
    expect(vnode(DRUM), 'the parent stays on the drum').to.deep.equal({ hold: 1, out: 1 });
    expect(vnode(sio.vn.swapvp(0)), "the file's own vnode is not written through").to.deep.equal({ hold: 0, out: 0 });
    expect(vnode(md1), 'children: held and counted').to.deep.equal({ hold: 8, out: 8 });
    serveAll();
    for (let vp = 0; vp < sio.vn.count; vp++) expect(vnode(vp), `vnode ${vp}`).to.deep.equal({ hold: 0, out: 0 });
    expect(pg.swap.checkInvariants()).to.deep.equal([]);
    // A deliberately unbalanced count is caught.
    sio.vn.numoutput_inc(md1);
    expect(pg.swap.checkInvariants().join('\n')).to.match(/device vnode of disk unit 1: v_holdcnt 0, v_numoutput 1/);
    sio.vn.VHOLD(DRUM);
    expect(pg.swap.checkInvariants().join('\n')).to.match(/drum vnode \(swapdev_vp\): v_holdcnt 1/);
  });

  it('mixed sync and async reads and writes on a block device and a regular file balance every vnode count to 0', async () => {
    const m = swapMachine([BLK, REG], { pages: 128, npbuf: 4, pagerMap: 16 });
    const res = await m.run(
      [
        { role: 'swap:pager', args: { first: 0, count: 64, resident: 12, ops: 1200, faultAll: true, asyncRatio: 0.5, asyncReadRatio: 0.5 } },
        { role: 'swap:pager', args: { first: 64, count: 64, resident: 12, ops: 1200, faultAll: true, asyncRatio: 0.5, asyncReadRatio: 0.5, seed: 99 } },
        ...devices(2),
      ],
      { timeoutMs: 28_000 },
    );
    const pagers = res.slice(0, 2).map((r) => r.value as PagerResult);
    for (const p of pagers) {
      expect(p.mismatches).to.equal(0);
      expect(p.getErrors).to.equal(0);
    }
    expect(pagers.reduce((s, p) => s + p.asyncFaults, 0)).to.be.greaterThan(0);
    const sw = Pager.of(m.sync, m.spec).swap;
    const st = pagerIoStats(sw);
    expect(st.again.pageouts).to.equal(pagers.reduce((s, p) => s + p.again, 0));
    expect(st.again.pbuf + st.again.pagerMap).to.be.at.least(st.again.pageouts);
    const G = m.arena.view(SwapGlobalsLayout);
    const g = m.arena.pool('swap.globals', SwapGlobalsLayout).addr(0);
    expect(G.load(g, 'sg_mismatch')).to.equal(0);
    expect(sw.uvmexp('swpginuse')).to.equal(0);
    expect(sw.checkInvariants()).to.deep.equal([]);
  });
});
