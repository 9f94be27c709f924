/**
 * BootCache against its seed (kext.c), point by point: each test pins one behaviour of the seed
 * that kiolab used to do otherwise (issue 17), so that a return to the old behaviour fails.
 */
import './seed-fixture.js';
import { expect } from 'chai';
import { BC_DRAIN_WAITER, BC_FLAG_CACHEACTIVE, BC_FLAG_IOBUSY, BC_FLAG_RECORDING, BC_FLAG_STARTED, BC_HE_TAG, CE_ABORTED, STAT_BATCHMAX } from '../../src/bootcache/defs.js';
import { BC_handle_write } from '../../src/bootcache/strategy.js';
import { BC_terminate_cache, BC_terminate_history, BC_terminate_readahead, type BlockOp, type TermGen } from '../../src/bootcache/terminate.js';
import { runBootCacheBench } from '../../src/cli/bootcache.js';
import { bugInfo, bugTable } from '../../src/race/bugs.js';
import { EBUSY, EWOULDBLOCK } from '../../src/sync/errno.js';
import { KB, R, caller, disk, makeMachine, playlist, reader, sleep } from './helpers.js';

/** Drive a termination by hand: every lock is taken at once, every sleep ends as `wake(op, n)` says (n: the sleeps so far). */
function drive(bc: ReturnType<typeof makeMachine>['ctl']['bc'], g: TermGen, wake: (op: BlockOp & { op: 'sleep' }, n: number) => number): { result: number; sleeps: (BlockOp & { op: 'sleep' })[] } {
  const sleeps: (BlockOp & { op: 'sleep' })[] = [];
  let r = g.next(0);
  while (!r.done) {
    const op = r.value;
    if (op.op === 'lock') {
      expect(bc.sync.trylock(op.lk)).to.equal(true);
      r = g.next(0);
    } else {
      sleeps.push(op);
      r = g.next(wake(op, sleeps.length));
    }
  }
  return { result: r.value, sleeps };
}

