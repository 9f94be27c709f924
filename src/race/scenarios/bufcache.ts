/**
 * Race scenarios of the buffer cache (src/bufcache), over a small cache (16 headers, 4 KiB
 * buffers) on a memory disk with the data oracle:
 *
 *  - `getblk-recycle`: a lookup getblk's a cached block while another cpu getblk's the same block
 *    and invalidates it (brelse B_INVAL unhashes it). Catches vfs-getblk-no-recheck: the lookup
 *    returns a header that no longer holds (vnode, offset) — the identity check throws.
 *  - `bufcache-fsync`: a flusher bawrite's a dirty block (as the buf daemon does) while a syncer
 *    vfsync's the file and then checks the device oracle. Catches vfs-bundirty-at-submit (the
 *    fsync returns before the write is on the device) and vfs-runningbuf-leak (checkInvariants:
 *    vfs.runningbufspace ≠ Σ b_runningbufspace after the iteration).
 *  - `getnewbuf-wait`: every header is dirty; an allocator's getnewbuf sleeps on needsbuffer while
 *    a releaser frees one. Catches vfs-needsbuffer-no-interlock (lost wakeup on "newbuf").
 *  - `bufdaemon-kick`: two writers dirty blocks (every other one: no cluster runs) past the
 *    daemon's mark, kicking buf_daemon, and wait for it to drain them. Catches vfs-bufdaemon-no-interlock (lost wakeup on "psleep"
 *    with bd_request set).
 *  - `bdwait`: a waiter bd_wait's for one flushed buffer while a signaller writes one out.
 *    Catches vfs-bdwait-no-recheck (lost wakeup on "flstik": the wake index passed its slot).
 *  - `findblk-recycle`: every header but one is dirty; a lookup holding block 5 getblk's the clean
 *    block 0 while a recycler getblk's a new block (getnewbuf can only take block 0's header)
 *    and then block 5. Catches vfs-findblk-no-ref: without the lookup's reference getnewbuf
 *    recycles the header the lookup is locking — a wait-for cycle (deadlock) over two buffers.
 *  - `flushbufqueues`: a flusher runs one flushbufqueues pass over DIRTY (as buf_daemon does)
 *    over three dirty blocks that are not neighbours (each its own cluster) while a writer
 *    dirties another file. Catches vfs-flush-no-marker (a buffer that was dirty
 *    on the queue before the pass is neither written nor being written after it).
 *  - `cluster-wdrain`: a flusher cluster_awrite's the run of dirty blocks 0-1 while a writer that
 *    holds block 1 throttles in waitrunningbufspace. Catches vfs-runningbuf-lockholder: the run's
 *    running space is charged before block 1's lock is taken — a wait-for cycle through running
 *    space, with nothing in flight (the instant invariant runningbufCycle).
 *
 * The daemon "ticker" stands in for the clock: harness parts that sleep with a tick timeout
 * ("gnbxxx", "flstik", the writers' drain poll) are woken by it, and explore runs it only when no
 * other cpu can (after the lost-wakeup and deadlock checks), so it never hides a lost wakeup.
 */
import { BufCache } from '../../bufcache/core.js';
import { cluster_awrite } from '../../bufcache/cluster.js';
import { BUF_DAEMON, buf_daemon1, buf_daemon_limit, flushbufqueues } from '../../bufcache/daemon.js';
import { bmap, findblk, getblk } from '../../bufcache/getblk.js';
import { checkInvariants, runningbufCycle } from '../../bufcache/invariants.js';
import { bawrite, bdwrite, bqrelse, brelse } from '../../bufcache/io.js';
import { BufGlobalsLayout, type BufMachineSpec, VnodeLayout } from '../../bufcache/layout.js';
import { bd_wait, waitrunningbufspace } from '../../bufcache/space.js';
import { BD_WAKE_MASK, BD_WAKE_SIZE, BQUEUE_DIRTY, FINDBLK_TEST, VFS_BIO_NEED_ANY, VFS_BIO_NEED_BUFSPACE } from '../../bufcache/tunables.js';
import { vfsync } from '../../bufcache/vnode.js';
import { B_CACHE, B_DELWRI, B_INVAL } from '../../device/buf.js';
import { Devices } from '../../device/disk.js';
import { deviceWorker } from '../../device/worker.js';
import { registerPlanner, type Kernel, type MachineSpec } from '../../engine/spec.js';
import type { Arena } from '../../shm/arena.js';
import { defineStruct } from '../../shm/layout.js';
import { ContractError } from '../../sync/errno.js';
import { registerWakeCondition } from '../detect.js';
import { registerRaceScenario, type RaceDaemon } from '../scenario.js';

