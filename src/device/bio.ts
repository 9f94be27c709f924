/**
 * The bio layer: biowait / biodone / biodone_sync / bpdone, bio chains, bio_track reference
 * counts, and nested I/O (nestiobuf), following DragonFly's vfs_bio.c.
 *
 * Completion callbacks cannot be function pointers in shared memory, so `bio_done` and a
 * buffer's completion ops (`b_ops`) hold interned names; each worker resolves a name to the
 * function its own modules registered (`registerBioDone`, `registerBufOps`). Every worker loads
 * the same modules, so a completion can run on any cpu — usually a device worker.
 */
import type { Arena } from '../shm/arena.js';
import { defineStruct } from '../shm/layout.js';
import type { Field, StructView } from '../shm/view.js';
import { ContractError, EIO } from '../sync/errno.js';
import { PINTERLOCKED, PIOWAIT, type Sync } from '../sync/sync.js';
import { bugs } from '../sync/switches.js'; // race lab bug switches (all off: the correct code runs)
import {
  BIO_DONE,
  BIO_SYNC,
  BIO_WANT,
  BUF_CMD_DONE,
  BUF_CMD_NAMES,
  BUF_CMD_READ,
  B_EINTR,
  B_ERROR,
  BioLayout,
  type BioField,
  IoBufLayout,
  type BufIoField,
  NBUF_BIO,
  NOOFFSET,
  b_bio1,
} from './buf.js';

/** A bio_track: count of I/Os in flight, bit 31 = someone waits for zero. */
export const BioTrackLayout = defineStruct('bio_track', { bk_active: { line: 'i32' } }, { align: 64 });
const BK_WANT = 0x80000000 | 0;
const BK_COUNT = 0x7fffffff;

export type BioDoneFn = (io: BioLayer, bio: number) => void;
export interface BufOps {
  /** Finish the buffer once its bio chain is exhausted (the owner's bpdone). */
  bpdone(io: BioLayer, bp: number, elseit: boolean): void;
  /** Return the buffer's running space (biodone calls it first). */
  runningbufwakeup?(io: BioLayer, bp: number): void;
}

const bioDoneFns = new Map<string, BioDoneFn>();
const bufOpsTable = new Map<string, BufOps>();

/** Register a bio_done callback under `name` (at module load, in every worker). */
export function registerBioDone(name: string, fn: BioDoneFn): void {
  bioDoneFns.set(name, fn);
}

/** Register a buffer owner's completion ops under `name`. */
export function registerBufOps(name: string, ops: BufOps): void {
  bufOpsTable.set(name, ops);
}

const attached = new WeakMap<Sync, BioLayer>();

/** A bio offset from its lo/hi words (both -1: NOOFFSET). */
function decodeOffset(lo: number, hi: number): number {
  return hi === -1 && lo === -1 ? NOOFFSET : (lo >>> 0) + hi * 4294967296;
}
/** The lo word of offset `off` (decodeOffset's inverse). */
const offsetLo = (off: number): number => (off === NOOFFSET ? -1 : off >>> 0);
/** The hi word of offset `off`. */
const offsetHi = (off: number): number => (off === NOOFFSET ? -1 : Math.floor(off / 4294967296));

export class BioLayer {
  readonly B: StructView<BufIoField>;
  readonly O: StructView<BioField>;
  /** Per-worker contexts of subsystems, for callbacks that need them (`io.ext.get('bufcache')`). */
  readonly ext = new Map<string, unknown>();
  /** Callbacks and ops by name id (ids are small: the machine's name table). */
  private readonly nameFns: (BioDoneFn | undefined)[] = [];
  private readonly nameOps: (BufOps | undefined)[] = [];
  private readonly bio_flags: Field;
  private readonly bio_offset_lo: Field;
  private readonly bio_offset_hi: Field;
  // Fields of the request path, bound once (a view's load by name costs a keyed lookup each).
  private readonly bio_buf: Field;
  private readonly bio_prev: Field;
  private readonly bio_next: Field;
  private readonly bio_done: Field;
  private readonly bio_track: Field;
  private readonly b_cmd: Field;
  private readonly b_ops: Field;
  private readonly b_flags: Field;
  private readonly b_error: Field;
  private readonly bk_active: Field;
  /** The buffer's I/O fields, bound once, for request set-up on hot paths (setupRaw). */
  readonly bf: Readonly<Record<'b_cmd' | 'b_data' | 'b_bcount' | 'b_bufsize' | 'b_resid' | 'b_error' | 'b_flags' | 'b_dev' | 'b_ops', Field>>;
  readonly biodoneSyncId: number;

