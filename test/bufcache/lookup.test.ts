import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { checkInvariants } from '../../src/bufcache/invariants.js';
import { bufMachine } from './helpers.js';

/** Two probes (src/bufcache/probes.ts), one per cpu, beside the device worker; their results. */
async function pair(a: string, b: string): Promise<{ values: any[]; m: ReturnType<typeof bufMachine> }> {
  const m = bufMachine(3, { nbuf: 32, files: 2, fileBlocks: 64, bsize: 16384, globalQueues: true });
  const res = await m.run([{ role: 'bufcache:probe', args: { name: a } }, { role: 'bufcache:probe', args: { name: b } }, { role: 'device:worker', daemon: true }], { timeoutMs: 60_000 });
  return { values: [res[0].value, res[1].value], m };
}

describe('bufcache: lookups across cpus (findblk, getblk)', () => {
  it('findblk takes v_token shared: a lookup finds a cached buffer while another cpu holds the token shared', async () => {
    const { values: [holder, finder], m } = await pair('vtokenHolder', 'vtokenFinder');
    expect(finder).to.deep.equal({ holderIn: true, found: true, holderOut: true });
    // An exclusive findblk would spin until the holder gave up waiting for it.
    expect(holder).to.deep.equal({ foundWhileHeld: true });
    expect(checkInvariants(m.arena)).to.deep.equal([]);
  });

  it('getblk sleeps on a busy buffer without taking it (LK_SLEEPFAIL) and looks the block up again', async () => {
    const { values: [holder, waiter], m } = await pair('sleepfailHolder', 'sleepfailWaiter');
    expect(holder).to.deep.equal({ asleep: true });
    // The waiter slept on the buffer the holder then invalidated: it never locked that header
    // (a lock taken after the sleep finds it recycled), and its second lookup made a new buffer.
    expect(waiter).to.deep.equal({ held: true, identity: true, recycled: 0, sleepfail: 1 });
    expect(checkInvariants(m.arena)).to.deep.equal([]);
  });
});