const BS = 4096;
const SCENARIOS = new Set(['getblk-recycle', 'bufcache-fsync', 'getnewbuf-wait', 'bufdaemon-kick', 'bdwait', 'flushbufqueues', 'findblk-recycle', 'cluster-wdrain']);
/** The bufcache's instrumentation points of the switches (interned per worker before use). */
const POINTS = ['bufcache:runningbuf_leak', 'bufcache:bdwait_window', 'bufcache:bundirty_at_submit', 'bufcache:needsbuffer_window', 'bufcache:bufdaemon_window', 'bufcache:flush_nomarker', 'bufcache:runningbuf_lockholder'];

/** The scenarios' own words: the ticker's channel, the writers' drain channel, the oracle versions expected on the device. */
export const RaceBcLayout = defineStruct(
  'race_bc',
  {
    rc_tick: { line: 'i32' },
    rc_drain: { line: 'i32' },
    rc_expect: { i32: 16, line: true },
    rc_out: { line: 'i32' },
  },
  { align: 64 },
);

registerPlanner('race.bufcache', (plan, spec) => {
  if (SCENARIOS.has(spec.race?.scenario ?? '')) plan.pool('race.bufcache', RaceBcLayout, 1);
});

// ---------------------------------------------------------------- what the sleepers wait for

function globals(arena: Arena): { G: ReturnType<Arena['view']>; g: number } {
  return { G: arena.view(BufGlobalsLayout), g: arena.pool('bufcache.globals', BufGlobalsLayout).addr(0) };
}
// getnewbuf's sleep on needsbuffer: its bit was cleared by bufcountwakeup / bufspacewakeup.
registerWakeCondition('newbuf', (arena, ch) => (arena.word().load(ch) & VFS_BIO_NEED_ANY) === 0);
registerWakeCondition('bufspc', (arena, ch) => (arena.word().load(ch) & VFS_BIO_NEED_BUFSPACE) === 0);
// buf_daemon's sleep on its request word: a kick set it.
registerWakeCondition('psleep', (arena, ch) => arena.word().load(ch) !== 0);
// bd_wait on slot mi of the wake ring: bd_wake_index went past the index the sleeper waits for.
registerWakeCondition('flstik', (arena, slot) => {
  const { G, g } = globals(arena);
  const mi = (slot - G.addrOf(g, 'bd_wake_ary')) >>> 2;
  const d = (G.load(g, 'bd_wake_index') - mi) & BD_WAKE_MASK;
  return d !== 0 && d < BD_WAKE_SIZE / 2;
});

// ---------------------------------------------------------------- context and daemons

interface BcCtx {
  k: Kernel;
  bc: BufCache;
  dev: Devices;
  base: number;
  V: ReturnType<Arena['view']>;
}

function attach(k: Kernel): BcCtx {
  const dev = Devices.of(k.sync, k.spec);
  const bc = BufCache.of(k.sync);
  for (const p of POINTS) k.sync.intern(p);
  return { k, bc, dev, base: k.arena.pool('race.bufcache', RaceBcLayout).addr(0), V: k.arena.view(RaceBcLayout) };
}

const device: RaceDaemon = {
  name: 'device',
  run: (k, stop) => {
    attach(k);
    return deviceWorker(Devices.of(k.sync, k.spec), 0, stop);
  },
};

const bufDaemon: RaceDaemon = {
  name: 'buf_daemon',
  run: (k, stop) => buf_daemon1(attach(k).bc, BUF_DAEMON, stop),
};

/**
 * The clock: every few ms it wakes the channels of the harness's tick-timed sleeps — always
 * bd_request (getnewbuf's "gnbxxx" back-off when it finds a free buffer still locked, and
 * buf_daemon's own timeout), plus the scenario's.
 */
function ticker(channels: (c: BcCtx) => number[] = () => [], stressPeriodMs = 600): RaceDaemon {
  return {
    name: 'ticker',
    run: (k, stop) => {
      const c = attach(k);
      const tick = c.V.addrOf(c.base, 'rc_tick');
      let ticks = 0;
      // Explore runs it only when nobody else can; in stress it must tick slower than the
      // watchdog's lost-wakeup grace period (400 ms) so that it never hides one.
      const period = k.spec.race?.mode === 'stress' ? stressPeriodMs : 5;
      while (!stop()) {
        k.sync.tsleep(tick, 0, 'bctick', period);
        k.sync.wakeup(c.bc.G.addrOf(c.bc.g, 'bd_request'));
        for (const ch of channels(c)) k.sync.wakeup(ch);
        ticks++;
      }
      return { ticks };
    },
  };
}