  /** The bio layer of this worker (one per Sync). */
  static of(sync: Sync): BioLayer {
    let io = attached.get(sync);
    if (!io) {
      io = new BioLayer(sync.arena, sync);
      attached.set(sync, io);
    }
    return io;
  }

  private constructor(
    readonly arena: Arena,
    readonly sync: Sync,
  ) {
    this.B = arena.view(IoBufLayout) as StructView<BufIoField>;
    this.O = arena.view(BioLayout);
    this.bio_flags = this.O.field('bio_flags');
    this.bio_offset_lo = this.O.field('bio_offset_lo');
    this.bio_offset_hi = this.O.field('bio_offset_hi');
    this.bio_buf = this.O.field('bio_buf');
    this.bio_prev = this.O.field('bio_prev');
    this.bio_next = this.O.field('bio_next');
    this.bio_done = this.O.field('bio_done');
    this.bio_track = this.O.field('bio_track');
    this.b_cmd = this.B.field('b_cmd');
    this.b_ops = this.B.field('b_ops');
    this.b_flags = this.B.field('b_flags');
    this.b_error = this.B.field('b_error');
    const B = this.B;
    this.bf = { b_cmd: this.b_cmd, b_data: B.field('b_data'), b_bcount: B.field('b_bcount'), b_bufsize: B.field('b_bufsize'), b_resid: B.field('b_resid'), b_error: this.b_error, b_flags: this.b_flags, b_dev: B.field('b_dev'), b_ops: this.b_ops };
    this.bk_active = arena.view(BioTrackLayout).field('bk_active');
    this.biodoneSyncId = sync.intern('biodone_sync');
  }

  /** Name id for a callback or ops name (interned once per worker). */
  nameId(name: string): number {
    return this.sync.intern(name);
  }

  private doneFn(id: number): BioDoneFn {
    let f = this.nameFns[id];
    if (!f) {
      const name = this.sync.nameOf(id);
      f = bioDoneFns.get(name);
      if (!f) throw new ContractError(`biodone: no bio_done callback named "${name}" is registered in this worker`);
      this.nameFns[id] = f;
    }
    return f;
  }

  private ops(id: number): BufOps {
    let o = this.nameOps[id];
    if (!o) {
      const name = this.sync.nameOf(id);
      o = bufOpsTable.get(name);
      if (!o) throw new ContractError(`bpdone: no buffer ops named "${name}" are registered in this worker`);
      this.nameOps[id] = o;
    }
    return o;
  }

  // ------------------------------------------------------------- buffers and chains

  /** Set up the bio chain of a new buffer and its lock (the caller initializes the lock). */
  initbufbio(bp: number): void {
    const O = this.O;
    const bios = this.bios(bp);
    bios.forEach((bio, i) => {
      O.store(bio, 'bio_buf', bp);
      O.store(bio, 'bio_prev', i > 0 ? bios[i - 1] : 0);
      O.store(bio, 'bio_next', i === 0 ? bios[1] : 0);
      this.set_offset(bio, NOOFFSET);
      O.store(bio, 'bio_done', 0);
      O.store(bio, 'bio_flags', 0);
      O.store(bio, 'bio_track', 0);
    });
  }

  /** Forget cached translations and callbacks along the chain. */
  reinitbufbio(bp: number): void {
    for (let bio = b_bio1(bp); bio !== 0; bio = this.bio_next.load(bio)) {
      this.bio_done.store(bio, 0);
      this.set_offset(bio, NOOFFSET);
    }
  }

