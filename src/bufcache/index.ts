/**
 * The DragonFly buffer cache (vfs_bio.c), on real threads over one arena.
 *
 *  tunables.ts   constants, the spec, bufinit's arithmetic        layout.ts   shared structs, plan, bufinit
 *  core.ts       views, BUF_LOCK/BUF_KERNPROC, queues, bremfree   space.ts    space accounting, wakeups, bd_wait ring
 *  getblk.ts     findblk, getblk, getcacheblk, allocbuf           getnewbuf.ts  recycling
 *  vnode.ts      a vnode's hash and clean/dirty lists (bgetvp, brelvp, reassignbuf), vfsync
 *  io.ts         bread*, b*write, bdirty, brelse/bqrelse, bpdone  daemon.ts   buf_daemon[_hw], flushbufqueues
 *  cluster.ts    cluster_awrite (a run of dirty buffers)
 *  sysctl.ts     vfs.* snapshot                                   invariants.ts  checkInvariants
 *  load.ts       oracle-checked file load, final sync             probes.ts   deterministic scenarios for tests
 *
 * Where kiolab departs from the reference (no VM system is modelled):
 *  - buffer memory is the header's own MAXBSIZE slice of `bufcache.pages`; releasing a buffer's
 *    memory (B_INVAL/B_RELBUF, vfs_vmio_release) loses its contents, so a later getblk reads the
 *    device again (the kernel would often find the VM pages still valid); vm_paging_min() is false.
 *  - no softupdates dependencies (b_dep), no KVABIO; cluster_awrite issues its run buffer by
 *    buffer (no pbuf cluster) and waits for a busy neighbour; the daemons flush with bawrite.
 *  - `hz` ticks are `hzMs` milliseconds; the daemons' sleeps are capped at 100 ms so they notice
 *    the machine stopping, and a "wdrn1" sleep that times out with no write running clears a
 *    stale runningbufreq.
 *  - vnodes are files laid out contiguously on one device (bmap is an addition); offsets are
 *    32-bit (files < 2 GiB).
 *  - a vnode's buffers are found through a chained hash and kept on unsorted clean and dirty lists
 *    (newest first), not on RB trees ordered by offset: vfsync writes in list order.
 */
export * from './tunables.js';
export * from './layout.js';
export { BufCache } from './core.js';
export * from './space.js';
export * from './getblk.js';
export * from './vnode.js';
export { getnewbuf } from './getnewbuf.js';
export * from './io.js';
export { cluster_awrite, CLUSTER_MAXRUN } from './cluster.js';
export * from './daemon.js';
export * from './sysctl.js';
export { checkInvariants } from './invariants.js';
export { FileLoad, runLoad, type LoadArgs, type LoadResult } from './load.js';
export { runProbe } from './probes.js';
