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
 *  vm.ts         the VM pages behind the buffers: per-vnode VM objects, page frames, the queues
 *
 * kiolab follows the seed (vfs_bio.c) by default; every place where it does something else is
 * in the table of src/bufcache/README.md, with its reason.
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
export { Vm, vmSnapshot } from './vm.js';
export { FileLoad, runLoad, type LoadArgs, type LoadResult } from './load.js';
export { runProbe } from './probes.js';