const spec = (sysctl: NonNullable<BufMachineSpec['bufcache']>['sysctl'] = {}, hzMs = 10) => (): Omit<Partial<MachineSpec>, 'ncpu' | 'race'> => ({
  devices: [{ name: 'md0', blocks: 2048, oracle: true }],
  bufcache: { nbuf: 16, files: 2, fileBlocks: 32, bsize: BS, hzMs, sysctl },
});

function invariants(c: BcCtx): string | null {
  const bad = checkInvariants(c.k.arena);
  return bad.length ? bad.slice(0, 3).join('; ') : null;
}

/** getblk of a block the part then treats as cached (no read is modelled: the content is not checked here). */
function getCached(c: BcCtx, vp: number, lbn: number): number {
  const bp = getblk(c.bc, vp, lbn * BS, BS, 0, 0);
  c.bc.b_flags.or(bp, B_CACHE);
  return bp;
}

/** Wait until the I/O of `bp` completed (the kernel released its lock). May sleep. */
function waitUnlocked(c: BcCtx, bp: number): void {
  c.bc.BUF_LOCK(bp);
  c.bc.BUF_UNLOCK(bp);
}

// ---------------------------------------------------------------- getblk-recycle

registerRaceScenario<BcCtx>({
  name: 'getblk-recycle',
  description: 'a getblk lookup races a getblk + brelse(B_INVAL) of the same block',
  bugs: ['vfs-getblk-no-recheck'],
  parts: ['lookup', 'invalidator'],
  daemons: [ticker()],
  steps: 80,
  spec: spec(),
  attach,
  lockOrder: false, // getnewbuf/flushbufqueues try-lock buffers under the queue spinlock (no deadlock: trylock)
  reset(c) {
    bqrelse(c.bc, getCached(c, 1, 0));
  },
  run(c, part) {
    const bc = c.bc;
    if (part === 'invalidator') {
      const bp = getblk(bc, 1, 0, BS, 0, 0);
      bc.b_flags.or(bp, B_INVAL);
      brelse(bc, bp);
      return;
    }
    const bp = getblk(bc, 1, 0, BS, 0, 0);
    const vp = bc.B.load(bp, 'b_vp');
    const off = bc.B.load(bp, 'b_loffset');
    if (vp !== 1 || off !== 0) {
      const what = bc.describe(bp);
      bc.b_flags.or(bp, B_INVAL);
      brelse(bc, bp);
      throw new ContractError(`getblk(vnode 1, offset 0) returned ${what}, which now holds vnode ${vp} offset ${off}: someone else's block`);
    }
    bc.b_flags.or(bp, B_CACHE);
    bqrelse(bc, bp);
  },
  check: invariants,
});

// ---------------------------------------------------------------- bufcache-fsync

registerRaceScenario<BcCtx>({
  name: 'bufcache-fsync',
  description: 'a flusher bawrites a dirty block while a syncer vfsyncs the file and checks the device',
  bugs: ['vfs-bundirty-at-submit', 'vfs-runningbuf-leak'],
  parts: ['flusher', 'syncer'],
  daemons: [device],
  steps: 120,
  spec: spec(),
  attach,
  lockOrder: false, // getnewbuf/flushbufqueues try-lock buffers under the queue spinlock (no deadlock: trylock)
  reset(c) {
    // A delayed write of a freshly stamped version of file 1's block 0.
    const bc = c.bc;
    const bp = getCached(c, 1, 0);
    const o = c.dev.oracles[0]!;
    const dbs = c.dev.conf[0].blockSize;
    const versions = o.stamp(bc.B.load(bp, 'b_data'), bmap(bc, 1, 0) / dbs, BS / dbs, c.k.cpu);
    versions.forEach((v, i) => c.V.storeAt(c.base, 'rc_expect', i, v));
    bdwrite(bc, bp);
  },
  run(c, part) {
    const bc = c.bc;
    if (part === 'flusher') {
      // What buf_daemon does with a dirty buffer: lock it, write it asynchronously.
      const bp = getblk(bc, 1, 0, BS, 0, 0);
      if (bc.b_flags.load(bp) & B_DELWRI) bawrite(bc, bp);
      else bqrelse(bc, bp);
      waitUnlocked(c, bp);
      return;
    }
    // vfsync(vnode 1): write every buffer on its dirty list, wait for the vnode's writes, then the oracle.
    vfsync(bc, 1, 0);
    // fsync returned: every write issued before it must be on the device.
    const o = c.dev.oracles[0]!;
    const dbs = c.dev.conf[0].blockSize;
    const blk = bmap(bc, 1, 0) / dbs;
    for (let i = 0; i < BS / dbs; i++) {
      const want = c.V.loadAt(c.base, 'rc_expect', i);
      const have = o.latestVersion(blk + i);
      if (have < want) {
        throw new ContractError(`fsync oracle: vfsync(vnode 1) returned, but device block ${blk + i} holds version ${have}; version ${want} was written before the fsync and is not on the device`);
      }
    }
    const bp = findblk(bc, 1, 0, FINDBLK_TEST);
    if (bp !== 0) waitUnlocked(c, bp);
  },
  check: invariants,
});

