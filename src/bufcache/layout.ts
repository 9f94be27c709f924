/**
 * Shared structs of the buffer cache, the arena plan and bufinit.
 *
 * Regions: `bufcache.globals` (the vfs.* counters, request words, the bd_wait ring),
 * `bufcache.pcpu` (struct bufpcpu per cpu: spinlock + queue heads, and that cpu's statistics),
 * `bufcache.bufs` (nbuf headers + 2 daemon markers), `bufcache.vnodes` (the file table),
 * `bufcache.pages` (MAXBSIZE of page memory per header), `bufcache.expect` (the load's record of
 * the latest version stamped into each device block through the cache; oracle devices only).
 *
 * Invariants (checked by checkInvariants at quiescent points):
 *  - a buffer is on exactly the queue b_qindex names, in set b_qcpu, and the queue agrees with
 *    its flags (EMPTY: no memory, not hashed; CLEAN: not B_DELWRI; DIRTY: B_DELWRI without
 *    B_HEAVY; DIRTY_HW: B_DELWRI|B_HEAVY; LOCKED: B_LOCKED); off-queue buffers are locked;
 *  - dirtybufcount = #B_DELWRI, dirtybufspace = Σ b_bufsize, dirtykvaspace = Σ b_kvasize over
 *    them (and the hw variants over B_HEAVY ones); bufspace = Σ b_bufsize;
 *  - runningbufspace = Σ b_runningbufspace ≥ 0, runningbufcount = #(b_runningbufspace > 0);
 *  - a buffer is B_HASHED iff it has a vnode, iff it is on that vnode's hash chain; at most one
 *    hashed buffer per (vp, loffset); b_refs ≥ 0;
 *  - a hashed buffer is on exactly one of its vnode's lists, the one its B_VNCLEAN / B_VNDIRTY
 *    names (the dirty one iff B_DELWRI); the two lists hold v_nbufs buffers together, and the
 *    dirty lists dirtybufcount.
 */
import type { Arena, ArenaPlan } from '../shm/arena.js';
import { defineStruct } from '../shm/layout.js';
import { BioLayer, BioTrackLayout } from '../device/bio.js';
import { BUF_CMD_DONE, BUF_IO_FIELDS, B_INVAL, B_MARKER } from '../device/buf.js';
import { resolveDevice } from '../device/config.js';
import { LK_MTX, LK_SPIN, LockLayout } from '../sync/layouts.js';
import type { Sync } from '../sync/sync.js';
import { initVm, planVm } from './vm.js';
import type { DeviceConfig } from '../device/config.js';
import { BD_WAKE_SIZE, BQUEUE_EMPTY, BQUEUE_NONE, BUFFER_QUEUES, type BufCacheSpec, MAXBSIZE, RESTART_NAMES, type ResolvedBufCache, resolveBufCache } from './tunables.js';

/** What the buffer cache reads of a machine spec (the engine's MachineSpec satisfies it). */
export interface BufMachineSpec {
  ncpu: number;
  devices?: DeviceConfig[];
  bufcache?: BufCacheSpec;
}

/**
 * struct buf: the device layer's I/O fields, then the cache's.
 *  b_qindex/b_qnext/b_qprev  protected by the spinlock of bufpcpu[b_qcpu]; b_qindex changes
 *               only with the buffer lock held too, so a holder of either may read it plainly.
 *  b_qcpu       the queue set the buffer belongs to (fixed by bufinit).
 *  b_refs       atomic: findblk/bqhold references; getnewbuf never reuses a referenced buffer.
 *  b_vp         vnode index + 1 (0: none); b_loffset: byte offset in the file. Written under the
 *               buffer lock and the vnode's v_token (hash membership); read under either.
 *  b_hnext      hash chain link, protected by v_token.
 *  b_vnnext/b_vnprev  link on the vnode's clean or dirty list (B_VNCLEAN / B_VNDIRTY say which),
 *               protected by v_token.
 *  b_kvabase/b_kvasize  the page reservation (constant after bufinit).
 *  b_kernproc   1 when the lock was handed to "the kernel" (BUF_KERNPROC): whoever completes the
 *               I/O releases it.
 *  b_xflags     flags written without the buffer lock (B_AGE second chance is kept in b_flags).
 */