  /** Addresses of the NBUF_BIO bios embedded in `bp`. */
  bios(bp: number): number[] {
    const b1 = b_bio1(bp);
    return Array.from({ length: NBUF_BIO }, (_, i) => b1 + i * BioLayout.bytes);
  }

  /**
   * The next layer's bio, created if needed (push_bio). The issuer owns the buffer (locked, or a
   * pbuf it took) and nobody looks at its bios until the strategy call publishes them (the device
   * queue's spinlock, or this very thread for a cache hit): plain accesses.
   */
  push_bio(bio: number): number {
    let nbio = this.bio_next.get(bio);
    if (nbio === 0) {
      const bp = this.bio_buf.get(bio);
      const index = (bio - b_bio1(bp)) / BioLayout.bytes;
      if (index >= NBUF_BIO - 1) throw new ContractError(`push_bio: too many layers (${index + 1}) for buffer ${bp}`);
      nbio = bio + BioLayout.bytes;
      this.bio_next.set(bio, nbio);
      this.bio_prev.set(nbio, bio);
      this.bio_buf.set(nbio, bp);
      this.set_offset_own(nbio, NOOFFSET);
      this.bio_done.set(nbio, 0);
      this.bio_next.set(nbio, 0);
    }
    if (this.bio_done.get(nbio) !== 0) throw new ContractError(`push_bio: bio ${nbio} still has a bio_done callback`);
    return nbio;
  }

  pop_bio(bio: number): number {
    return this.bio_prev.load(bio);
  }

  offset(bio: number): number {
    return decodeOffset(this.bio_offset_lo.load(bio), this.bio_offset_hi.load(bio));
  }

  /** offset() of a bio this thread set up (or was handed by an atomic hand-off): plain reads. */
  offset_own(bio: number): number {
    return decodeOffset(this.bio_offset_lo.get(bio), this.bio_offset_hi.get(bio));
  }

  /** set_offset() of a bio this thread owns and has not published yet (push_bio's rule): plain writes. */
  set_offset_own(bio: number, off: number): void {
    this.bio_offset_lo.set(bio, offsetLo(off));
    this.bio_offset_hi.set(bio, offsetHi(off));
  }

  set_offset(bio: number, off: number): void {
    this.bio_offset_lo.store(bio, offsetLo(off));
    this.bio_offset_hi.store(bio, offsetHi(off));
  }

  /** Set the bio's completion callback by name ('' clears it). */
  set_done(bio: number, name: string): void {
    this.bio_done.store(bio, name ? this.nameId(name) : 0);
  }

  // ------------------------------------------------------------- waiting

  /**
   * Wait for the I/O on b_bio1 to complete; returns 0, the buffer's error (EIO when none is
   * recorded), EINTR, or EWOULDBLOCK when `timeoutMs` ran out (the I/O may still be in flight).
   * The buffer stays locked. May sleep.
   */
  biowait(bio: number, wmesg: string | null, timeoutMs = 0): number {
    const bp = this.bio_buf.get(bio); // set when the buffer was made
    if (bio !== b_bio1(bp)) this.notBio1('biowait', bio, bp);
    const F = this.bio_flags;
    // Done already (a cache hit completes in the caller's own strategy call): no sleep. The
    // sleeping loop is a function of its own, which keeps this one small enough for V8 to inline.
    if ((F.load(bio) & BIO_DONE) === 0) {
      const error = this.biowait_sleep(bio, bp, wmesg, timeoutMs);
      if (error) return error;
    }
    // BIO_DONE was read atomically: what the completer wrote before its CAS (b_cmd, b_flags,
    // b_error, b_resid) is visible, and nobody else writes the words now, so plain accesses.
    const cmd = this.b_cmd.get(bp);
    if (cmd !== BUF_CMD_DONE) this.doneButBusy(bp, cmd);
    F.set(bio, F.get(bio) & ~(BIO_DONE | BIO_SYNC));
    const bflags = this.b_flags.get(bp);
    if (bflags & B_EINTR) return 4; // EINTR
    if (bflags & B_ERROR) return this.b_error.get(bp) || EIO;
    return 0;
  }

