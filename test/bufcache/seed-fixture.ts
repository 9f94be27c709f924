/**
 * Roles for the buffer cache's seed-fidelity tests (seed.test.ts), in a module of their own: a
 * module that registers roles is imported by every worker of the machine, and a test file cannot be.
 *
 *  buftest:idle       sleep `ms` on a channel nobody wakes (keeps the machine up while the daemons idle).
 *  buftest:vm         a written block's buffer released (B_RELBUF), then looked up again: what the VM
 *                     pages kept; then the same after B_NOCACHE.
 *  buftest:lowmem     getblk + bqrelse of a clean buffer while the VM is short of pages.
 *  buftest:contract   break one of kiolab's contracts (a ContractError), as a bug switch's consequence does.
 *  buftest:flush-run  dirty blocks 0..n-1 of file 1 (bdwrite), run one flushbufqueues of the DIRTY
 *                     queue with buf_daemon's marker, wait for the writes; returns its count.
 */
import '../../workers/bufcache.js';
import { BufCache } from '../../src/bufcache/core.js';
import { flushbufqueues } from '../../src/bufcache/daemon.js';
import { getblk, inmem } from '../../src/bufcache/getblk.js';
import { bdwrite, bqrelse, brelse, bwrite } from '../../src/bufcache/io.js';
import { B_CACHE, B_INVAL, B_NOCACHE, B_RELBUF } from '../../src/device/buf.js';
import { BQUEUE_NAMES } from '../../src/bufcache/tunables.js';
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
  'buftest:vm': (k: Kernel) => {
    const dev = Devices.of(k.sync, k.spec);
    const bc = BufCache.of(k.sync);
    const bs = bc.G.load(bc.g, 'bsize');
    const reads = () => dev.D.load(dev.disk(0), 'd_reads');
    // Write block 0 of file 1 with a pattern (sync: its pages get the bytes, valid).
    let bp = getblk(bc, 1, 0, bs, 0);
    bc.arena.fillBytes(bc.B.load(bp, 'b_data'), 0x5a, bs);
    bwrite(bc, bp);
    // Look it up (a buffer hit) and release it with its memory (B_RELBUF); wipe that memory.
    bp = getblk(bc, 1, 0, bs, 0);
    const memory = bc.B.load(bp, 'b_kvabase');
    bc.b_flags.or(bp, B_RELBUF);
    brelse(bc, bp);
    bc.arena.fillBytes(memory, 0, bs);
    const inmemAfterRelease = inmem(bc, 1, 0);
    const before = reads();
    bp = getblk(bc, 1, 0, bs, 0);
    const cached = (bc.b_flags.load(bp) & B_CACHE) !== 0;
    const fromVm = bc.fromVm;
    const bytes = bc.arena.readBytes(bc.B.load(bp, 'b_data'), bs);
    const sameData = bytes.every((x) => x === 0x5a);
    const deviceReads = reads() - before;
    // B_NOCACHE: the release destroys the backing store too.
    bc.b_flags.or(bp, B_NOCACHE);
    brelse(bc, bp);
    bp = getblk(bc, 1, 0, bs, 0);
    const afterNocache = (bc.b_flags.load(bp) & B_CACHE) !== 0;
    bc.b_flags.or(bp, B_INVAL);
    brelse(bc, bp);
    return { inmemAfterRelease, cached, fromVm, sameData, deviceReads, afterNocache };
  },
  'buftest:lowmem': (k: Kernel) => {
    Devices.of(k.sync, k.spec);
    const bc = BufCache.of(k.sync);
    const bs = bc.G.load(bc.g, 'bsize');
    const bp = getblk(bc, 1, 0, bs, 0);
    bc.b_flags.or(bp, B_CACHE);
    bqrelse(bc, bp);
    return { queue: BQUEUE_NAMES[bc.b_qindex.load(bp)], bufsize: bc.B.load(bp, 'b_bufsize'), lowmem: bc.vm!.Q.load(bc.vm!.q, 'vs_lowmem') };
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