export const BufLayout = defineStruct(
  'buf',
  {
    ...BUF_IO_FIELDS,
    b_qindex: { line: 'i32' },
    b_qcpu: 'i32',
    b_qnext: 'i32',
    b_qprev: 'i32',
    b_vp: 'i32',
    b_loffset: 'i32',
    b_hnext: 'i32',
    b_vnnext: 'i32',
    b_vnprev: 'i32',
    b_kvabase: 'i32',
    b_kvasize: 'i32',
    b_kernproc: 'i32',
    b_refs: { line: 'i32' },
  },
  { align: 64 },
);
export type BufField = keyof typeof BufLayout.off;

/**
 * struct bufpcpu: one cpu's queues under its spinlock (q_head/q_tail/q_len and the buffers'
 * b_qindex/b_qnext/b_qprev are written plainly under it; the unlock publishes them), and that
 * cpu's statistics (its own lines, written by that cpu only).
 */
export const BufPcpuLayout = defineStruct(
  'bufpcpu',
  {
    spin: { struct: LockLayout },
    q_head: { i32: BUFFER_QUEUES, line: true },
    q_tail: { i32: BUFFER_QUEUES },
    q_len: { i32: BUFFER_QUEUES },
    // statistics of the cpu that owns this slot (written by it only)
    flushingbufs: { line: 'i32' },
    getnewbufcalls: 'i32',
    gnb_restart: { i32: RESTART_NAMES.length },
    hits: 'i32',
    misses: 'i32',
    readahead: 'i32',
    bd_waits: 'i32',
    wdrn_waits: 'i32',
    flushed: { line: 'i32' },
    flush_inval: 'i32',
    flush_errors: 'i32',
    getblk_recycled: 'i32',
    getblk_sleepfail: 'i32',
  },
  { align: 64 },
);
export type PcpuField = keyof typeof BufPcpuLayout.off;

export const VHASH_SIZE = 512;

/**
 * struct vnode (a file). v_token (a spinlock: shared to look a buffer up, exclusive to change)
 * protects the hash chains, the clean and dirty lists of its buffers (v_cleanblkhd, v_dirtyblkhd:
 * DragonFly's v_rbclean_tree and v_rbdirty_tree, kept as lists) and v_nbufs.
 * The file is `v_size` bytes at device byte offset `v_base` of device `v_unit` (bmap is linear).
 */
export const VnodeLayout = defineStruct(
  'vnode',
  {
    v_token: { struct: LockLayout },
    v_unit: { line: 'i32' },
    v_base: 'i32',
    v_size: 'i32',
    v_bsize: 'i32',
    v_heavy: 'i32',
    v_nbufs: 'i32',
    v_cleanblkhd: 'i32',
    v_dirtyblkhd: 'i32',
    v_track_read: { struct: BioTrackLayout },
    v_track_write: { struct: BioTrackLayout },
    v_hash: { i32: VHASH_SIZE, line: true },
  },
  { align: 64 },
);
export type VnodeField = keyof typeof VnodeLayout.off;

/**
 * Machine-wide buffer cache words. The first line is configuration (written by bufinit only);
 * every counter that several cpus write has its own line.
 *  bufspace, dirty*, running*   atomic (the reference's atomic_add_long).
 *  needsbuffer, runningbufreq, bd_request, bd_request_hw, bd_wake_index, bd_wake_ary[]: atomic
 *  request words; their addresses are the sleep channels.
 */
