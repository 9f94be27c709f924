/**
 * Race scenarios of BootCache (src/bootcache), over a small oracle-checked memory disk served by
 * the race daemon "device"; the readahead thread (BC_reader_thread) is a harness part "reader".
 * Every iteration starts a fresh cache: the coordinator gives the device its strategy back and
 * runs BC_init_cache with the scenario's playlist (IOBUSY set; nobody waits on c_reader_go).
 *
 *  - `bc-history`: two callers record history entries concurrently into clusters of 2 entries.
 *    Catches bc-history-no-recheck (a cluster allocated meanwhile is lost: entries written !=
 *    entries read back by walking the list).
 *  - `bc-terminate`: the terminator runs BC_terminate_readahead while the reader reads one
 *    extent. Catches bc-terminate-no-interlock (lost wakeup on "BC_terminate_readahead" with
 *    IOBUSY already clear; EBUSY with no reader running).
 *  - `bc-teardown`: a caller reads an extent of the last batch while the terminator stops the
 *    readahead and tears the cache down. Catches bc-abort-no-wakeup (a "BC_strategy" sleeper
 *    whose extent is already CE_ABORTED).
 *  - `bc-write`: a caller consumes extent 1 by a hit while another writes over four adjacent
 *    extents and reads back the first and the last, racing the reader. Catches
 *    bc-write-discard-early-break and bc-write-trylock-skip (the device oracle: a cache hit
 *    returns data older than the device's).
 *  - `bc-drain`: a caller reads an extent while the terminator stops readahead and tears the
 *    cache down. Catches bc-drain-order (the drain misses a caller that tested CACHEACTIVE and
 *    found its extent before counting itself, and frees the extent under it: the caller touches
 *    a poisoned extent).
 *  - `bc-hitrate`: two callers miss after readahead until the hit-rate cutoff fires and the
 *    caller that sees it terminates the cache inline, as the seed does, after leaving
 *    c_strategycalls. Catches bc-inline-hitrate-terminate (terminating while still counted, the
 *    caller waits in BC_terminate_cache's drain for itself: a hang, c_strategycalls never drains).
 */
import type { Arena } from '../../shm/arena.js';
import { BootCache } from '../../bootcache/cache.js';
import { BootCacheControl } from '../../bootcache/control.js';
import {
  BCControlLayout,
  BCExtentLayout,
  BCHistClusterLayout,
  BC_CALLS_MASK,
  BC_FLAG_CACHEACTIVE,
  BC_FLAG_HTRUNCATED,
  BC_FLAG_IOBUSY,
  BC_FLAG_RECORDING,
  BC_HE_MISS,
  CE_ABORTED,
  CE_IODONE,
  PH_MAGIC,
  R_CALLERS,
  R_CLUSTERS,
  cflagsToString,
} from '../../bootcache/defs.js';
import type { Playlist } from '../../bootcache/playlist.js';
import { BC_reader_thread } from '../../bootcache/reader.js';
import { BC_terminate_cache, BC_terminate_readahead, runSync } from '../../bootcache/terminate.js';
import { resolveDevice } from '../../device/config.js';
import { Devices } from '../../device/disk.js';
import { Oracle } from '../../device/oracle.js';
import { setupRaw } from '../../device/rawio.js';
import { deviceWorker } from '../../device/worker.js';
import '../../../workers/bootcache.js'; // the planner, the initializer and the 'bootcache' strategy
import { registerPlanner, type Kernel, type MachineSpec } from '../../engine/spec.js';
import type { BootCacheSpec } from '../../bootcache/defs.js';
import { ContractError, EBUSY } from '../../sync/errno.js';
import { registerWakeCondition } from '../detect.js';
import { registerRaceScenario, type RaceDaemon } from '../scenario.js';

const BS = 512;
const KB = 1024;
const SLICE = 8 * KB;

