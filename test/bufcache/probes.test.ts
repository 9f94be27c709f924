import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { checkInvariants } from '../../src/bufcache/invariants.js';
import { VnodeLayout } from '../../src/bufcache/layout.js';
import { bufMachine } from './helpers.js';

async function probe(name: string, opts: { nbuf?: number; ncpu?: number; global?: boolean; bad?: [number, number][]; bsize?: number } = {}): Promise<any> {
  const m = bufMachine(opts.ncpu ?? 2, { nbuf: opts.nbuf ?? 32, files: 2, fileBlocks: 64, bsize: opts.bsize ?? 16384, globalQueues: opts.global ?? true }, opts.bad ? { faults: { bad: opts.bad } } : {});
  const res = await m.run([{ role: 'bufcache:probe', args: { name } }, { role: 'device:worker', daemon: true }], { timeoutMs: 30_000 });
  return { value: res[0].value, m };
}

describe('bufcache: queue placement, getnewbuf, getblk (one worker)', () => {
  it('brelse and bqrelse put each kind of buffer on the queue the reference names', async () => {
    const { value: v, m } = await probe('placement');
    const at = Object.fromEntries((v.placements as any[]).map((p) => [p.name, p]));
    expect(at['bdwrite']).to.include({ queue: 'DIRTY' });
    expect(at['bdwrite'].at).to.match(/tail/);
    expect(at['bdwrite heavy']).to.include({ queue: 'DIRTY_HW' });
    expect(at['bqrelse clean']).to.include({ queue: 'CLEAN', hashed: true });
    expect(at['brelse clean']).to.include({ queue: 'CLEAN', hashed: true });
    expect(at['brelse clean'].at).to.match(/tail/);
    expect(at['brelse B_INVAL']).to.include({ queue: 'EMPTY', bufsize: 0, hashed: false });
    expect(at['brelse B_INVAL'].at).to.match(/head/);
    expect(at['brelse B_ERROR (failed read)']).to.include({ queue: 'EMPTY', bufsize: 0, hashed: false });
    expect(at['brelse B_NOCACHE']).to.include({ queue: 'EMPTY', hashed: false });
    expect(at['brelse B_RELBUF']).to.include({ queue: 'EMPTY', hashed: false });
    expect(at['brelse B_RELBUF with b_refs']).to.include({ queue: 'CLEAN', hashed: true, bufsize: 16384 });
    expect(at['brelse B_LOCKED']).to.include({ queue: 'LOCKED' });
    expect(at['bqrelse B_LOCKED']).to.include({ queue: 'LOCKED' });
    expect(at['bqrelse B_LOCKED'].at).to.match(/tail/);
    expect(at['bdwrite then brelse B_ERROR (re-dirtied stays)']).to.include({ queue: 'DIRTY' });
    expect(at['bdwrite then brelse B_ERROR (re-dirtied stays)'].flags).to.contain('B_DELWRI');
    expect(at['bdwrite then brelse B_INVAL (destroyed)']).to.include({ queue: 'EMPTY', hashed: false });
    expect(at['bdwrite then brelse B_INVAL (destroyed)'].flags).not.to.contain('B_DELWRI');
    expect(at['bdwrite then brelse B_NOCACHE (undirtied, freed)']).to.include({ queue: 'EMPTY' });
    expect(at['bqrelse dirty heavy']).to.include({ queue: 'DIRTY_HW' });
    expect(at['bqrelse dirty heavy'].at).to.match(/tail/);
    expect(v.reget).to.include({ queue: 'NONE' });
    // dirty: 'bdwrite', 'bdwrite heavy', 're-dirtied stays', 'bqrelse dirty heavy'
    expect(v.dirtybufcount).to.equal(4);
    expect(v.dirtybufcounthw).to.equal(2);
    expect(checkInvariants(m.arena)).to.deep.equal([]);
  });

  it('getnewbuf takes EMPTY first, then CLEAN with the B_AGE second chance, skipping referenced buffers', async () => {
    const { value: v, m } = await probe('order', { nbuf: 16, bsize: 8192 });
    expect(v.taken.every((t: any) => t.from === 'EMPTY')).to.equal(true);
    const order: number[] = v.cleanOrder;
    // One scan gives every unaged buffer its second chance (marks it B_AGE and requeues it), so
    // the oldest buffer comes round first; the held one is skipped.
    expect(v.first).to.equal(order[0]);
    expect(v.agedAfterFirst).to.be.at.least(order.length - 2);
    // A cache hit clears B_AGE: that buffer survives, and the next recycle takes the one after it.
    expect(v.hitBuf).to.equal(order[1]);
    expect(v.second).to.equal(order[2]);
    expect(v.hitStillCached).to.equal(true);
    expect(v.first).to.not.equal(v.held);
    expect(v.second).to.not.equal(v.held);
    expect(checkInvariants(m.arena)).to.deep.equal([]);
  });

  it('getnewbuf restarts: flushingbufs hysteresis, the next cpu, and the timed sleep on needsbuffer', async () => {
    // One global set: filling the cache drives bufspace to hibufspace, and flushingbufs frees.
    const { value: g, m: mg } = await probe('restarts', { nbuf: 16, ncpu: 2, global: true });
    expect(g.afterFill.restarts.flushingbufs).to.be.greaterThan(0);
    expect(g.afterFill.bufspace).to.be.lessThan(g.afterFill.hibufspace);
    // Dirty buffers keep their space: at hibufspace (12 × 16 KiB) getnewbuf has nothing to free.
    expect(g.dirtied).to.equal(g.afterFill.hibufspace / 16384);
    expect(g.restarts.sleep_needsbuffer).to.be.greaterThan(0);
    expect(checkInvariants(mg.arena)).to.deep.equal([]);
    // Per-cpu sets: this cpu's set runs dry and getnewbuf moves on to the next cpu's.
    const { value: v, m } = await probe('restarts', { nbuf: 16, ncpu: 2, global: false });
    expect(v.restarts.next_cpu).to.be.greaterThan(0);
    expect(v.setsUsed).to.deep.equal([0, 1]);
    expect(v.dirtied).to.equal(12);
    expect(v.restarts.sleep_needsbuffer).to.be.greaterThan(0);
    expect(checkInvariants(m.arena)).to.deep.equal([]);
  });

  it('getblk writes a dirty buffer out on a size change and commits B_DELWRI without B_CACHE; getcacheblk returns only valid buffers', async () => {
    const { value: v, m } = await probe('getblk');
    expect(v.sizeChange.bcount).to.equal(8192);
    expect(v.sizeChange.deviceVersionAfter).to.be.greaterThan(v.sizeChange.deviceVersionBefore);
    // The write left its pages in the VM object, valid: the smaller buffer comes out of allocbuf
    // valid (B_CACHE), as in the seed (it was invalid when released buffers lost their data).
    expect(v.sizeChange.cached).to.equal(true);
    expect(v.commit.deviceVersionAfter).to.be.greaterThan(v.commit.deviceVersionBefore);
    expect(v.commit.dirty).to.equal(false);
    expect(v.getcacheblk).to.deep.equal({ cached: true, uncached: 0 });
    expect(checkInvariants(m.arena)).to.deep.equal([]);
  });

  it('breadcb completes a miss through its callback on the completing cpu and calls it at once on a hit', async () => {
    const { value: v, m } = await probe('breadcb');
    expect(v.afterMiss).to.deep.equal({ callbacks: 1, cached: true, queue: 'CLEAN' });
    expect(v.afterHit).to.deep.equal({ callbacks: 2, locked: false, queue: 'CLEAN' });
    expect(v.mismatches).to.deep.equal([]);
    expect(checkInvariants(m.arena)).to.deep.equal([]);
  });

  it('a failed write stays dirty, synchronously and asynchronously', async () => {
    const { value: v, m } = await probe('failedWrite', { bad: [[0, 3]] });
    expect(v.afterSync.error).to.equal(5); // EIO
    expect(v.afterSync).to.include({ queue: 'DIRTY', dirtybufcount: 1 });
    expect(v.afterSync.flags).to.contain('B_DELWRI');
    expect(v.afterAsync).to.include({ queue: 'DIRTY', dirtybufcount: 1, runningbufspace: 0 });
    expect(v.afterAsync.flags).to.contain('B_ERROR');
    expect(checkInvariants(m.arena)).to.deep.equal([]);
  });

  it("a vnode's buffers sit on its clean or dirty list as B_DELWRI says; vfsync walks the dirty list, not the hash", async () => {
    const { value: v, m } = await probe('vnodeLists');
    expect(v.mismatches).to.deep.equal([]);
    expect(v.before.v1).to.deep.equal({ clean: [0, 2, 3, 5, 6, 8, 9, 10, 11], dirty: [1, 4, 7] });
    expect(v.before.v2).to.deep.equal({ clean: [0, 1, 2, 3], dirty: [] });
    expect(v.before.invariants).to.deep.equal([]);
    // vfsync read none of the vnode's 512 hash slots and touched only the three dirty headers
    // (a walk of the hash reads every slot and the header of every cached buffer).
    expect(v.vfsync).to.deep.equal({ hashReads: 0, headers: v.dirtyHeaders });
    v.dirtyHeaders.forEach((_: number, i: number) => expect(v.versionsAfter[i]).to.be.greaterThan(v.versionsBefore[i]));
    expect(v.after).to.deep.equal({ clean: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], dirty: [] });
    expect(v.invalidated).to.deep.equal({ clean: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], dirty: [], onList: false });
    expect(checkInvariants(m.arena)).to.deep.equal([]);
    // A hashed buffer on neither list is named, and the counts disagree.
    const V = m.arena.view(VnodeLayout);
    V.store(m.arena.pool('bufcache.vnodes', VnodeLayout).addr(1), 'v_cleanblkhd', 0);
    const bad = checkInvariants(m.arena);
    expect(bad.filter((x) => /is hashed to vnode 2 but on neither of its lists/.test(x))).to.have.length(4);
    expect(bad).to.include('vnode 2: v_nbufs is 4 but its clean and dirty lists hold 0 + 0');
  });

  it('cluster_awrite writes the dirty run that follows a buffer, up to the first clean block', async () => {
    const { value: v, m } = await probe('cluster');
    expect(v.run).to.equal(3); // blocks 0, 1, 2; block 3 is clean
    expect(v.single).to.equal(1); // maxrun 1: block 4 alone
    for (const lbn of [0, 1, 2]) expect(v.after[lbn], `block ${lbn}`).to.be.greaterThan(v.before[lbn]);
    expect(v.after[3]).to.equal(v.before[3]);
    expect(v.after[4]).to.equal(v.before[4]); // not part of the run: still only in the cache
    expect(v.block4).to.be.greaterThan(v.before[4]);
    expect(v.dirtyBefore).to.equal(4);
    expect(v.dirtyAfter).to.equal(0);
    expect(v.runningbufspace).to.equal(0);
    expect(checkInvariants(m.arena)).to.deep.equal([]);
  });
});