export const BufGlobalsLayout = defineStruct(
  'bufglobals',
  {
    nbuf: { line: 'i32' },
    nsets: 'i32',
    nvnodes: 'i32',
    bsize: 'i32',
    hz: 'i32',
    hzMs: 'i32',
    maxbufspace: 'i32',
    hibufspace: 'i32',
    lobufspace: 'i32',
    lorunningspace: 'i32',
    hirunningspace: 'i32',
    hidirtybufspace: 'i32',
    lodirtybufspace: 'i32',
    flushperqueue: 'i32',
    bufspace: { line: 'i32' },
    dirtybufspace: { line: 'i32' },
    dirtykvaspace: 'i32',
    dirtybufcount: 'i32',
    dirtybufspacehw: 'i32',
    dirtybufcounthw: 'i32',
    runningbufspace: { line: 'i32' },
    runningbufcount: 'i32',
    needsbuffer: { line: 'i32' },
    runningbufreq: { line: 'i32' },
    bd_request: { line: 'i32' },
    bd_request_hw: { line: 'i32' },
    bd_wake_index: { line: 'i32' },
    load_done: { line: 'i32' },
    load_errors: 'i32',
    quiesce: { line: 'i32' },
    quiesced: 'i32',
    phase_arrived: { line: 'i32' },
    phase_gen: 'i32',
    bd_wake_ary: { i32: BD_WAKE_SIZE, line: true },
  },
  { align: 64 },
);
export type GlobalField = keyof typeof BufGlobalsLayout.off;

/** The resolved configuration of a spec (throws with the option named when it is bad). */
export function resolveSpec(spec: BufMachineSpec): ResolvedBufCache | null {
  if (!spec.bufcache) return null;
  const devs = spec.devices ?? [];
  const unit = spec.bufcache.unit ?? 0;
  if (!devs[unit]) throw new RangeError(`bufcache: spec.bufcache.unit ${unit} names no device (the spec has ${devs.length})`);
  const d = resolveDevice(devs[unit], unit);
  return resolveBufCache(spec.bufcache, d.blockSize, d.blocks);
}

/**
 * One word of `bufcache.expect` (4 bytes apart, a word per device block: block b at the region's
 * address + 4b): the latest version stamped into the block through the cache, UNSTAMPED (-1)
 * when none. Atomic. The load's own bookkeeping, not the cache's data: never instrumented.
 */
export const ExpectLayout = defineStruct('bufcache_expect', { ex_version: 'i32' }, { internal: true });

export function planBufCache(plan: ArenaPlan, spec: BufMachineSpec): void {
  const r = resolveSpec(spec);
  if (!r) return;
  const d = resolveDevice(spec.devices![r.unit], r.unit);
  plan.pool('bufcache.globals', BufGlobalsLayout, 1);
  plan.pool('bufcache.pcpu', BufPcpuLayout, spec.ncpu);
  plan.pool('bufcache.bufs', BufLayout, r.nbuf + 2);
  plan.pool('bufcache.vnodes', VnodeLayout, r.files);
  plan.bytes('bufcache.pages', r.nbuf * MAXBSIZE, 4096, 'pages');
  if (d.oracle) plan.bytes('bufcache.expect', 4 * d.blocks, 64);
  planVm(plan, r.files, r.vmPages);
}

/** The buffer cache's views and pools in `arena`, for code that walks it from outside a BufCache (bufinit, checks, samplers). */
export function bufArena(arena: Arena) {
  return {
    G: arena.view(BufGlobalsLayout),
    P: arena.view(BufPcpuLayout),
    B: arena.view(BufLayout),
    V: arena.view(VnodeLayout),
    g: arena.pool('bufcache.globals', BufGlobalsLayout).addr(0),
    pcpu: arena.pool('bufcache.pcpu', BufPcpuLayout),
    bufs: arena.pool('bufcache.bufs', BufLayout),
    vnodes: arena.pool('bufcache.vnodes', VnodeLayout),
  };
}

/**
 * bufinit: empty queues per set, every header B_INVAL on an EMPTY queue with its set chosen
 * round-robin, the space tunables derived from nbuf, the vnode table. Main thread, once.
 */