// What BootCache's sleepers wait for (the lost-wakeup detector's knowledge).
const ctlWord = (arena: Arena, c: number, f: keyof typeof BCControlLayout.off) => arena.word().load(BCControlLayout.addrOf(c, f));
registerWakeCondition('BC_terminate_readahead', (arena, flags) => (arena.word().load(flags) & BC_FLAG_IOBUSY) === 0);
registerWakeCondition('BC_strategy', (arena, ce) => (arena.word().load(BCExtentLayout.addrOf(ce, 'ce_flags')) & (CE_ABORTED | CE_IODONE)) !== 0);
registerWakeCondition('BC_terminate_cache', (arena, c) => (ctlWord(arena, c, 'c_strategycalls') & BC_CALLS_MASK) === 0);
registerWakeCondition('BC_terminate_history', (arena, c) => (ctlWord(arena, c, 'c_bypasscalls') & BC_CALLS_MASK) === 0);
// A caller waiting for readahead to finish (on c_flags).
registerWakeCondition('BC_warm', (arena, flags) => (arena.word().load(flags) & BC_FLAG_IOBUSY) === 0);

const device: RaceDaemon = { name: 'device', run: (k, stop) => deviceWorker(Devices.of(k.sync, k.spec), 0, stop) };

/**
 * The readahead thread as a harness part (not the reader daemon): it runs BC_reader_thread for
 * the cache this iteration started, so every iteration ends with the reader out of the cache.
 */
function runReader(c: BcCtx): void {
  if (c.bc.cflags() & BC_FLAG_IOBUSY) BC_reader_thread(c.bc, c.dev, () => c.k.shuttingDown());
}

interface BcCtx {
  k: Kernel;
  bc: BootCache;
  dev: Devices;
  ctl: BootCacheControl;
  oracle: Oracle;
  /** This cpu's request buffer. */
  data: number;
  /** The coordinator's notes of the iteration (a part's result that check() reads). */
  result: number;
}

function attach(k: Kernel): BcCtx {
  const dev = Devices.of(k.sync, k.spec);
  const bc = BootCache.of(k.sync);
  bc.dev ??= dev;
  const ctl = new BootCacheControl({ arena: k.arena, sync: k.sync, spec: k.spec });
  return { k, bc, dev, ctl, oracle: dev.oracles[0]!, data: k.arena.region(R_CALLERS).offset + k.cpu * SLICE, result: 0 };
}

const spec = (hist = 665, extra: BootCacheSpec = {}) => () => ({
  devices: [{ name: 'bc0', blocks: 128, oracle: true }],
  npbuf: 8,
  bootcache: {
    maxExtents: 8,
    bufferBytes: 256 * KB,
    callerSliceBytes: SLICE,
    waitForReadaheadMs: 3000,
    // Sleep slices longer than the stress watchdog's grace (400 ms): a sleeper that was not
    // woken shows before its own timeout rescues it.
    strategySliceMs: 1000,
    terminateReadaheadMs: 1000,
    drainSliceMs: 1000,
    drainRetries: 3,
    chitCheckStart: 1_000_000, // no hit-rate cutoff (bc-hitrate turns it on)
    historyClusterEntries: hist,
    historyMaxClusters: 32,
    ...extra,
  },
});

/** Main thread: stamp the whole disk as version 1 for the oracle. */
function prepare(m: { arena: Kernel['arena']; spec: MachineSpec }): void {
  const d = m.spec.devices![0];
  new Oracle(m.arena, 0, resolveDevice(d, 0)).format(m.arena.region('dev.0.store').offset);
}

const playlist = (entries: [number, number, number][]): Playlist => ({
  ph_magic: PH_MAGIC,
  ph_blocksize: BS,
  entries: entries.map(([o, l, b]) => ({ pce_offset: o, pce_length: l, pce_batch: b })),
});