describe('bootcache: the seed by default (kext.c)', () => {
  it('BC_terminate_readahead returns EBUSY when its sleep times out, even if IOBUSY has cleared since', async () => {
    const { ctl } = makeMachine({ ncpu: 2 });
    await ctl.start(playlist([[0, 4 * KB, 0]])); // IOBUSY set; no reader runs
    const bc = ctl.bc;
    const { result, sleeps } = drive(bc, BC_terminate_readahead(bc), () => {
      bc.clearFlag(BC_FLAG_IOBUSY); // the reader stops just as the sleep times out
      return EWOULDBLOCK;
    });
    expect(sleeps.map((s) => s.wmesg)).to.deep.equal(['BC_terminate_readahead']);
    expect(result).to.equal(EBUSY);
    expect(bc.messages.at(-1)).to.match(/but I\/O has stopped/);
    ctl.untimeout();
  });

  for (const locking of ['funnel', 'fine'] as const) {
    it(`the drains give up after the seed's count of slices with no recheck; ${locking === 'funnel' ? 'blind polls in funnel mode (nobody wakes them)' : "fine mode's are woken (kiolab's wakeup)"}`, async () => {
      const { ctl } = makeMachine({ ncpu: 2, bootcache: { locking, drainRetries: 2 } });
      await ctl.start(playlist([[0, 4 * KB, 0]]));
      const bc = ctl.bc;
      bc.clearFlag(BC_FLAG_IOBUSY); // as if the reader had finished
      bc.C.store(bc.c, 'c_strategycalls', 1); // a caller stays inside BC_strategy
      // retry++ > 2 after each slice: the 4th slice gives up, although the caller left during it.
      const cache = drive(bc, BC_terminate_cache(bc), (_, n) => {
        if (n === 4) bc.C.store(bc.c, 'c_strategycalls', 0);
        return EWOULDBLOCK;
      });
      expect(cache.result).to.equal(EBUSY);
      expect(cache.sleeps).to.have.length(4);
      expect(cache.sleeps.every((s) => s.wmesg === 'BC_terminate_cache' && s.ident === bc.c)).to.equal(true);
      expect(cache.sleeps.every((s) => (s.until === undefined) === (locking === 'funnel'))).to.equal(true);
      expect(bc.cflags() & BC_FLAG_CACHEACTIVE).to.equal(BC_FLAG_CACHEACTIVE); // marked active again
      bc.C.store(bc.c, 'c_bypasscalls', 1);
      const history = drive(bc, BC_terminate_history(bc), () => EWOULDBLOCK);
      expect(history.result).to.equal(EBUSY);
      expect(history.sleeps).to.have.length(4);
      expect(history.sleeps.every((s) => (s.until === undefined) === (locking === 'funnel'))).to.equal(true);
      bc.C.store(bc.c, 'c_bypasscalls', 0);
      ctl.untimeout();
    });

    it(`a write that aborts an extent, and the last caller out of BC_strategy or the bypass while a drain waits, wake ${locking === 'funnel' ? 'nobody (the seed)' : "the sleepers (fine mode's own wakeups)"}`, async () => {
      const { ctl } = makeMachine({ ncpu: 2, bootcache: { locking } });
      await ctl.start(playlist([[0, 8 * KB, 0]]));
      const bc = ctl.bc;
      bc.sync_extents();
      const woken: number[] = [];
      const wakeup = bc.sync.wakeup.bind(bc.sync);
      bc.sync.wakeup = (ident: number) => {
        woken.push(ident);
        return wakeup(ident);
      };
      try {
        expect(bc.TRY_LOCK_EXTENT(0)).to.equal(true); // someone holds the extent: the write's try-lock fails
        BC_handle_write(bc, 0, 4 * KB);
        bc.UNLOCK_EXTENT(0);
        expect(bc.ceFlags(0) & CE_ABORTED).to.equal(CE_ABORTED);
        expect(woken.includes(bc.eaddr[0])).to.equal(locking === 'fine');
        // With no drain waiting, the last caller out wakes nobody; with one, fine mode wakes it.
        for (const f of ['c_strategycalls', 'c_bypasscalls'] as const) {
          const leave = () => (f === 'c_strategycalls' ? bc.strategy_done() : bc.bypass_done());
          woken.length = 0;
          bc.C.store(bc.c, f, 1);
          leave();
          expect(woken.includes(bc.c), `${f}, no drain`).to.equal(false);
          bc.C.store(bc.c, f, 2 | BC_DRAIN_WAITER);
          leave();
          expect(woken.includes(bc.c), `${f}, not the last one`).to.equal(false);
          leave();
          expect(woken.includes(bc.c), `${f}, the last one, a drain waiting`).to.equal(locking === 'fine');
          expect(bc.calls(f)).to.equal(0);
          bc.C.store(bc.c, f, 0);
        }
      } finally {
        bc.sync.wakeup = wakeup;
      }
      ctl.untimeout();
    });
  }

  it('funnel mode: the commands (BC_sysctl) and the cache timeout run under kernel_flock; fine mode takes no funnel', async () => {
    const f = makeMachine({ ncpu: 2, bootcache: { locking: 'funnel', cacheTimeoutMs: 50 } });
    await f.ctl.start(null);
    const bc = f.ctl.bc;
    expect(bc.sync.trylock(bc.funnelLk)).to.equal(true); // a thread holds the funnel
    let answered = false;
    const stats = f.ctl.stats().then((s) => ((answered = true), s));
    await sleep(300); // the cache timeout (50 ms) is due too
    expect(answered).to.equal(false);
    expect(bc.cflags() & BC_FLAG_CACHEACTIVE).to.equal(BC_FLAG_CACHEACTIVE); // BC_timeout_cache waits for the funnel as well
    bc.sync.unlock(bc.funnelLk);
    expect((await stats).ss_cache_flags & BC_FLAG_CACHEACTIVE).to.equal(BC_FLAG_CACHEACTIVE);
    const t0 = Date.now();
    while (bc.cflags() & BC_FLAG_CACHEACTIVE && Date.now() - t0 < 10_000) await sleep(10);
    expect(bc.cflags() & BC_FLAG_CACHEACTIVE).to.equal(0); // the timeout ran once the funnel was free
    expect(bc.sync.trylock(bc.funnelLk)).to.equal(true); // and let it go
    bc.sync.unlock(bc.funnelLk);

    const g = makeMachine({ ncpu: 2, bootcache: { locking: 'fine' } });
    await g.ctl.start(null);
    expect(g.ctl.bc.sync.trylock(g.ctl.bc.funnelLk)).to.equal(true);
    expect((await g.ctl.stats()).ss_blocksize).to.equal(512);
    g.ctl.bc.sync.unlock(g.ctl.bc.funnelLk);
    g.ctl.untimeout();
  });

  it('funnel mode: after a sleep on an extent the funnel is taken back first, then the extent lock (xnu)', async () => {
    const { m, ctl } = makeMachine({ ncpu: 2, bootcache: { locking: 'funnel' } });
    await ctl.start(playlist([[0, 4 * KB, 0]])); // unread: the sleep times out
    const res = await m.run([{ role: 'bctest:msleep-order' }], { timeoutMs: 20_000 });
    expect(res[0].value).to.deep.equal(['funnel', 'extent']);
    ctl.untimeout();
  });

  it('STATS: ss_cache_flags carries only the seed\'s bits (kiolab\'s beside it as kiolab_flags); the times are timevals', async () => {
    const { ctl } = makeMachine({ ncpu: 2 });
    await ctl.start(null);
    const st = await ctl.stats();
    expect(st.ss_cache_flags).to.equal(BC_FLAG_CACHEACTIVE | BC_FLAG_STARTED);
    expect(st.kiolab_flags).to.equal(BC_FLAG_RECORDING);
    for (const tv of [st.ss_wait_time, st.ss_cache_stop, ...st.ss_batch_time]) expect(Object.keys(tv)).to.deep.equal(['tv_sec', 'tv_usec']);
    await ctl.stop();
    ctl.untimeout();
  });

  it('ss_batch_size[batch] is indexed as the seed indexes it: a batch past STAT_BATCHMAX is not folded into the last slot', async () => {
    const { m, ctl } = makeMachine({ ncpu: 3 });
    await ctl.start(playlist([[0, 4 * KB, 0], [8 * KB, 4 * KB, STAT_BATCHMAX - 1], [16 * KB, 2 * KB, STAT_BATCHMAX + 1]]));
    await m.run([reader, disk, caller([R(0, 4 * KB)], { warm: true })], { timeoutMs: 20_000 });
    const st = await ctl.stats();
    expect(st.ss_batch_size[0]).to.equal(8);
    expect(st.ss_batch_size[STAT_BATCHMAX - 1]).to.equal(8);
    expect(st.ss_read_blocks).to.equal(20); // every extent was read
    await ctl.stop();
    ctl.untimeout();
  });

  it('TAG entries are recorded whenever the seed records them: after STOP too, until HISTORY', async () => {
    const { ctl } = makeMachine({ ncpu: 2 });
    await ctl.start(null);
    await ctl.tag(1);
    await ctl.stop();
    await ctl.tag(2); // the seed's BC_add_history checks only HTRUNCATED and the byte bound
    expect((await ctl.history()).map((e) => [e.he_flags, e.he_offset])).to.deep.equal([[BC_HE_TAG, 1], [BC_HE_TAG, 2]]);
    await ctl.tag(3); // after HISTORY (every flag clear) still recorded, and START starts a fresh history
    await ctl.start(null);
    await ctl.stop();
    expect(await ctl.history()).to.deep.equal([]);
    ctl.untimeout();
  });

  it('the bench takes STATS after STOP: ss_spurious_blocks counts the blocks never used and ss_cache_stop is set', async () => {
    const r = await runBootCacheBench({ playlist: playlist([[0, 8 * KB, 0], [64 * KB, 8 * KB, 0]]), requests: [R(0, 8 * KB)], callers: 1, warm: true, locking: 'fine', blocks: 8192 });
    expect(r.mismatches).to.deep.equal([]);
    expect(r.stats.ss_spurious_blocks).to.equal(16); // the second extent, read and never asked for
    expect(r.stats.ss_cache_stop.tv_sec * 1e6 + r.stats.ss_cache_stop.tv_usec).to.be.greaterThan(0);
    expect(r.report.bootcache?.ss_spurious_blocks).to.equal(16);
    expect(r.report.bootcache?.ss_cache_stop).to.match(/^\d+\.\d{6} s$/);
  });

  it('kiolab list bugs: bc-inline-hitrate-terminate is the historical inline-while-counted variant; the seed\'s own variants are marked', () => {
    expect(bugInfo('bc-inline-hitrate-terminate')?.description).to.match(/inline while its caller is still counted in c_strategycalls/);
    expect(bugInfo('bc-inline-hitrate-terminate')?.seed).to.equal(false);
    const table = bugTable({ verbose: true });
    const block = table.slice(table.indexOf('bc-write-discard-early-break'), table.indexOf('bc-write-trylock-skip'));
    expect(block).to.match(/seed: the seed as written has this code/);
  });
});