export function bufinit(arena: Arena, sync: Sync, spec: BufMachineSpec): void {
  const r = resolveSpec(spec);
  if (!r) return;
  const { G, P, B, V, g, pcpu, bufs, vnodes } = bufArena(arena);
  const pages = arena.region('bufcache.pages').offset;
  const nsets = r.globalQueues ? 1 : Math.min(spec.ncpu, r.queueSets ?? spec.ncpu);
  const t = r.tunables;
  G.store(g, 'nbuf', r.nbuf);
  G.store(g, 'nsets', nsets);
  G.store(g, 'nvnodes', r.files);
  G.store(g, 'bsize', r.bsize);
  G.store(g, 'hz', r.hz);
  G.store(g, 'hzMs', r.hzMs);
  for (const k of ['maxbufspace', 'hibufspace', 'lobufspace', 'lorunningspace', 'hirunningspace', 'hidirtybufspace', 'lodirtybufspace', 'flushperqueue'] as const) {
    G.store(g, k, t[k]);
  }
  for (let c = 0; c < spec.ncpu; c++) sync.lock_init(P.addrOf(pcpu.addr(c), 'spin'), r.globalQueues ? 'bufqueues_global' : 'bufpcpu', LK_SPIN);
  const io = BioLayer.of(sync);
  const ops = io.nameId('bufcache');
  let set = 0;
  for (let n = 0; n < r.nbuf + 2; n++) {
    const bp = bufs.addr(n);
    sync.lock_init(B.addrOf(bp, 'b_lock'), 'buf', LK_MTX);
    io.initbufbio(bp);
    B.store(bp, 'b_owner', n);
    B.store(bp, 'b_ops', ops);
    B.store(bp, 'b_dev', r.unit);
    B.store(bp, 'b_cmd', BUF_CMD_DONE);
    if (n >= r.nbuf) {
      // The two daemons' marker buffers: never on a queue except while a flush walks it.
      B.store(bp, 'b_flags', B_MARKER);
      B.store(bp, 'b_qindex', BQUEUE_NONE);
      continue;
    }
    B.store(bp, 'b_flags', B_INVAL);
    B.store(bp, 'b_qindex', BQUEUE_EMPTY);
    B.store(bp, 'b_qcpu', set);
    B.store(bp, 'b_kvabase', pages + n * MAXBSIZE);
    B.store(bp, 'b_kvasize', MAXBSIZE);
    B.store(bp, 'b_data', pages + n * MAXBSIZE);
    // TAILQ_INSERT_TAIL(&pcpu->bufqueues[BQUEUE_EMPTY], bp)
    const pc = pcpu.addr(set);
    const tail = P.loadAt(pc, 'q_tail', BQUEUE_EMPTY);
    B.store(bp, 'b_qprev', tail);
    B.store(bp, 'b_qnext', 0);
    if (tail === 0) P.storeAt(pc, 'q_head', BQUEUE_EMPTY, bp);
    else B.store(tail, 'b_qnext', bp);
    P.storeAt(pc, 'q_tail', BQUEUE_EMPTY, bp);
    P.addAt(pc, 'q_len', BQUEUE_EMPTY, 1);
    set = (set + 1) % nsets;
  }
  const d = resolveDevice(spec.devices![r.unit], r.unit);
  for (let i = 0; i < r.files; i++) {
    const vp = vnodes.addr(i);
    sync.lock_init(V.addrOf(vp, 'v_token'), 'v_token', LK_SPIN);
    V.store(vp, 'v_unit', r.unit);
    V.store(vp, 'v_base', i * r.fileBlocks * r.bsize);
    V.store(vp, 'v_size', r.fileBlocks * r.bsize);
    V.store(vp, 'v_bsize', r.bsize);
    V.store(vp, 'v_heavy', i < r.heavyFiles ? 1 : 0);
  }
  if (d.oracle) new Int32Array(arena.sab, arena.region('bufcache.expect').offset, d.blocks).fill(-1);
  initVm(arena, sync, r.files, r.vmPages, r.vmFreeMin);
}