/**
 * Coordinator, between iterations (no other cpu in BootCache): uncover the device, check the
 * previous cache drained, clear the flags and start a fresh cache: BC_init_cache (the START
 * command's body, called directly: the command's async mutex cannot run inside a synchronous
 * reset) sets IOBUSY and takes the device over; the scenario's "reader" part does the readahead.
 */
function startCache(c: BcCtx, pl: Playlist): void {
  const { bc, dev } = c;
  const C = bc.C;
  const d = dev.disk(0);
  if (dev.D.load(d, 'd_strategy') === C.load(bc.c, 'c_self')) dev.D.store(d, 'd_strategy', C.load(bc.c, 'c_strategy'));
  const calls = C.load(bc.c, 'c_strategycalls');
  const bypass = C.load(bc.c, 'c_bypasscalls');
  // Neither a caller nor a drain's BC_DRAIN_WAITER may be left.
  if (calls !== 0 || bypass !== 0) throw new ContractError(`bootcache scenario: c_strategycalls ${calls} and c_bypasscalls ${bypass} (callers and drains) left after the iteration`);
  C.store(bc.c, 'c_flags', 0);
  (c.ctl as unknown as { BC_init_cache(p: Playlist): unknown }).BC_init_cache(pl);
}

/** Read or write through the covered device (BC_strategy); every read is checked by the oracle. */
function bcio(c: BcCtx, write: boolean, offset: number, length: number): void {
  const { dev, oracle } = c;
  const blk = offset / BS;
  const nblk = length / BS;
  if (write) oracle.stamp(c.data, blk, nblk, c.k.cpu);
  const floor = write ? null : oracle.snapshot(blk, nblk);
  const bp = dev.pbufs.getpbuf()!;
  let error: number;
  try {
    const bio2 = setupRaw(dev, bp, 0, write, blk, nblk, c.data);
    const bio1 = dev.io.setup_sync(bp);
    dev.dev_dstrategy(0, bio2);
    error = dev.io.biowait(bio1, null);
  } finally {
    dev.pbufs.relpbuf(bp);
  }
  if (error) throw new ContractError(`bootcache scenario: ${write ? 'write' : 'read'} of ${length} bytes at ${offset} failed with errno ${error}`);
  if (floor) {
    const bad = oracle.verify(c.data, blk, nblk, floor);
    if (bad.length > 0) throw new ContractError(`oracle: a read of ${length} bytes at ${offset} through BootCache returned wrong data: ${bad[0].message}`);
  }
}

// ------------------------------------------------------------------ bc-history

/** Entries reachable from c_history (what BC_copyout_history would return). */
function historyEntries(bc: BootCache): number {
  const H = bc.arena.view(BCHistClusterLayout);
  const pool = bc.arena.pool(R_CLUSTERS, BCHistClusterLayout);
  const max = bc.C.load(bc.c, 't_hist_maxclusters');
  let n = 0;
  let hops = 0;
  for (let k = bc.C.load(bc.c, 'c_history'); k !== 0; k = H.load(pool.addr(k - 1), 'hc_link')) {
    if (++hops > max) return -1;
    n += H.load(pool.addr(k - 1), 'hc_entries');
  }
  return n;
}

const HIST_PER_PART = 3;

