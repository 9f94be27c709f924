/**
 * Roles for the buffer cache's seed-fidelity tests (seed.test.ts), in a module of their own: a
 * module that registers roles is imported by every worker of the machine, and a test file cannot be.
 *
 *  buftest:idle       sleep `ms` on a channel nobody wakes (keeps the machine up while the daemons idle).
 *  buftest:contract   break one of kiolab's contracts (a ContractError), as a bug switch's consequence does.
 *  buftest:flush-run  dirty blocks 0..n-1 of file 1 (bdwrite), run one flushbufqueues of the DIRTY
 *                     queue with buf_daemon's marker, wait for the writes; returns its count.
 */
import '../../workers/bufcache.js';
import { BufCache } from '../../src/bufcache/core.js';
import { flushbufqueues } from '../../src/bufcache/daemon.js';
import { getblk } from '../../src/bufcache/getblk.js';
import { bdwrite } from '../../src/bufcache/io.js';
import { BQUEUE_DIRTY } from '../../src/bufcache/tunables.js';
import { Devices } from '../../src/device/disk.js';
import { registerRoles } from '../../src/engine/roles.js';
import type { Kernel } from '../../src/engine/spec.js';
import { ContractError } from '../../src/sync/errno.js';
import { hostSleep } from '../../src/shm/view.js';

registerRoles(import.meta.url, {
  'buftest:idle': (k: Kernel, a: { ms: number }) => {
    const bc = BufCache.of(k.sync);
    k.sync.tsleep(bc.G.addrOf(bc.g, 'load_errors'), 0, 'idle', a.ms);
    return 0;
  },
  'buftest:contract': () => {
    throw new ContractError('sleep in a completion context (a test)');
  },
  'buftest:flush-run': (k: Kernel, a: { n: number }) => {
    Devices.of(k.sync, k.spec);
    const bc = BufCache.of(k.sync);
    const bsize = bc.G.load(bc.g, 'bsize');
    for (let b = 0; b < a.n; b++) bdwrite(bc, getblk(bc, 1, b * bsize, bsize, 0));
    const dirty = bc.gl('dirtybufcount');
    const marker = bc.buf(bc.nbuf);
    bc.B.store(marker, 'b_qcpu', 0);
    const ops = flushbufqueues(bc, marker, BQUEUE_DIRTY);
    while (bc.gl('runningbufcount') > 0) hostSleep(1);
    return { dirty, ops, after: bc.gl('dirtybufcount') };
  },
});