// ---------------------------------------------------------------- getnewbuf-wait

registerRaceScenario<BcCtx>({
  name: 'getnewbuf-wait',
  description: 'every header is dirty: getnewbuf sleeps for a buffer while another cpu frees one',
  bugs: ['vfs-needsbuffer-no-interlock'],
  parts: ['allocator', 'releaser'],
  // The ticker stands for the rest of the system releasing buffers now and then: without it, a
  // release between getnewbuf's scan and its setting needsbuffer (unsynchronized in the
  // reference too) would leave the allocator asleep for good in this tiny world.
  daemons: [
    ticker((c) => {
      c.bc.G.and(c.bc.g, 'needsbuffer', ~VFS_BIO_NEED_ANY);
      return [c.bc.G.addrOf(c.bc.g, 'needsbuffer')];
    }),
  ],
  steps: 150,
  spec: spec(),
  attach,
  lockOrder: false, // getnewbuf/flushbufqueues try-lock buffers under the queue spinlock (no deadlock: trylock)
  reset(c) {
    // Dirty every header (no daemon flushes them): getnewbuf finds nothing free.
    for (let i = 0; i < c.bc.nbuf; i++) {
      const bp = getCached(c, 1, i);
      bdwrite(c.bc, bp);
    }
  },
  run(c, part) {
    const bc = c.bc;
    const bp = part === 'allocator' ? getblk(bc, 2, 0, BS, 0, 0) : getblk(bc, 1, 0, BS, 0, 0);
    bc.b_flags.or(bp, B_INVAL);
    brelse(bc, bp);
  },
  check: invariants,
});

// ---------------------------------------------------------------- bufdaemon-kick

/** The writers' drain condition: buf_daemon is below its mark and no write is in flight. */
function drained(c: BcCtx): boolean {
  const bc = c.bc;
  return !buf_daemon_limit(bc, Math.trunc(bc.gl('lodirtybufspace') / 2)) && bc.gl('runningbufcount') === 0;
}

registerRaceScenario<BcCtx>({
  name: 'bufdaemon-kick',
  description: 'two writers dirty blocks past the mark, kicking buf_daemon, and wait for it to drain them',
  bugs: ['vfs-bufdaemon-no-interlock'],
  parts: ['writer0', 'writer1'],
  daemons: [ticker((c) => [c.V.addrOf(c.base, 'rc_drain')]), device, bufDaemon],
  steps: 400,
  // Each dirty header counts 64 KiB of KVA: the 5th dirty buffer kicks the daemon, which flushes
  // while more than 2 are dirty.
  spec: spec({ lodirtybufspace: 4 * 65536, hidirtybufspace: 5 * 65536 }),
  attach,
  lockOrder: false, // getnewbuf/flushbufqueues try-lock buffers under the queue spinlock (no deadlock: trylock)
  run(c, part) {
    const bc = c.bc;
    const vp = part === 'writer0' ? 1 : 2;
    // Every other block: flushbufqueues' cluster_awrite writes each one alone (no dirty run).
    for (let i = 0; i < 6; i++) bdwrite(bc, getCached(c, vp, 2 * i));
    const ch = c.V.addrOf(c.base, 'rc_drain');
    while (!drained(c)) {
      if (c.k.shuttingDown()) return;
      c.k.sync.tsleep(ch, 0, 'bcdrain', 5); // polled: the ticker wakes it
    }
  },
});

// ---------------------------------------------------------------- bdwait