registerRaceScenario<BcCtx>({
  name: 'bc-history',
  description: 'two callers record history entries at once into clusters of two entries',
  bugs: ['bc-history-no-recheck'],
  parts: ['a', 'b'],
  steps: 60,
  spec: spec(2),
  prepare,
  attach,
  reset(c) {
    const { bc } = c;
    bc.C.store(bc.c, 'c_history', 0);
    bc.C.store64(bc.c, 'c_history_bytes', 0);
    bc.S.store(bc.st, 'ss_history_clusters', 0);
    bc.C.store(bc.c, 'c_flags', BC_FLAG_RECORDING);
  },
  run(c, part, iter) {
    for (let i = 0; i < HIST_PER_PART; i++) c.bc.BC_add_history((iter * 16 + (part === 'a' ? 0 : 8) + i) * BS, BS, BC_HE_MISS);
  },
  check(c) {
    const { bc } = c;
    const f = bc.cflags();
    const want = 2 * HIST_PER_PART;
    const got = historyEntries(bc);
    if (f & BC_FLAG_HTRUNCATED) return `history truncated (${cflagsToString(f)}) after ${want} entries in ${bc.S.load(bc.st, 'ss_history_clusters')} clusters (limit ${bc.C.load(bc.c, 't_hist_maxclusters')})`;
    if (got !== want) return `history entries written (${want}) != entries read back (${got < 0 ? 'a cycle in the cluster list' : got}); ${bc.S.load(bc.st, 'ss_history_clusters')} clusters allocated`;
    return null;
  },
});

// ------------------------------------------------------------------ bc-terminate

registerRaceScenario<BcCtx>({
  name: 'bc-terminate',
  description: 'BC_terminate_readahead while the reader reads a one-extent playlist',
  bugs: ['bc-terminate-no-interlock'],
  parts: ['terminator', 'reader'],
  daemons: [device],
  steps: 80,
  spec: spec(),
  prepare,
  attach,
  reset(c) {
    startCache(c, playlist([[4 * KB, 2 * KB, 0]]));
  },
  run(c, part) {
    if (part === 'reader') return runReader(c);
    c.result = runSync(c.bc, BC_terminate_readahead(c.bc));
  },
  check(c) {
    const f = c.bc.cflags();
    if (c.result === EBUSY && !(f & BC_FLAG_IOBUSY)) return `BC_terminate_readahead returned EBUSY after its timeout although no reader was running (${cflagsToString(f)})`;
    if (c.result !== 0) return `BC_terminate_readahead returned ${c.result}`;
    return null;
  },
  outcome(c) {
    return `terminate ${c.result === 0 ? 'ok' : c.result}; extent ${c.bc.ceFlags(0) & CE_IODONE ? 'read' : 'aborted'}`;
  },
});

/** The terminator part: stop readahead, then tear the cache down (BC_terminate_cache's result kept for `check`). */
function terminateAll(c: BcCtx, scenario: string): void {
  const ra = runSync(c.bc, BC_terminate_readahead(c.bc));
  if (ra !== 0) throw new ContractError(`${scenario}: BC_terminate_readahead returned ${ra}`);
  c.result = runSync(c.bc, BC_terminate_cache(c.bc));
}

function terminatedCleanly(c: BcCtx): string | null {
  return c.result !== 0 ? `BC_terminate_cache returned ${c.result} (${c.bc.messages.at(-1) ?? ''})` : null;
}

// ------------------------------------------------------------------ bc-teardown

registerRaceScenario<BcCtx>({
  name: 'bc-teardown',
  description: 'a caller waits for an extent of the last batch while the terminator stops readahead and tears the cache down',
  bugs: ['bc-abort-no-wakeup'],
  parts: ['terminator', 'caller', 'reader'],
  daemons: [device],
  steps: 120,
  spec: spec(),
  prepare,
  attach,
  reset(c) {
    startCache(c, playlist([
      [0, 2 * KB, 0],
      [8 * KB, 2 * KB, 1],
    ]));
  },
  run(c, part) {
    if (part === 'reader') return runReader(c);
    if (part === 'caller') {
      bcio(c, false, 8 * KB, 1 * KB);
      return;
    }
    terminateAll(c, 'bc-teardown');
  },
  check: terminatedCleanly,
});

// ------------------------------------------------------------------ bc-write

