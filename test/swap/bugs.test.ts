import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { registerStrategy } from '../../src/device/disk.js';
import { Machine } from '../../src/engine/machine.js';
import type { PagerResult } from '../../workers/swap.js';
import { bugs } from '../../src/sync/switches.js';
import { SWAP_NSWAP, SWAP_OFF, SwapGlobalsLayout } from '../../src/swap/layout.js';
import { Pager } from '../../src/swap/pager.js';
import { ctlOf, sleep, swapMachine, swapOf } from './helpers.js';

// A disk that completes every request inside its strategy call (a very fast controller).
registerStrategy('swaptest.instant', (dev, _unit, bio) => {
  dev.io.B.store(dev.io.O.load(bio, 'bio_buf'), 'b_resid', 0);
  dev.io.biodone(bio);
});

function xferCounts(m: Machine) {
  const G = m.arena.view(SwapGlobalsLayout);
  const g = m.arena.pool('swap.globals', SwapGlobalsLayout).addr(0);
  return { done: G.load(g, 'sg_xfer_done'), double: G.load(g, 'sg_xfer_double'), mismatch: G.load(g, 'sg_mismatch') };
}

/** Push 4 pages out to a split regular file on an instant disk (main thread; nothing sleeps). */
function instantPut(on: string[]): Machine {
  const m = swapMachine([{ path: '/swapfile', device: 'md0', type: 'reg', bytes: 32 * 4096, bsize: 2048, maxRun: 1, swapon: true }], { pages: 8 });
  bugs.configure(on); // after the machine: planning it resolved the switches from its spec
  const pg = Pager.of(m.sync, m.spec);
  pg.sio.dev.interpose(0, 'swaptest.instant');
  for (let p = 0; p < 4; p++) {
    pg.page_lock(p);
    pg.fault(p);
  }
  pg.pageout(0, 4, false);
  return m;
}

describe('swap: bug switches of RACES.md are caught', function () {
  this.timeout(60_000);
  afterEach(() => bugs.configure([]));

  it('swap-vx-busy-missing: children that finish before the loop ends complete the parent twice', () => {
    expect(xferCounts(instantPut([]))).to.deep.include({ done: 1, double: 0 });
    const c = xferCounts(instantPut(['swap-vx-busy-missing']));
    expect(c.double).to.be.greaterThan(0);
  });

  /** Pagers fill two devices, then SWAP_OFF of A while they keep faulting and rewriting pages. What was caught ('' = nothing). */
  async function swapoffUnderLoad(on: string[], seed: number): Promise<string> {
    let caught = '';
    const m = new Machine({
      ...swapMachine([
        { path: 'A', device: 'md0', type: 'blk', blocks: 1024, swapon: true },
        { path: 'B', device: 'md1', type: 'blk', blocks: 1024, swapon: true },
      ], { pages: 96 }).spec,
      race: { bugs: on, mode: 'stress', seed },
    });
    const ctl = ctlOf(m);
    const run = ctl.watch(m.run(
      [
        { role: 'swap:pager', args: { first: 0, count: 48, resident: 6, until: 'released', writeRatio: 1, cluster: 1 } },
        { role: 'swap:pager', args: { first: 48, count: 48, resident: 6, until: 'released', writeRatio: 1, cluster: 1, seed: 5 } },
        { role: 'swap:swapctl', daemon: true },
        { role: 'swap:device', args: { unit: 0 }, daemon: true },
        { role: 'swap:device', args: { unit: 1 }, daemon: true },
      ],
      { timeoutMs: 30_000 },
    ));
    try {
      // Let the pagers fill swap first (worker start-up time varies).
      await ctl.swapctl(SWAP_NSWAP, null, 0);
      const sw = swapOf(m);
      for (let t = 0; t < 400 && sw.uvmexp('swpginuse') < 40; t++) await sleep(10);
      // Short timeout: with the bug, a pager may die holding a page SWAP_OFF waits for.
      const r = await ctl.swapctl(SWAP_OFF, 'A', 0, { timeoutMs: 8000, priv: true });
      if (r.error) caught = `SWAP_OFF failed with errno ${r.error}`;
    } finally {
      ctl.release();
    }
    let results: Awaited<typeof run> | null = null;
    try {
      results = await run;
    } catch (e) {
      caught ||= String(e); // the executor panicked (freed a slot it did not own)
    }
    const mism = xferCounts(m).mismatch + (results ? results.slice(0, 2).reduce((s, r) => s + (r.value as PagerResult).mismatches, 0) : 0);
    if (mism > 0) caught ||= `${mism} pages came back with the wrong bytes`;
    if (!caught && results) caught = swapOf(m).checkInvariants().join('; ');
    return caught;
  }

  it('swap-off-stale-slots: SWAP_OFF from a snapshot of the slots brings back wrong pages (or frees a slot twice); the correct code never does', async function () {
    this.timeout(120_000);
    expect(await swapoffUnderLoad([], 1), 'clean run').to.equal('');
    let caught = '';
    for (let attempt = 0; attempt < 5 && !caught; attempt++) caught = await swapoffUnderLoad(['swap-off-stale-slots'], attempt + 1);
    expect(caught, 'the stale-slot SWAP_OFF was never caught').to.not.equal('');
  });
});