registerRaceScenario<BcCtx>({
  name: 'bdwait',
  description: 'a waiter bd_waits for one flushed buffer while a signaller writes it out',
  bugs: ['vfs-bdwait-no-recheck'],
  parts: ['waiter', 'signaller'],
  daemons: [
    ticker((c) => {
      const G = c.bc.G;
      const g = c.bc.g;
      const j = G.load(g, 'bd_wake_index');
      const out: number[] = [];
      for (let d = -2; d <= 2; d++) out.push(G.addrOf(g, 'bd_wake_ary') + ((j + d) & BD_WAKE_MASK) * 4);
      return out;
    }),
    device,
  ],
  steps: 150,
  // hidirtybufspace high: once signalled, bd_wait is done. A one-second tick ("flstik" times out
  // after hz) lets the stress watchdog see a lost wakeup outlast its grace period.
  spec: spec({ hidirtybufspace: 64 * 65536 }, 1000),
  attach,
  lockOrder: false, // getnewbuf/flushbufqueues try-lock buffers under the queue spinlock (no deadlock: trylock)
  reset(c) {
    bdwrite(c.bc, getCached(c, 1, 0));
  },
  run(c, part) {
    const bc = c.bc;
    if (part === 'waiter') {
      bd_wait(bc, 1);
      return;
    }
    const bp = getblk(bc, 1, 0, BS, 0, 0);
    if (bc.b_flags.load(bp) & B_DELWRI) bawrite(bc, bp);
    else bqrelse(bc, bp);
    waitUnlocked(c, bp);
  },
  check: invariants,
});

// ---------------------------------------------------------------- flushbufqueues

registerRaceScenario<BcCtx>({
  name: 'flushbufqueues',
  description: 'a flushbufqueues pass over DIRTY while a writer dirties another file',
  bugs: ['vfs-flush-no-marker'],
  parts: ['flusher', 'writer'],
  daemons: [ticker(), device],
  steps: 200,
  spec: spec(),
  attach,
  lockOrder: false,
  reset(c) {
    // Every other block, so that each is its own cluster and the walk visits all three.
    for (let i = 0; i < 3; i++) bdwrite(c.bc, getCached(c, 1, 2 * i));
  },
  run(c, part) {
    const bc = c.bc;
    if (part === 'writer') {
      bdwrite(bc, getCached(c, 2, 0));
      return;
    }
    flushbufqueues(bc, bc.buf(bc.nbuf), BQUEUE_DIRTY);
    // Every buffer that was dirty on the queue before the pass is written or being written now.
    const skipped: string[] = [];
    for (let i = 0; i < 3; i++) {
      const bp = findblk(bc, 1, 2 * i * BS, FINDBLK_TEST);
      if (bp !== 0 && bc.b_flags.load(bp) & B_DELWRI && !bc.BUF_LOCKINUSE(bp) && onQueue(bc, bp, BQUEUE_DIRTY)) skipped.push(`vnode 1 block ${2 * i} (${bc.describe(bp)})`);
    }
    for (const vp of [1, 2]) bc.io.bio_track_wait(VnodeLayout.addrOf(bc.vnode(vp), 'v_track_write'), 0);
    for (let n = 0; n < bc.nbuf; n++) waitUnlocked(c, bc.buf(n));
    if (skipped.length) throw new ContractError(`flushbufqueues skipped dirty buffers it should have written: ${skipped.join(', ')}`);
  },
  check: invariants,
});

// ---------------------------------------------------------------- findblk-recycle

