/**
 * Race scenarios of the bio layer (src/device/bio.ts), over a memory disk served by a device
 * worker (the race daemon "device"):
 *
 *  - `biowait`: two callers each issue synchronous reads and writes through pbufs and biowait
 *    for them while the device completes them with biodone_sync. Catches
 *    vfs-biowait-no-interlock (lost wakeup: a sleeper on "biord"/"biowr" whose BIO_DONE is set)
 *    and vfs-biodone-early-done (biowait sees BIO_DONE while b_cmd is not DONE).
 *  - `bio-track`: a tracker issues asynchronous writes holding references on a bio_track and
 *    waits for zero (bio_track_wait) while a plain caller reads through the same pbuf pool.
 *    Catches vfs-bio-track-double-release (a reused pbuf's stale bio_track is released again:
 *    "bio_track_rel: bad count", or the track reaches zero with writes in flight).
 */
import type { Arena } from '../../shm/arena.js';
import { BIO_DONE, registerBioDone } from '../../device/bio.js';
import { b_bio1 } from '../../device/buf.js';
import { Devices } from '../../device/disk.js';
import { rawSync, setupRaw } from '../../device/rawio.js';
import { deviceWorker } from '../../device/worker.js';
import { registerPlanner, type Kernel } from '../../engine/spec.js';
import { defineStruct } from '../../shm/layout.js';
import { BioLayout } from '../../device/buf.js';
import { ContractError } from '../../sync/errno.js';
import { PINTERLOCKED } from '../../sync/sync.js';
import { registerWakeCondition } from '../detect.js';
import { registerRaceScenario, type RaceDaemon } from '../scenario.js';

const SLICE = 8192;
const BLOCKS = 256;

export const RaceBioLayout = defineStruct(
  'race_bio',
  {
    rb_track: { line: 'i32' },
    rb_done: { line: 'i32' },
    rb_issued: 'i32',
  },
  { align: 64 },
);

registerPlanner('race.bio', (plan, spec) => {
  const sc = spec.race?.scenario;
  if (sc !== 'biowait' && sc !== 'bio-track') return;
  plan.pool('race.bio', RaceBioLayout, 1);
  plan.bytes('race.bio.pages', SLICE * spec.ncpu, 4096);
});

// What the bio layer's sleepers wait for: the lost-wakeup detector's knowledge.
const bioDone = (arena: Arena, bio: number) => (arena.word().load(BioLayout.addrOf(bio, 'bio_flags')) & BIO_DONE) !== 0;
registerWakeCondition(['biord', 'biowr'], bioDone);
registerWakeCondition('trwait', (arena, track) => (arena.word().load(track) & 0x7fffffff) === 0);
registerWakeCondition('pbufwait', (arena, nfree) => arena.word().load(nfree) > 0);
registerWakeCondition('racedone', (arena, done) => arena.word().load(done) >= arena.word().load(done + 4));

const device: RaceDaemon = { name: 'device', run: (k, stop) => deviceWorker(Devices.of(k.sync, k.spec), 0, stop) };

interface BioCtx {
  k: Kernel;
  dev: Devices;
  base: number;
  V: ReturnType<Kernel['arena']['view']>;
  data: number;
}

function attach(k: Kernel): BioCtx {
  const dev = Devices.of(k.sync, k.spec);
  return {
    k,
    dev,
    base: k.arena.pool('race.bio', RaceBioLayout).addr(0),
    V: k.arena.view(RaceBioLayout),
    data: k.arena.region('race.bio.pages').offset + k.cpu * SLICE,
  };
}

const devSpec = (npbuf: number) => () => ({ devices: [{ name: 'md0', blocks: BLOCKS }], npbuf });