  private notBio1(fn: string, bio: number, bp: number): never {
    throw new ContractError(`${fn}: bio ${bio} is not b_bio1 of buffer ${bp}`);
  }

  private doneButBusy(bp: number, cmd: number): never {
    throw new ContractError(`biowait: buffer ${bp} saw BIO_DONE but b_cmd is ${BUF_CMD_NAMES[cmd] ?? cmd}, not DONE`);
  }

  /** biowait's sleep until BIO_DONE: 0 once it is set, else the sleep's error. */
  private biowait_sleep(bio: number, bp: number, wmesg: string | null, timeoutMs: number): number {
    const s = this.sync;
    const F = this.bio_flags;
    for (;;) {
      const flags = F.load(bio);
      if (flags & BIO_DONE) return 0;
      if (bugs.any && bugs.enabled('vfs-biowait-no-interlock')) {
        // RACE SWITCH vfs-biowait-no-interlock (historical variant, off by default): BIO_WANT is
        // set after the check, not by CAS on the word just read, and the sleep is not
        // interlocked, so a biodone_sync in between finds no want or no sleeper: lost wakeup.
        F.or(bio, BIO_WANT);
        const error = s.tsleep(bio, PIOWAIT, wmesg ?? (this.b_cmd.load(bp) === BUF_CMD_READ ? 'biord' : 'biowr'), timeoutMs);
        if (error) return error;
        continue;
      }
      s.tsleep_interlock(bio);
      // Register the want on the very word biodone_sync swaps: no window for a lost wakeup.
      if (F.cas(bio, flags, flags | BIO_WANT) === flags) {
        const wm = wmesg ?? (this.b_cmd.load(bp) === BUF_CMD_READ ? 'biord' : 'biowr');
        const error = s.tsleep(bio, PINTERLOCKED | PIOWAIT, wm, timeoutMs);
        if (error) return error;
      } else {
        s.tsleep_remove();
      }
    }
  }

  biowait_timeout(bio: number, wmesg: string | null, timeoutMs: number): number {
    return this.biowait(bio, wmesg, timeoutMs);
  }

  // ------------------------------------------------------------- completion

  /**
   * Complete an I/O at bio `bio`: return running space, release tracks up the chain, and run the
   * first bio_done callback found (which takes over), else bpdone the buffer (async completion).
   * Never sleeps.
   */
  biodone(bio: number): void {
    // The completing cpu was handed the request by the strategy call's publication (the device
    // queue's spinlock, or its own thread for a cache hit): the chain's words, which the issuer
    // wrote before it, are plain reads; the callback and track words are the completer's alone.
    const bp = this.bio_buf.get(bio);
    const opsId = this.b_ops.get(bp);
    if (opsId) this.ops(opsId).runningbufwakeup?.(this, bp);
    for (let b = bio; b !== 0; b = this.bio_prev.get(b)) {
      const track = this.bio_track.get(b);
      if (track !== 0) {
        this.bio_track_rel(track);
        // RACE SWITCH vfs-bio-track-double-release (off by default): the historical code left
        // bio_track set, so a later completion of the reused bio releases the track again.
        if (!(bugs.any && bugs.enabled('vfs-bio-track-double-release'))) this.bio_track.set(b, 0);
      }
      const done = this.bio_done.get(b);
      if (done !== 0) this.bio_done.set(b, 0);
      if (done !== 0) {
        this.doneFn(done)(this, b);
        return;
      }
    }
    this.bpdone(bp, true);
  }

  /**
   * Finish the buffer after its chain: b_cmd becomes DONE; the owner's ops do the rest (for the
   * buffer cache: B_CACHE, re-dirty or bundirty, brelse/bqrelse when `elseit`).
   */
  bpdone(bp: number, elseit: boolean): void {
    const cmd = this.b_cmd.get(bp);
    if (cmd === BUF_CMD_DONE) throw new ContractError(`bpdone: buffer ${bp} already done`);
    const opsId = this.b_ops.get(bp);
    if (opsId) {
      this.ops(opsId).bpdone(this, bp, elseit);
    } else {
      // Atomic: a biowait sleeper reads b_cmd for its wmesg while the I/O is in flight.
      this.b_cmd.store(bp, BUF_CMD_DONE);
    }
  }

