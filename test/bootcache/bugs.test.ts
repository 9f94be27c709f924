import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { BootCacheControl } from '../../src/bootcache/control.js';
import { resolveDevice } from '../../src/device/config.js';
import { Oracle } from '../../src/device/oracle.js';
import { Machine } from '../../src/engine/machine.js';
import { FAST, KB, R, W, caller, callers, disk, playlist, reader } from './helpers.js';

/** Five adjacent extents; B and D are consumed by hits, then a write spans all five. */
async function writeScan(bugs: string[]): Promise<string[]> {
  const dev = { name: 'disk0', blocks: 1024, oracle: true };
  const m = new Machine({ ncpu: 3, devices: [dev], bootcache: FAST, ...(bugs.length ? { race: { bugs, mode: 'check' as const, seed: 1 } } : {}) });
  new Oracle(m.arena, 0, resolveDevice(dev, 0)).format(m.arena.region('dev.0.store').offset);
  const ctl = new BootCacheControl(m);
  await ctl.start(playlist([0, 1, 2, 3, 4].map((k) => [k * 8 * KB, 8 * KB, 0] as [number, number, number])));
  const reqs = [R(8 * KB, 8 * KB), R(24 * KB, 8 * KB), W(4 * KB, 32 * KB), R(4 * KB, 4 * KB), R(32 * KB, 4 * KB)];
  const res = await m.run([reader, disk, caller(reqs, { warm: true })], { timeoutMs: 20_000 });
  await ctl.stop();
  return callers(res)[0].mismatches;
}

describe('bootcache: bug switches', () => {
  it('bc-write-discard-early-break: off, every intersecting neighbour is scanned; on, the oracle catches the stale hits', async () => {
    expect(await writeScan([])).to.deep.equal([]);
    const stale = await writeScan(['bc-write-discard-early-break']);
    expect(stale).to.have.length(16); // 8 blocks of A and 8 of E
    expect(stale[0]).to.match(/stale data/);
  });
});
