import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { B_ERROR } from '../../src/device/buf.js';
import { isPoisoned } from '../../src/race/detect.js';
import { bugs } from '../../src/sync/switches.js';
import { swapOffHook } from '../../src/swap/ctlchannel.js';
import { SWAP_OFF, SWAP_ON, SwapGlobalsLayout } from '../../src/swap/layout.js';
import { Pager } from '../../src/swap/pager.js';
import { sys_swapctl } from '../../src/swap/swapctl.js';
import { swapMachine } from './helpers.js';

// The completion context of the regular-file path, driven by hand on the main thread (no worker
// runs): the test plays the disk and, where it says so, holds the swap file's vnode lock itself,
// as a pager in VOP_BMAP would.
function setup() {
  const m = swapMachine([{ path: '/swapfile', device: 'md0', type: 'reg', bytes: 64 * 4096, bsize: 2048, maxRun: 1, swapon: true }], { pages: 16 });
  const pg = Pager.of(m.sync, m.spec);
  const sio = pg.sio;
  const sdp = pg.swap.sdp(0);
  const S = pg.swap.S;
  const vlock = S.addrOf(sdp, 'swd_vlock');
  const next = (): number => sio.dev.dequeue(0);
  /** v_numoutput of md0's device vnode, where the swap file's children go (it replaced swd_numoutput). */
  const numoutput = (): number => sio.vn.N.load(sio.vn.addr(sio.vn.devvp(0)), 'v_numoutput');
  const complete = (bio: number) => {
    sio.io.B.store(sio.io.O.load(bio, 'bio_buf'), 'b_resid', 0);
    sio.io.biodone(bio);
  };
  const serveAll = () => {
    for (let bio = next(); bio !== 0; bio = next()) complete(bio);
  };
  /** 8 pages pushed out asynchronously: 16 children of 2 KiB, 8 active and 8 queued. */
  const pushOut = () => {
    for (let p = 0; p < 8; p++) {
      pg.page_lock(p);
      pg.fault(p);
    }
    expect(pg.pageout(0, 8, false)).to.equal(8);
  };
  return { m, pg, sio, sdp, S, vlock, next, numoutput, complete, serveAll, pushOut };
}

describe('swap: completion context, the vnode lock hand-off and the SWAP_OFF teardown', () => {
  afterEach(() => bugs.configure([]));

  it('a completion that finds the vnode lock taken leaves the queue to its holder, who starts it on unlock', () => {
    const { m, pg, sio, sdp, S, vlock, next, numoutput, complete, serveAll, pushOut } = setup();
    pushOut();
    expect(S.load(sdp, 'swd_inflight')).to.equal(16);
    expect(numoutput()).to.equal(8);
    m.sync.lock(vlock); // a "pager" in VOP_BMAP
    complete(next());
    // The completion could not start the next child without sleeping: it left it to the holder.
    expect(S.load(sdp, 'swd_active')).to.equal(7);
    expect(S.load(sdp, 'swd_qlen')).to.equal(8);
    expect(S.load(sdp, 'swd_restart')).to.equal(1);
    sio.reg.vn_unlock(0);
    expect(S.load(sdp, 'swd_restart')).to.equal(0);
    expect(S.load(sdp, 'swd_active')).to.equal(8);
    expect(S.load(sdp, 'swd_qlen')).to.equal(7);
    serveAll();
    const G = m.arena.view(SwapGlobalsLayout);
    const g = m.arena.pool('swap.globals', SwapGlobalsLayout).addr(0);
    expect(G.load(g, 'sg_xfer_done')).to.equal(1);
    for (const f of ['swd_active', 'swd_qlen', 'swd_inflight', 'swd_restart', 'swd_busy'] as const) expect(S.load(sdp, f), f).to.equal(0);
    expect(numoutput(), 'v_numoutput').to.equal(0);
    expect(sio.intr).to.equal(0);
    expect(pg.swap.checkInvariants()).to.deep.equal([]);
  });

  it('swap-iodone-inline: sw_reg_start run by the completion would sleep on the vnode lock: "sleep in a completion context"', () => {
    const { m, sio, vlock, next, complete, pushOut } = setup();
    bugs.configure(['swap-iodone-inline']); // after the machine: planning it resolved the switches from its spec
    pushOut();
    m.sync.lock(vlock);
    expect(() => complete(next())).to.throw(/sleep in a completion context: sw_reg_start would sleep on swapvnode@\d+, the vnode lock of \/swapfile \(held by the main thread\)/);
    expect(sio.intr, 'the completion context is left even when it throws').to.equal(0);
  });

  it('with the vnode lock free, the inline start of swap-iodone-inline does not sleep (the bug needs the race)', () => {
    const { pg, serveAll, pushOut } = setup();
    bugs.configure(['swap-iodone-inline']);
    pushOut();
    serveAll();
    expect(pg.swap.checkInvariants()).to.deep.equal([]);
  });

  it('a completion context never sleeps for a vndbuf either', () => {
    const { sio } = setup();
    sio.intr++;
    try {
      expect(() => sio.assertSleepable('getvndbuf', 'an empty pool')).to.throw(/sleep in a completion context: getvndbuf/);
    } finally {
      sio.intr--;
    }
  });

  it('SWAP_OFF poisons the torn-down device\'s I/O state: a late completion touching it is a use after free; SWAP_ON clears it', () => {
    const { pg, sdp, S } = setup();
    const sw = pg.swap;
    expect(sys_swapctl(sw, SWAP_OFF, 0, 0, swapOffHook(pg), { priv: true }).error).to.equal(0);
    expect(isPoisoned(sw.arena, S.addrOf(sdp, 'swd_tab'))).to.equal(true);
    expect(() => pg.sio.reg.sw_reg_kick(0)).to.throw(/use after free: sw_reg_start touched swapdev \/swapfile after SWAP_OFF tore it down/);
    expect(sw.sync.lock_owner(S.addrOf(sdp, 'swd_vlock')), 'the vnode lock was released').to.equal(-1);
    expect(sys_swapctl(sw, SWAP_ON, 0, 0, null, { priv: true }).error).to.equal(0);
    expect(isPoisoned(sw.arena, S.addrOf(sdp, 'swd_tab'))).to.equal(false);
    expect(sw.checkInvariants()).to.deep.equal([]);
  });

  it('a child error still leaves swd_inflight and v_numoutput at 0 once every child returned', () => {
    const { sio, sdp, S, next, numoutput, pushOut } = setup();
    pushOut();
    let k = 0;
    for (let bio = next(); bio !== 0; bio = next()) {
      const bp = sio.io.O.load(bio, 'bio_buf');
      if (k++ === 3) {
        sio.io.B.store(bp, 'b_error', 5);
        sio.io.B.or(bp, 'b_flags', B_ERROR);
      } else sio.io.B.store(bp, 'b_resid', 0);
      sio.io.biodone(bio);
    }
    expect(S.load(sdp, 'swd_inflight')).to.equal(0);
    expect(numoutput()).to.equal(0);
  });
});