  /**
   * Synchronous completion of b_bio1: bpdone without release, then publish BIO_DONE and wake the
   * biowait sleeper if it registered BIO_WANT.
   */
  biodone_sync(bio: number): void {
    const bp = this.bio_buf.get(bio);
    if (bio !== b_bio1(bp)) this.notBio1('biodone_sync', bio, bp);
    const early = bugs.any && bugs.enabled('vfs-biodone-early-done');
    // RACE SWITCH vfs-biodone-early-done (off by default): BIO_DONE is published and the waiter
    // woken before bpdone has finished the buffer.
    if (!early) this.bpdone(bp, false);
    const F = this.bio_flags;
    for (;;) {
      // The seed's plain read before its cmpset: a relaxed read does, since the CAS checks it (a
      // stale value only fails the CAS and reads again); the CAS is what publishes.
      const flags = F.peek(bio);
      const nflags = (flags | BIO_DONE) & ~BIO_WANT;
      if (F.cas(bio, flags, nflags) === flags) {
        if (flags & BIO_WANT) this.sync.wakeup(bio);
        break;
      }
    }
    if (early) this.bpdone(bp, false);
  }

  /**
   * Prepare b_bio1 for a synchronous I/O: biodone_sync as callback, BIO_SYNC set, BIO_DONE clear.
   * The issuer owns the buffer and nobody touches b_bio1 until the strategy call publishes it
   * (the last completion's CAS was seen by biowait before): plain writes.
   */
  setup_sync(bp: number): number {
    const bio = b_bio1(bp);
    this.bio_done.set(bio, this.biodoneSyncId);
    this.bio_flags.set(bio, (this.bio_flags.get(bio) & ~(BIO_DONE | BIO_WANT)) | BIO_SYNC);
    return bio;
  }

  // ------------------------------------------------------------- bio_track

  bio_track_ref(track: number): void {
    this.bk_active.add(track, 1);
  }

  /** Drop a reference; the last one wakes a bio_track_wait sleeper. Never sleeps. */
  bio_track_rel(track: number): void {
    const A = this.bk_active;
    let active = A.load(track);
    if (active === 1 && A.cas(track, 1, 0) === 1) return;
    for (;;) {
      let desired = (active & BK_COUNT) - 1;
      if (desired) desired |= active & BK_WANT;
      if (A.cas(track, active, desired) === active) {
        if (desired & 0x40000000) throw new ContractError(`bio_track_rel: bad count on track ${track} (released more than referenced)`);
        if (active & BK_WANT) this.sync.wakeup(track);
        return;
      }
      active = A.load(track);
    }
  }

  /** Wait until the track's count is zero; 0, or EWOULDBLOCK on timeout. May sleep. */
  bio_track_wait(track: number, timeoutMs = 0): number {
    const A = this.bk_active;
    if (A.load(track) === 0) return 0;
    let active: number;
    while ((active = A.load(track)) !== 0) {
      this.sync.tsleep_interlock(track);
      if (A.cas(track, active, active | BK_WANT) === active) {
        const error = this.sync.tsleep(track, PINTERLOCKED | PIOWAIT, 'trwait', timeoutMs);
        if (error) return error;
      } else {
        this.sync.tsleep_remove();
      }
    }
    return 0;
  }

  bio_track_active(track: number): number {
    return this.bk_active.load(track) & BK_COUNT;
  }

  // ------------------------------------------------------------- nested I/O

  /** Start a master bio: one placeholder reference so it cannot complete while children are added. */
  nestiobuf_init(mbio: number): void {
    this.O.store(mbio, 'bio_driver', 1);
  }