registerRaceScenario<BioCtx>({
  name: 'biowait',
  description: 'two callers biowait on synchronous I/O that the device completes with biodone_sync',
  bugs: ['vfs-biowait-no-interlock', 'vfs-biodone-early-done'],
  parts: ['reader', 'writer'],
  daemons: [device],
  steps: 120,
  spec: devSpec(8),
  attach,
  run(c, part, iter) {
    const write = part === 'writer';
    for (let op = 0; op < 2; op++) {
      const blk = (iter * 7 + op * 3 + (write ? 128 : 0)) % BLOCKS;
      const r = rawSync(c.dev, 0, write, blk, 1, c.data);
      if (r.error) throw new ContractError(`biowait scenario: ${write ? 'write' : 'read'} of block ${blk} failed with errno ${r.error}`);
    }
  },
});

// bio-track: the tracker's asynchronous writes complete here (on the device worker).
registerBioDone('race.track_done', (io, bio) => {
  const dev = io.ext.get('devices') as Devices;
  const bp = io.O.load(bio, 'bio_buf');
  io.B.store(bp, 'b_cmd', 0);
  dev.pbufs.relpbuf(bp);
  const base = dev.arena.pool('race.bio', RaceBioLayout).addr(0);
  const V = dev.arena.view(RaceBioLayout);
  V.add(base, 'rb_done', 1);
  io.sync.wakeup(V.addrOf(base, 'rb_done'));
});

registerRaceScenario<BioCtx>({
  name: 'bio-track',
  description: 'a tracker waits for its tracked async writes while a plain caller reuses the pbufs',
  bugs: ['vfs-bio-track-double-release'],
  parts: ['tracker', 'plain'],
  daemons: [device],
  steps: 120,
  spec: devSpec(3),
  attach,
  reset(c) {
    c.V.store(c.base, 'rb_done', 0);
    c.V.store(c.base, 'rb_issued', 0);
  },
  run(c, part, iter) {
    const { dev, V, base } = c;
    const io = dev.io;
    const s = c.k.sync;
    if (part === 'plain') {
      const r = rawSync(dev, 0, false, (iter * 5) % BLOCKS, 1, c.data);
      if (r.error) throw new ContractError(`bio-track scenario: plain read failed with errno ${r.error}`);
      return;
    }
    const track = V.addrOf(base, 'rb_track');
    const n = 2;
    for (let i = 0; i < n; i++) {
      const bp = dev.pbufs.getpbuf()!;
      const bio2 = setupRaw(dev, bp, 0, true, (iter * 3 + i) % BLOCKS, 1, c.data);
      io.set_done(b_bio1(bp), 'race.track_done');
      io.bio_track_ref(track);
      io.O.store(bio2, 'bio_track', track);
      V.add(base, 'rb_issued', 1);
      dev.dev_dstrategy(0, bio2);
    }
    io.bio_track_wait(track, 0);
    // The track reached zero: every tracked write must have released its reference by now.
    const done = V.addrOf(base, 'rb_done');
    const inflight = dev.D.load(dev.disk(0), 'd_inflight') + dev.D.load(dev.disk(0), 'd_qlen');
    void inflight;
    for (;;) {
      if (V.load(base, 'rb_done') >= n) break;
      s.tsleep_interlock(done);
      if (V.load(base, 'rb_done') >= n) {
        s.tsleep_remove();
        break;
      }
      s.tsleep(done, PINTERLOCKED, 'racedone', 0);
    }
  },
  invariant(arena) {
    // bio_track's count (bits 0-30) never goes negative; bit 30 set means it wrapped below zero.
    const V = arena.view(RaceBioLayout);
    const active = V.load(arena.pool('race.bio', RaceBioLayout).addr(0), 'rb_track');
    return active & 0x40000000 ? `bio_track count underflowed (word 0x${(active >>> 0).toString(16)}): released more than referenced` : null;
  },
  check(c) {
    const active = c.V.load(c.base, 'rb_track');
    if (active !== 0) return `bio_track count is ${active} after every tracked write completed (expected 0)`;
    return null;
  },
});
