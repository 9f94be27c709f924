import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { B_ERROR } from '../../src/device/buf.js';
import { EIO } from '../../src/sync/errno.js';
import { PG_RESIDENT, PG_SWAPPED, SwapGlobalsLayout, VndbufLayout } from '../../src/swap/layout.js';
import { Pager } from '../../src/swap/pager.js';
import { swapMachine } from './helpers.js';

// The regular-file path driven by hand on the main thread (no worker runs): the test plays the
// disk, taking child requests off the device queue and completing them in the order it chooses.
// Nothing here sleeps: the pools are large enough and every page lock is free.
function setup(maxRun = 1) {
  const m = swapMachine([{ path: '/swapfile', device: 'md0', type: 'reg', bytes: 64 * 4096, bsize: 2048, maxRun, swapon: true }], { pages: 16 });
  const pg = Pager.of(m.sync, m.spec);
  const sio = pg.sio;
  const G = m.arena.view(SwapGlobalsLayout);
  const g = m.arena.pool('swap.globals', SwapGlobalsLayout).addr(0);
  const sdp = pg.swap.sdp(0);
  const S = pg.swap.S;
  const queue = (): number[] => {
    const out: number[] = [];
    for (let bio = sio.dev.dequeue(0); bio !== 0; bio = sio.dev.dequeue(0)) out.push(bio);
    return out;
  };
  /** Complete a device-level child bio: all bytes, or an error. */
  const complete = (bio: number, error = 0) => {
    const bp = sio.io.O.load(bio, 'bio_buf');
    if (error) {
      sio.io.B.store(bp, 'b_error', error);
      sio.io.B.or(bp, 'b_flags', B_ERROR);
    } else sio.io.B.store(bp, 'b_resid', 0);
    sio.io.biodone(bio);
  };
  return { m, pg, sio, G, g, sdp, S, queue, complete };
}

function pushOut(pg: Pager, n: number): void {
  for (let p = 0; p < n; p++) {
    pg.page_lock(p);
    pg.fault(p);
  }
  expect(pg.pageout(0, n, false)).to.equal(n);
}

describe('swap: sw_reg_strategy / sw_reg_start / sw_reg_iodone', () => {
  it('queues children in block order and starts no more than swd_maxactive', () => {
    const { pg, sio, S, sdp, queue, complete, G, g } = setup();
    pushOut(pg, 8); // 8 pages in 2 KiB blocks, none contiguous: 16 children
    expect(S.load(sdp, 'swd_active')).to.equal(8);
    expect(S.load(sdp, 'swd_qlen')).to.equal(8);
    const V = pg.sync.arena.view(VndbufLayout);
    const offs: number[] = [];
    for (let i = S.load(sdp, 'swd_tab'); i !== 0; ) {
      const bp = pg.sync.arena.pool('swap.vndbuf', VndbufLayout).addr(i - 1);
      offs.push(V.load(bp, 'vb_off'));
      i = V.load(bp, 'vb_actnext');
    }
    expect(offs).to.have.length(8);
    expect(offs).to.deep.equal([...offs].sort((a, b) => a - b));
    // Serve: each completion starts the next queued child, never beyond 8 active.
    let served = 0;
    for (let q = queue(); q.length; q = queue()) {
      for (const bio of q.reverse()) {
        complete(bio);
        served++;
        expect(S.load(sdp, 'swd_active')).to.be.at.most(8);
      }
    }
    expect(served).to.equal(16);
    expect(G.load(g, 'sg_xfer_done')).to.equal(1);
    expect(G.load(g, 'sg_xfer_double')).to.equal(0);
    for (let p = 0; p < 8; p++) expect(pg.T.load(pg.pte(p), 'pt_state')).to.equal(PG_SWAPPED);
    expect(sio.swap.checkInvariants()).to.deep.equal([]);
  });

  it('a child error fails the parent once, after every child returned; the slots are marked bad', () => {
    const { pg, S, sdp, queue, complete, G, g, sio } = setup(3);
    pushOut(pg, 6);
    let k = 0;
    for (let q = queue(); q.length; q = queue()) {
      for (const bio of q) {
        complete(bio, k++ === 1 ? EIO : 0);
        if (S.load(sdp, 'swd_active') + S.load(sdp, 'swd_qlen') > 0) expect(G.load(g, 'sg_xfer_done'), 'parent completed with children outstanding').to.equal(0);
      }
    }
    expect(G.load(g, 'sg_xfer_done')).to.equal(1);
    expect(G.load(g, 'sg_xfer_double')).to.equal(0);
    for (let p = 0; p < 6; p++) expect(pg.T.load(pg.pte(p), 'pt_state')).to.equal(PG_RESIDENT);
    const st = sio.swap.stats()[0];
    expect(st.npgbad).to.equal(6);
    expect(st.errors).to.equal(1);
    expect(sio.swap.checkInvariants()).to.deep.equal([]);
  });

  it('bmap runs are at most maxRun blocks and never merge', () => {
    const { sio } = setup(4);
    const f = sio.swap.conf.files[0];
    let lbn = 0;
    const runs: number[] = [];
    while (lbn < f.nfb) {
      const { nra, error } = sio.VOP_BMAP(0, lbn);
      expect(error).to.equal(0);
      runs.push(nra + 1);
      lbn += nra + 1;
    }
    expect(Math.max(...runs)).to.be.at.most(4);
    expect(runs.some((r) => r < 4)).to.equal(true);
    expect(sio.VOP_BMAP(0, f.nfb).error).to.equal(EIO);
  });

  it('checkInvariants names a broken counter', () => {
    const { sio, G, g } = setup();
    G.add(g, 'swpginuse', 3);
    expect(sio.swap.checkInvariants().join('\n')).to.match(/swpginuse/);
  });
});
