import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { CE_ABORTED, CE_IODONE } from '../../src/bootcache/defs.js';
import { dealRequests, synthBoot } from '../../src/bootcache/workload.js';
import { caller, callers, disk, makeMachine, reader } from './helpers.js';

for (const locking of ['fine', 'funnel'] as const) {
  describe(`bootcache: stress, ${locking} locking`, () => {
    it('3 callers with concurrent writes while readahead runs: no hit is ever stale (device oracle), counters consistent', async () => {
      const { m, ctl } = makeMachine({ ncpu: 6, bootcache: { locking, bufferBytes: 4 * 1024 * 1024 }, device: { blocks: 16384, latency: { baseUs: 200 } } });
      const { playlist, requests } = synthBoot({ seed: locking === 'fine' ? 11 : 12, blocks: 16384, blockSize: 512, extents: 200, batches: 3, writeRatio: 0.2, missRatio: 0.1 });
      await ctl.start(playlist);
      const res = await m.run([reader, { ...disk, count: 2 }, ...dealRequests(requests, 3).map((r) => caller(r))], { timeoutMs: 45_000 });
      let reads = 0;
      for (const c of callers(res)) {
        expect(c.mismatches).to.deep.equal([]);
        expect(c.errors).to.equal(0);
        reads += c.reads;
      }
      const st = (await ctl.stats()) as Record<string, number>;
      expect(st.ss_extent_hits).to.be.at.most(st.ss_extent_lookups);
      expect(st.ss_extent_lookups).to.equal(reads);
      expect(st.ss_hit_blocks).to.be.at.most(st.ss_read_blocks);
      expect(st.ss_hit_blocks).to.be.greaterThan(0);
      expect(st.ss_write_discards).to.be.greaterThan(0);
      expect(ctl.bc.C.load(ctl.bc.c, 'c_strategycalls')).to.equal(0);
      expect(ctl.bc.C.load(ctl.bc.c, 'c_bypasscalls')).to.equal(0);
      expect(ctl.checkInvariants()).to.deep.equal([]);
      // The reader has stopped: every extent is done or aborted.
      ctl.bc.sync_extents();
      for (let i = 0; i < ctl.bc.n; i++) expect(ctl.bc.ceFlags(i) & (CE_IODONE | CE_ABORTED), `extent ${i}`).to.not.equal(0);
      const stop = await ctl.stop();
      expect(ctl.checkInvariants()).to.deep.equal([]);
      expect(stop.errors).to.deep.equal({ readahead: 0, cache: 0, history: 0 });
      const h = await ctl.history();
      expect(h.length).to.equal(requests.length);
    });
  });
}
