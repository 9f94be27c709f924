import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import type { DaemonResult } from '../../src/bufcache/daemon.js';
import { checkInvariants } from '../../src/bufcache/invariants.js';
import type { LoadArgs, LoadResult } from '../../src/bufcache/load.js';
import { sysctlSnapshot } from '../../src/bufcache/sysctl.js';
import type { BufCacheSpec } from '../../src/bufcache/tunables.js';
import type { DeviceConfig } from '../../src/device/config.js';
import { sleepTable } from '../../src/sync/snapshot.js';
import { bufMachine } from './helpers.js';

async function stress(callers: number, bc: BufCacheSpec, load: Partial<LoadArgs>, dev: Partial<DeviceConfig> = {}, daemons = true) {
  const ndaemons = daemons ? 2 : 0;
  const m = bufMachine(callers + ndaemons + 1, bc, dev);
  const roles = [
    { role: 'bufcache:load', args: { ops: 600, ncallers: callers, ndaemons, ...load }, count: callers },
    ...(daemons ? [{ role: 'bufcache:buf_daemon', daemon: true }, { role: 'bufcache:buf_daemon_hw', daemon: true }] : []),
    { role: 'device:worker', args: { unit: 0 }, daemon: true },
  ];
  const res = await m.run(roles, { timeoutMs: 60_000 });
  const loads = res.slice(0, callers).map((r) => r.value as LoadResult);
  const daemonResults = res.slice(callers, callers + ndaemons).map((r) => r.value as DaemonResult);
  return { m, loads, final: loads.find((l) => l.final)!, sysctl: sysctlSnapshot(m.arena), daemonResults };
}

function expectClean(loads: LoadResult[], final: LoadResult, m: { arena: any }) {
  for (const l of loads) {
    expect(l.mismatches).to.deep.equal([]);
    expect(l.errors).to.equal(0);
    expect(l.violations).to.deep.equal([]);
  }
  expect(final.final!.lostWrites).to.deep.equal([]);
  expect(final.final!.checkedBlocks).to.be.greaterThan(0);
  expect(final.final!.dirtyLeft).to.equal(0);
  expect(checkInvariants(m.arena)).to.deep.equal([]);
}