  /**
   * Make `bp` a child covering [offset, offset+size) of the master's data. The caller then sets
   * the child's bio offset and issues it; its completion runs nestiobuf_iodone.
   */
  nestiobuf_add(mbio: number, bp: number, offset: number, size: number): void {
    const B = this.B;
    const mbp = this.O.load(mbio, 'bio_buf');
    if (B.load(mbp, 'b_bcount') < offset + size) {
      throw new ContractError(`nestiobuf_add: child [${offset}, ${offset + size}) beyond master's ${B.load(mbp, 'b_bcount')} bytes`);
    }
    this.O.add(mbio, 'bio_driver', 1);
    B.store(bp, 'b_cmd', B.load(mbp, 'b_cmd'));
    B.store(bp, 'b_dev', B.load(mbp, 'b_dev'));
    B.store(bp, 'b_data', B.load(mbp, 'b_data') + offset);
    B.store(bp, 'b_bcount', size);
    B.store(bp, 'b_resid', size);
    B.store(bp, 'b_bufsize', size);
    B.store(bp, 'b_error', 0);
    B.and(bp, 'b_flags', ~B_ERROR);
    const bio = b_bio1(bp);
    this.O.store(bio, 'bio_track', 0);
    this.O.store(bio, 'bio_caller1', mbio);
    this.set_done(bio, 'nestiobuf_iodone');
  }

  /** Drop the placeholder; completes the master if every child already finished. */
  nestiobuf_start(mbio: number): void {
    const mbp = this.O.load(mbio, 'bio_buf');
    if (this.O.add(mbio, 'bio_driver', -1) === 1) {
      this.B.store(mbp, 'b_resid', this.B.load(mbp, 'b_flags') & B_ERROR ? this.B.load(mbp, 'b_bcount') : 0);
      this.biodone(mbio);
    }
  }

  nestiobuf_error(mbio: number, error: number): void {
    if (!error) return;
    const mbp = this.O.load(mbio, 'bio_buf');
    this.B.store(mbp, 'b_error', error);
    this.B.or(mbp, 'b_flags', B_ERROR);
  }

  /**
   * A child's share is done: propagate its error, complete the master on the last one. As the
   * seed, the last child sets the master's b_resid to 0 even when a child failed (the error is
   * in b_error and B_ERROR); only nestiobuf_start, when it is the last, sets b_bcount on error.
   */
  nestiobuf_done(mbio: number, error: number): void {
    const mbp = this.O.load(mbio, 'bio_buf');
    if (this.O.load(mbio, 'bio_driver') <= 0) throw new ContractError(`nestiobuf_done: master bio ${mbio} has no outstanding children`);
    if (error) {
      this.B.store(mbp, 'b_error', error);
      this.B.or(mbp, 'b_flags', B_ERROR);
    }
    if (this.O.add(mbio, 'bio_driver', -1) === 1) {
      this.B.store(mbp, 'b_resid', 0);
      this.biodone(mbio);
    }
  }
}

registerBioDone('biodone_sync', (io, bio) => io.biodone_sync(bio));

/**
 * Completion of a nested child, as the seed's nestiobuf_iodone: its error is b_error; with none,
 * a short transfer (b_bcount < b_bufsize, or a residual) is EIO for the master; the child pbuf
 * is released.
 */
registerBioDone('nestiobuf_iodone', (io, bio) => {
  const B = io.B;
  const bp = io.O.load(bio, 'bio_buf');
  const mbio = io.O.load(bio, 'bio_caller1');
  let error = B.load(bp, 'b_error');
  if (error === 0 && (B.load(bp, 'b_bcount') < B.load(bp, 'b_bufsize') || B.load(bp, 'b_resid') > 0)) error = EIO;
  B.store(bp, 'b_cmd', BUF_CMD_DONE);
  const pbufs = io.ext.get('pbufs') as { owns(bp: number): boolean; relpbuf(bp: number): void } | undefined;
  if (pbufs?.owns(bp)) pbufs.relpbuf(bp);
  io.nestiobuf_done(mbio, error);
});

export { BIO_DONE, BIO_SYNC, BIO_WANT };