registerRaceScenario<BcCtx>({
  name: 'bc-write',
  description: 'a write over four adjacent extents while another caller consumes one by a hit and the reader fills them',
  bugs: ['bc-write-discard-early-break', 'bc-write-trylock-skip'],
  parts: ['writer', 'hitter', 'reader'],
  daemons: [device],
  steps: 160,
  spec: spec(),
  prepare,
  attach,
  reset(c) {
    startCache(c, playlist([0, 1, 2, 3].map((i) => [i * KB, KB, 0] as [number, number, number])));
  },
  run(c, part) {
    if (part === 'reader') return runReader(c);
    if (part === 'hitter') {
      bcio(c, false, 1 * KB, 1 * KB);
      return;
    }
    bcio(c, true, 0, 4 * KB);
    bcio(c, false, 0, 1 * KB);
    bcio(c, false, 3 * KB, 1 * KB);
  },
});

// ------------------------------------------------------------------ bc-drain

registerRaceScenario<BcCtx>({
  name: 'bc-drain',
  description: 'a caller reads an extent while the terminator stops readahead and tears the cache down under it',
  bugs: ['bc-drain-order'],
  parts: ['terminator', 'caller', 'reader'],
  daemons: [device],
  steps: 100,
  spec: spec(),
  prepare,
  attach,
  reset(c) {
    startCache(c, playlist([[4 * KB, 2 * KB, 0]]));
  },
  run(c, part) {
    if (part === 'reader') return runReader(c);
    if (part === 'caller') {
      bcio(c, false, 4 * KB, 1 * KB);
      return;
    }
    terminateAll(c, 'bc-drain');
  },
  check: terminatedCleanly,
  outcome(c) {
    const st = c.bc.S;
    return `caller ${st.load(c.bc.st, 'ss_strategy_calls') === 0 ? 'bypassed an inactive cache' : c.bc.pcpu_sum('ss_hit_blocks') > 0 ? 'hit' : 'missed'}`;
  },
});

// ------------------------------------------------------------------ bc-hitrate

/** Misses per caller: 2 callers x 2 > chitCheckStart (2) lookups, none a hit. */
const HR_MISSES = 2;
const HR_CALLERS = 2;

/** Sleep until readahead is done ("BC_warm" on c_flags, interlocked). May sleep. */
function waitReadahead(c: BcCtx): void {
  const { bc } = c;
  const s = bc.sync;
  s.tsleep_until(bc.C.addrOf(bc.c, 'c_flags'), 'BC_warm', () => !(bc.cflags() & BC_FLAG_IOBUSY));
}

registerRaceScenario<BcCtx>({
  name: 'bc-hitrate',
  description: 'two callers miss after readahead until the hit-rate cutoff shuts the cache down',
  bugs: ['bc-inline-hitrate-terminate'],
  parts: ['a', 'b', 'reader'],
  daemons: [device],
  steps: 160,
  spec: spec(665, { chitCheckStart: HR_CALLERS * HR_MISSES - 2, chitLowLevel: 50 }),
  prepare,
  attach,
  reset(c) {
    startCache(c, playlist([[4 * KB, 2 * KB, 0]]));
  },
  run(c, part) {
    if (part === 'reader') return runReader(c);
    waitReadahead(c);
    // Reads outside the one extent: misses, each a lookup.
    for (let j = 0; j < HR_MISSES; j++) bcio(c, false, (16 + (part === 'a' ? 0 : 8) + 2 * j) * KB, 1 * KB);
  },
  check(c) {
    const f = c.bc.cflags();
    const lookups = c.bc.pcpu_sum('ss_extent_lookups');
    if (f & BC_FLAG_CACHEACTIVE) return `the cache is still active (${cflagsToString(f)}) after ${lookups} lookups without a hit: the hit-rate cutoff did not shut it down`;
    if (c.bc.C.load(c.bc.c, 'c_extent_count') !== 0) return `the cache is inactive but still owns ${c.bc.C.load(c.bc.c, 'c_extent_count')} extents: the cutoff's termination did not finish`;
    return null;
  },
  outcome(c) {
    return `cut after ${c.bc.pcpu_sum('ss_extent_lookups')} lookups`;
  },
});