describe('bufcache: callers, daemons and the device on real threads', function () {
  this.timeout(60_000);

  it('no write is lost and no read is stale under recycling (per-cpu queues, heavy files, read-ahead, flushes)', async () => {
    const { m, loads, final, sysctl } = await stress(3, { nbuf: 48, files: 4, fileBlocks: 48, bsize: 16384, heavyFiles: 1 }, { pattern: 'mixed', readRatio: 0.6, flushEvery: 150, phases: 4 });
    expectClean(loads, final, m);
    // The RACES.md invariants held at each of the three quiescent points between phases.
    expect(loads.reduce((s, l) => s + l.invariantChecks, 0)).to.equal(3);
    // The working set (192 blocks) is four times the cache: buffers were recycled.
    expect(sysctl['vfs.getnewbufcalls']).to.be.greaterThan(48);
    expect(loads.reduce((s, l) => s + l.ops, 0)).to.equal(1800);
    expect(sysctl['vfs.runningbufspace']).to.equal(0);
    expect(sysctl['vfs.dirtybufcount']).to.equal(0);
  });

  it('the same holds with one global set of queues', async () => {
    const { m, loads, final, sysctl } = await stress(3, { nbuf: 32, files: 2, fileBlocks: 64, bsize: 8192, globalQueues: true }, { pattern: 'random', readRatio: 0.5, writeMode: 'mixed', phases: 3 });
    expectClean(loads, final, m);
    expect(sysctl['kiolab.bufcache.nsets']).to.equal(1);
  });

  it('getblk never returns a buffer with the wrong identity while others recycle it', async () => {
    // A tiny cache and a hot random read/write load: getnewbuf recycles constantly under getblk.
    const { m, loads, final, sysctl } = await stress(4, { nbuf: 16, files: 1, fileBlocks: 96, bsize: 4096 }, { ops: 800, pattern: 'random', readRatio: 0.8, readahead: 0, flushEvery: 0, phases: 4, widenRaces: true });
    expectClean(loads, final, m);
    expect(sysctl['vfs.getnewbufcalls']).to.be.greaterThan(100);
    // The race did happen: lookups found buffers that were recycled before they could be locked.
    expect(sysctl['kiolab.bufcache.getblk_recycled'] + sysctl['kiolab.bufcache.getnewbuf_restart.refs_after_brelvp']).to.be.greaterThan(0);
  });

  it('the daemons drain dirty space below their low-water marks', async () => {
    const { m, loads, final, daemonResults } = await stress(2, { nbuf: 64, files: 2, fileBlocks: 128, bsize: 16384, heavyFiles: 1 }, { readRatio: 0, writeMode: 'delayed', flushEvery: 0, drain: true, pattern: 'seq' });
    expectClean(loads, final, m);
    // Both daemons flushed: buf_daemon the DIRTY queues, buf_daemon_hw the heavy file's DIRTY_HW.
    expect(daemonResults.map((d) => d.daemon)).to.deep.equal(['buf_daemon', 'buf_daemon_hw']);
    for (const d of daemonResults) expect(d.flushed, d.daemon).to.be.greaterThan(0);
    const d = final.drained!;
    expect(d.ok).to.equal(true);
    expect(d.peakDirtykva).to.be.greaterThan(d.lodirtybufspace / 2);
    expect(d.runningbufspace + d.dirtykvaspace).to.be.at.most(d.lodirtybufspace / 2);
    expect(d.dirtybufcount).to.be.lessThan(32);
  });

  it('a write that keeps failing stays dirty: the daemon backs off ("bioer") and retries, nothing else is lost', async () => {
    // File 1 is device blocks 0..255 (16 KiB buffers = 4 blocks); blocks 8..11 are bad: file block 2.
    const { m, loads, final, sysctl } = await stress(2, { nbuf: 32, files: 2, fileBlocks: 64, bsize: 16384, sysctl: { flushperqueue: 8, lodirtybufspace: 65536 } }, { ops: 300, readRatio: 0.3, writeMode: 'delayed', flushEvery: 0, pattern: 'seq' }, { faults: { bad: [[8, 11]] } });
    for (const l of loads) expect(l.mismatches).to.deep.equal([]);
    expect(sysctl['kiolab.bufcache.flush_errors']).to.be.greaterThan(0);
    expect(sleepTable(m.sync).find((r) => r.wmesg === 'bioer')?.sleeps ?? 0).to.be.greaterThan(0);
    // The failing buffer is still dirty; every other block reached the device.
    expect(final.final!.dirtyLeft).to.equal(1);
    expect(final.final!.lostWrites).to.have.length(4);
    for (const w of final.final!.lostWrites) expect(w).to.match(/^block (8|9|10|11):/);
    expect(checkInvariants(m.arena)).to.deep.equal([]);
  });

  it('writers block in waitrunningbufspace ("wdrn1") and bd_wait ("flstik") and are woken', async () => {
    const dev = { latency: { baseUs: 1500 } };
    const a = await stress(3, { nbuf: 64, files: 2, fileBlocks: 64, bsize: 16384, sysctl: { hirunningspace: 32768 } }, { ops: 150, readRatio: 0, writeMode: 'async', flushEvery: 0 }, dev);
    expectClean(a.loads, a.final, a.m);
    const wdrn = sleepTable(a.m.sync).find((r) => r.wmesg === 'wdrn1');
    expect(wdrn?.sleeps ?? 0).to.be.greaterThan(0);
    expect(wdrn!.wakeups).to.be.greaterThan(0);
    const b = await stress(3, { nbuf: 64, files: 2, fileBlocks: 64, bsize: 16384, sysctl: { hidirtybufspace: 262144, lodirtybufspace: 131072 } }, { ops: 150, readRatio: 0, writeMode: 'delayed', flushEvery: 0 }, dev);
    expectClean(b.loads, b.final, b.m);
    const fl = sleepTable(b.m.sync).find((r) => r.wmesg === 'flstik');
    expect(fl?.sleeps ?? 0).to.be.greaterThan(0);
    expect(fl!.wakeups).to.be.greaterThan(0);
  });
});