registerRaceScenario<BcCtx>({
  name: 'findblk-recycle',
  description: 'a lookup holding one buffer getblks the only clean block while a recycler needs a new buffer',
  bugs: ['vfs-findblk-no-ref'],
  parts: ['lookup', 'recycler'],
  // This switch shows as a deadlock, not a lost wakeup: the ticker may run fast under stress.
  daemons: [
    ticker((c) => {
      c.bc.G.and(c.bc.g, 'needsbuffer', ~VFS_BIO_NEED_ANY);
      return [c.bc.G.addrOf(c.bc.g, 'needsbuffer')];
    }, 20),
  ],
  steps: 200,
  spec: spec(),
  attach,
  lockOrder: false,
  reset(c) {
    const bc = c.bc;
    // The recycler's block goes; block 0 is the one clean header, every other one is dirty.
    const old = findblk(bc, 2, 0, FINDBLK_TEST);
    if (old !== 0) {
      bc.BUF_LOCK(old);
      bc.bremfree(old);
      bc.b_flags.or(old, B_INVAL);
      brelse(bc, old);
    }
    bqrelse(bc, getCached(c, 1, 0));
    for (let i = 1; i < bc.nbuf; i++) bdwrite(bc, getCached(c, 1, i));
  },
  run(c, part) {
    const bc = c.bc;
    const first = part === 'lookup' ? getCached(c, 1, 5) : getblk(bc, 2, 0, BS, 0, 0);
    // The lookup gives up on block 0 when the recycler got there first and no header is free
    // (it holds block 5, which the recycler waits for: waiting for a buffer would be a resource
    // deadlock of this tiny cache, which has no buf daemon). The timeout is long: a lock wait
    // in the cycle the switch causes outlasts the stress watchdog.
    const second = part === 'lookup' ? getblk(bc, 1, 0, BS, 0, 2000) : getCached(c, 1, 5);
    for (const [bp, vp, lbn] of [[first, part === 'lookup' ? 1 : 2, part === 'lookup' ? 5 : 0], [second, 1, part === 'lookup' ? 0 : 5]]) {
      if (bp !== 0 && (bc.B.load(bp, 'b_vp') !== vp || bc.B.load(bp, 'b_loffset') !== lbn * BS)) throw new ContractError(`getblk(vnode ${vp}, block ${lbn}) returned ${bc.describe(bp)} of another block`);
    }
    bc.b_flags.or(first, B_CACHE);
    if (second !== 0) bc.b_flags.or(second, B_CACHE);
    if (part === 'lookup') {
      if (second !== 0) bqrelse(bc, second);
      bdwrite(bc, first);
    } else {
      bdwrite(bc, second);
      bqrelse(bc, first);
    }
  },
  check: invariants,
});

// ---------------------------------------------------------------- cluster-wdrain

registerRaceScenario<BcCtx>({
  name: 'cluster-wdrain',
  description: 'a flusher cluster-writes blocks 0-1 while a writer holding block 1 waits in waitrunningbufspace',
  bugs: ['vfs-runningbuf-lockholder'],
  parts: ['flusher', 'writer'],
  // The ticker stands for waitrunningbufspace's one-tick timeout, which explore never lets a
  // harness sleep reach: with no write in flight it clears the sleeper's stale runningbufreq.
  daemons: [
    ticker((c) => {
      const G = c.bc.G;
      if (G.load(c.bc.g, 'runningbufcount') === 0) G.store(c.bc.g, 'runningbufreq', 0);
      return [G.addrOf(c.bc.g, 'runningbufreq')];
    }),
    device,
  ],
  steps: 120,
  // One 4 KiB write in flight is past the throttle's mark (4/6 of hirunningspace).
  spec: spec({ hirunningspace: BS }),
  attach,
  lockOrder: false,
  reset(c) {
    bdwrite(c.bc, getCached(c, 1, 0));
    bdwrite(c.bc, getCached(c, 1, 1));
  },
  run(c, part) {
    const bc = c.bc;
    if (part === 'writer') {
      // A writer holding block 1 throttles on writes in flight before it dirties it again, as
      // FreeBSD's bufwrite does ("we are blocking waiting for I/O that is already in-progress").
      const bp = getCached(c, 1, 1);
      c.V.store(c.base, 'rc_out', bc.b_flags.load(bp) & B_DELWRI ? 1 : 2);
      waitrunningbufspace(bc);
      bdwrite(bc, bp);
      return;
    }
    // What a flush does with a dirty buffer: lock it and write the run it starts.
    const bp = getblk(bc, 1, 0, BS, 0, 0);
    if (bc.b_flags.load(bp) & B_DELWRI) cluster_awrite(bc, bp, 2);
    else bqrelse(bc, bp);
    for (const off of [0, BS]) {
      const b = findblk(bc, 1, off, FINDBLK_TEST);
      if (b !== 0) waitUnlocked(c, b); // its write (if any) completed
    }
  },
  check: invariants,
  invariant: runningbufCycle,
  outcome: (c) => (c.V.load(c.base, 'rc_out') === 1 ? 'the writer took block 1 first' : 'the run took block 1 first'),
});

/** Is `bp` on queue `q`? Read under its queue set's spinlock (a completion may requeue it meanwhile). */
function onQueue(bc: BufCache, bp: number, q: number): boolean {
  const spin = bc.spinOf(bc.b_qcpu.get(bp));
  bc.sync.spin_lock(spin);
  const on = bc.b_qindex.get(bp) === q;
  bc.sync.spin_unlock(spin);
  return on;
}
