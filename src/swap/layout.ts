/**
 * Swap (NetBSD uvm_swap.c): configuration, constants and the shared structs.
 *
 * The swap "vnodes" are the candidate files of the spec (`swap.files`): a block device partition
 * (VBLK) or a regular file on a simulated disk (VREG) with its own block size and a bmap. Each
 * candidate owns one `swapdev` struct (a vnode is on the swap list at most once: a second SWAP_ON
 * is EBUSY), so swapdev index = candidate index. A swapdev is *live* while it is on the priority
 * list (swd_onlist != 0); SWF_FAKE marks the placeholder SWAP_ON inserts before swap_on succeeds.
 *
 * Locks (the kernel's names):
 *  swap_data_lock (spin, in swapglobals): the priority list (swappri + swapdev links), every
 *    swapdev's flags/priority/npages/npginuse/npgbad/drum range/extent bitmap, and the uvmexp
 *    counters (which are also stored atomically so a quiescent main thread can read them).
 *  swd_tablock (spin, per swapdev; the kernel's splbio): swd_tab, swd_active, the SWF_BUSY
 *    start-recursion word swd_busy, and the vndxfers of transfers on that device.
 *  swd_vlock (sleep mutex, per swapdev, class "swapvnode"): the swap file's vnode lock. The file
 *    system holds it to read the block map (VOP_BMAP) and to issue a child (VOP_STRATEGY counts
 *    v_numoutput under it). Taking it may sleep: never in a completion context (regio.ts).
 *    Order: swd_vlock before swd_tablock; swap_data_lock before swd_tablock.
 *    kiolab's own: the seed has no such lock. It stands for a file system whose VOP_BMAP /
 *    VOP_STRATEGY may sleep, which is why the seed's sw_reg_start from sw_reg_iodone is a bug
 *    (bug switch swap-iodone-inline).
 *  vnd_lock (spin): the vndbuf / vndxfer free lists and their pool pages (vnd_* / vnx_*).
 *  pm_lock (spin): the pager map's page budget (pm_free, pm_wanted).
 *  swap_syscall_lock: NOT in shared memory: an async-mutex on the main thread (swapctl.ts).
 */
import { type FieldSpec, defineStruct } from '../shm/layout.js';
import { BUF_IO_FIELDS } from '../device/buf.js';
import { LockLayout } from '../sync/layouts.js';

export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;
export const DEV_BSIZE = 512;
export const btodb = (bytes: number): number => Math.floor(bytes / DEV_BSIZE);
export const dbtob = (blocks: number): number => blocks * DEV_BSIZE;

/** swd_flags (NetBSD values). */
export const SWF_INUSE = 0x1;
export const SWF_ENABLE = 0x2;
export const SWF_BUSY = 0x4;
export const SWF_FAKE = 0x8;
export function swfToString(f: number): string {
  const n: string[] = [];
  if (f & SWF_INUSE) n.push('SWF_INUSE');
  if (f & SWF_ENABLE) n.push('SWF_ENABLE');
  if (f & SWF_BUSY) n.push('SWF_BUSY');
  if (f & SWF_FAKE) n.push('SWF_FAKE');
  return n.join('|') || '0';
}

/** vx_flags */
export const VX_BUSY = 1;
export const VX_DEAD = 2;

/**
 * swapctl commands (NetBSD 1.4's <sys/swap.h>). 4 is COMPAT_13's SWAP_OSTATS, which kiolab does
 * not build (an unknown command: EPERM for a user, EINVAL for root).
 */
export const SWAP_ON = 1;
export const SWAP_OFF = 2;
export const SWAP_NSWAP = 3;
export const SWAP_CTL = 5;
export const SWAP_STATS = 6;
export const SWAP_DUMPDEV = 7;
export const SWAP_GETDUMPDEV = 8;
export const SWAP_CMD_NAMES: Record<number, string> = { 1: 'SWAP_ON', 2: 'SWAP_OFF', 3: 'SWAP_NSWAP', 5: 'SWAP_CTL', 6: 'SWAP_STATS', 7: 'SWAP_DUMPDEV', 8: 'SWAP_GETDUMPDEV' };
/** dumpdev when none is set (NODEV). */
export const NODEV = -1;

/** The slot an anon gets after an I/O error on swap (uvm_swap_free ignores it). */
export const SWSLOT_BAD = -1;

export const VBLK = 1;
export const VREG = 2;

// ---------------------------------------------------------------- configuration

export interface SwapFileSpec {
  /** The name swapctl uses (the path). */
  path: string;
  /** Name of the simulated disk (spec.devices) it lives on. */
  device: string;
  /** 'blk': a partition used as a block device; 'reg': a regular file mapped through a bmap. */
  type: 'blk' | 'reg';
  /** blk: first device block of the partition; reg: first device block of the file system area. Default 0. */
  firstBlock?: number;
  /** blk: size of the partition in device blocks (default: the rest of the device). */
  blocks?: number;
  /** reg: size of the file in bytes (a multiple of PAGE_SIZE). */
  bytes?: number;
  /** reg: the file system block size (f_iosize; default 8192). */
  bsize?: number;
  /** reg: longest run of contiguous file blocks in the bmap (default 4; 1 = every block its own run). */
  maxRun?: number;
  /** reg: seed of the bmap layout. */
  seed?: number;
  /** reg: a "network" file (swd_maxactive 2 instead of 8). */
  network?: boolean;
  /** Enable at boot (SWAP_ON by the initializer) with this priority. */
  swapon?: boolean;
  priority?: number;
  /**
   * blk only: this partition is the root device (rootvp). swapctl with a NULL path names it, and
   * swap_on keeps the miniroot's pages (after the label) out of the swap area. At most one.
   */
  root?: boolean;
  /** root only: bytes of the miniroot file system on it (f_blocks × f_bsize), a multiple of 512; required with `root`. */
  minirootBytes?: number;
}

export interface SwapSpec {
  files: SwapFileSpec[];
  /** Pages of the pager's page table (the swappable "anons"); default 256. */
  pages?: number;
  /** Pages that may be resident at once machine-wide (page-in during SWAP_OFF fails with ENOMEM beyond it); default `pages`. */
  physmem?: number;
  /** vndbufs (child buffers of regular-file transfers); default 128. */
  nvndbuf?: number;
  /** vndxfers (parent transfer heads); default 64. */
  nvndxfer?: number;
  /** Pages of the pager map (uvm_pagermapin's budget); default 1024 (NetBSD's 4 MiB PAGER_MAP_SIZE). */
  pagerMap?: number;
}

export interface ResolvedSwapFile {
  path: string;
  unit: number;
  type: typeof VBLK | typeof VREG;
  /** Byte offset on the device of the partition (blk) or of the file system area (reg). */
  base: number;
  /** Size in bytes of the partition or file. */
  bytes: number;
  bsize: number;
  maxRun: number;
  seed: number;
  maxactive: number;
  /** reg: fs blocks of the file, and bytes of device the fs area spans. */
  nfb: number;
  span: number;
  swapon: boolean;
  priority: number;
  /** The root device (a NULL swapctl path), and the miniroot pages swap_on preserves on it. */
  root: boolean;
  rootPages: number;
}

export interface ResolvedSwap {
  files: ResolvedSwapFile[];
  pages: number;
  physmem: number;
  nvndbuf: number;
  nvndxfer: number;
  pagerMap: number;
}

type DevLike = { name: string; blocks: number; blockSize?: number };

function bad(what: string, v: unknown): never {
  throw new RangeError(`swap: ${what}, got ${JSON.stringify(v)}`);
}
const isInt = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min;

/** Validate the swap spec against the machine's devices (options → resolved options → defaults). */
export function resolveSwap(s: SwapSpec, devices: DevLike[]): ResolvedSwap {
  if (typeof s !== 'object' || s === null || !Array.isArray(s.files)) bad('spec.swap.files must be a list', s);
  if (s.files.length > 30) bad('spec.swap.files: at most 30 swap files', s.files.length);
  const seen = new Set<string>();
  const files = s.files.map((f, i): ResolvedSwapFile => {
    const at = `swap.files[${i}]`;
    if (typeof f.path !== 'string' || !f.path) bad(`${at}.path must be a non-empty string`, f.path);
    if (seen.has(f.path)) bad(`${at}.path is a duplicate`, f.path);
    seen.add(f.path);
    const unit = devices.findIndex((d) => d.name === f.device);
    if (unit < 0) bad(`${at}.device must name one of the devices (${devices.map((d) => d.name).join(', ')})`, f.device);
    const d = devices[unit];
    const dbs = d.blockSize ?? 512;
    if (PAGE_SIZE % dbs !== 0) bad(`${at}: device ${d.name} block size must divide the page size ${PAGE_SIZE}`, dbs);
    const first = f.firstBlock ?? 0;
    if (!isInt(first, 0) || first >= d.blocks) bad(`${at}.firstBlock must be a block of ${d.name}`, f.firstBlock);
    if (f.type !== 'blk' && f.type !== 'reg') bad(`${at}.type must be 'blk' or 'reg'`, f.type);
    const priority = f.priority ?? 0;
    if (!Number.isInteger(priority)) bad(`${at}.priority must be an integer`, f.priority);
    if (f.type === 'blk') {
      const blocks = f.blocks ?? d.blocks - first;
      if (!isInt(blocks, 1) || first + blocks > d.blocks) bad(`${at}.blocks must fit on ${d.name} (${d.blocks} blocks from ${first})`, f.blocks);
      let rootPages = 0;
      if (f.root !== undefined && typeof f.root !== 'boolean') bad(`${at}.root must be true or false`, f.root);
      if (f.root) {
        if (!isInt(f.minirootBytes, DEV_BSIZE) || f.minirootBytes % DEV_BSIZE !== 0) bad(`${at}.minirootBytes must be a positive multiple of ${DEV_BSIZE} (the miniroot's size) on the root device`, f.minirootBytes);
        rootPages = Math.ceil(f.minirootBytes / PAGE_SIZE);
        // The seed panics in swap_on ("miniroot larger than swap?"): refused here, before any load.
        const size = Math.floor((blocks * dbs) / PAGE_SIZE) - 1;
        if (rootPages > size) bad(`${at}.minirootBytes: the miniroot (${rootPages} pages) is larger than the swap area (${size} pages)`, f.minirootBytes);
      } else if (f.minirootBytes !== undefined) bad(`${at}.minirootBytes applies only to the root device (root: true)`, f.minirootBytes);
      return { path: f.path, unit, type: VBLK, base: first * dbs, bytes: blocks * dbs, bsize: dbs, maxRun: 0, seed: 0, maxactive: 0, nfb: 0, span: blocks * dbs, swapon: !!f.swapon, priority, root: !!f.root, rootPages };
    }
    if (f.root) bad(`${at}.root: the root device is a block device (type 'blk')`, f.type);
    if (f.minirootBytes !== undefined) bad(`${at}.minirootBytes applies only to the root device (root: true)`, f.minirootBytes);
    const bsize = f.bsize ?? 8192;
    if (!isInt(bsize, 512) || (bsize & (bsize - 1)) !== 0 || bsize % dbs !== 0 || bsize > 65536) bad(`${at}.bsize must be a power of two in [512, 65536], a multiple of ${d.name}'s block size`, f.bsize);
    const bytes = f.bytes;
    if (!isInt(bytes, PAGE_SIZE) || bytes % PAGE_SIZE !== 0) bad(`${at}.bytes must be a positive multiple of ${PAGE_SIZE}`, f.bytes);
    const maxRun = f.maxRun ?? 4;
    if (!isInt(maxRun, 1)) bad(`${at}.maxRun must be an integer >= 1`, f.maxRun);
    const nfb = Math.ceil(bytes / bsize);
    // Worst case: every run of length 1 and a one-block gap after each.
    const span = 2 * nfb * bsize;
    if (first * dbs + span > d.blocks * dbs) bad(`${at}: the file's area (${span} bytes from block ${first}) does not fit on ${d.name}`, bytes);
    return { path: f.path, unit, type: VREG, base: first * dbs, bytes, bsize, maxRun, seed: f.seed ?? i + 1, maxactive: f.network ? 2 : 8, nfb, span, swapon: !!f.swapon, priority, root: false, rootPages: 0 };
  });
  if (files.filter((f) => f.root).length > 1) bad('spec.swap.files: at most one root device', files.filter((f) => f.root).map((f) => f.path));
  const pages = s.pages ?? 256;
  if (!isInt(pages, 1) || pages > 65536) bad('swap.pages must be an integer in [1, 65536]', s.pages);
  const physmem = s.physmem ?? pages;
  if (!isInt(physmem, 1)) bad('swap.physmem must be a positive integer', s.physmem);
  const nvndbuf = s.nvndbuf ?? 128;
  const nvndxfer = s.nvndxfer ?? 64;
  if (!isInt(nvndbuf, 1) || !isInt(nvndxfer, 1)) bad('swap.nvndbuf and swap.nvndxfer must be positive integers', [s.nvndbuf, s.nvndxfer]);
  const pagerMap = s.pagerMap ?? 1024;
  if (!isInt(pagerMap, 1) || pagerMap > 1 << 20) bad('swap.pagerMap must be an integer in [1, 1048576] (pages of the pager map)', s.pagerMap);
  return { files, pages, physmem, nvndbuf, nvndxfer, pagerMap };
}

/** Pages of a swap file (swd_npages before the label page is reserved). */
export function filePages(f: ResolvedSwapFile): number {
  return Math.floor(f.bytes / PAGE_SIZE);
}

/** Pages swap_on keeps out of a device's extent: the label page of a block device, and on the root device the miniroot after it. */
export function reservedPages(f: ResolvedSwapFile): number {
  return (f.type === VBLK ? 1 : 0) + f.rootPages;
}

// ---------------------------------------------------------------- structs

/**
 * Machine-wide swap state. uvmexp counters: protected by swap_data_lock, written atomically.
 * sg_resident: atomic, pages resident in the pager's table (≤ sg_physmem for SWAP_OFF page-in).
 * sg_xfer_*: atomic instrumentation of regular-file parent transfers (vndxfer completions, double completions).
 * sg_drain_waits: atomic, SWAP_OFF drains that had to sleep for a device's child I/O (sw_reg_drain).
 * sg_badleak: swap_off does not take a device's bad pages out of swpginuse (1.44); the invariants
 *   read Σ swd_npginuse + sg_badleak = swpginuse.
 * vnd_* / vnx_* (vnd_lock; stored atomically for quiescent reads): the vndbuf / vndxfer pools.
 *  *_nitems items handed to the free list so far (pool pages × items per page, ≤ the reservation),
 *  *_npages pool pages allocated (pr_npagealloc), *_gets/_puts, *_hiwat most items in use,
 *  *_sleeps sleeps at the reservation (kiolab's limit: the arena cannot grow).
 * pm_* (pm_lock): the pager map, a budget of pm_size pages; pm_sleeps: waits on "pager_map".
 * sg_pager_again / sg_again_pbuf / sg_again_map (atomic, kiolab): pageouts that got VM_PAGER_AGAIN;
 *  uvm_swap_io's AGAINs for want of a buf / of pager map space.
 * sg_async_get (atomic): "uvm_swap_get: ASYNC get requested?"; sg_aget_pending/_errors: async reads.
 */
export const SwapGlobalsLayout = defineStruct(
  'swapglobals',
  {
    swap_data_lock: { struct: LockLayout },
    sg_prihead: 'i32', // swappri index + 1 of the highest priority (lowest number), 0 = empty
    nswapdev: { line: 'i32' },
    swpages: 'i32',
    swpginuse: 'i32',
    swpgonly: 'i32',
    nswget: 'i32',
    vnd_lock: { struct: LockLayout, line: true },
    vnd_free: 'i32', // vndbuf free list head (index + 1)
    vnx_free: 'i32', // vndxfer free list head (index + 1)
    vnd_wanted: 'i32',
    vnd_inuse: 'i32',
    vnx_inuse: 'i32',
    sg_resident: { line: 'i32' },
    sg_physmem: 'i32',
    sg_xfer_done: { line: 'i32' },
    sg_xfer_double: 'i32',
    sg_mismatch: 'i32',
    sg_aio_pending: { line: 'i32' },
    sg_drain_waits: 'i32',
    sg_dumpdev: 'i32', // dumpdev: the vnode (candidate index) + 1, 0 = NODEV; under swap_syscall_lock
    sg_badleak: 'i32', // kiolab: bad pages SWAP_OFF left counted in swpginuse (1.44's leak)
    sg_stats_dup: 'i32', // kiolab: swapents an unlocked SWAP_STATS walk copied twice (a circleq rotated under it)
    vnd_nitems: { line: 'i32' },
    vnd_npages: 'i32',
    vnd_gets: 'i32',
    vnd_puts: 'i32',
    vnd_hiwat: 'i32',
    vnd_sleeps: 'i32',
    vnx_nitems: 'i32',
    vnx_npages: 'i32',
    vnx_gets: 'i32',
    vnx_puts: 'i32',
    vnx_hiwat: 'i32',
    vnx_sleeps: 'i32',
    pm_lock: { struct: LockLayout, line: true },
    pm_free: 'i32',
    pm_wanted: 'i32',
    pm_size: 'i32',
    pm_sleeps: 'i32',
    sg_pager_again: { line: 'i32' },
    sg_again_pbuf: 'i32',
    sg_again_map: 'i32',
    sg_async_get: 'i32',
    sg_aget_pending: 'i32',
    sg_aget_errors: 'i32',
  },
  { align: 64 },
);
export type SwapGlobalsField = keyof typeof SwapGlobalsLayout.off;

/**
 * struct swapdev. Data-lock fields: swd_flags .. swd_onlist. Table-lock fields: swd_tab .. swd_busy.
 * Atomic statistics: swd_puts .. swd_maxseen.
 *  swd_next/prev   circleq links within the priority (swapdev index + 1).
 *  swd_onlist      swappri index + 1 this device is queued on, 0 = not on the list.
 *  swd_tab         head of the child queue (vndbuf index + 1), ascending device offset.
 *  swd_tab .. swd_busy  the device's I/O state (SWD_IO_WORDS words): SWAP_OFF poisons them when it
 *                  tears the device down, SWAP_ON clears them; a poisoned one touched is a use
 *                  after free.
 *  swd_restart     atomic: a completion found swd_vlock taken and left the queue to its holder,
 *                  who starts it after unlocking (regio.ts vn_unlock).
 *  swd_inflight    atomic: children queued, active, or still in sw_reg_iodone (which touches the
 *                  swapdev until its very end). SWAP_OFF drains it to 0 before the teardown.
 */
export const SwapdevLayout = defineStruct(
  'swapdev',
  {
    swd_flags: 'i32',
    swd_priority: 'i32',
    swd_nblks: 'i32',
    swd_npages: 'i32',
    swd_npginuse: 'i32',
    swd_npgbad: 'i32',
    swd_drumoffset: 'i32',
    swd_drumsize: 'i32',
    swd_next: 'i32',
    swd_prev: 'i32',
    swd_onlist: 'i32',
    swd_bsize: 'i32',
    swd_maxactive: 'i32',
    swd_gen: 'i32',
    swd_nullpath: 'i32', // SWAP_ON came with a NULL path: swd_path is "miniroot"
    swd_tablock: { struct: LockLayout, line: true },
    swd_tab: 'i32',
    swd_qlen: 'i32',
    swd_active: 'i32',
    swd_busy: 'i32',
    swd_vlock: { struct: LockLayout, line: true },
    swd_restart: 'i32',
    swd_inflight: { line: 'i32' },
    swd_puts: { line: 'i32' },
    swd_gets: 'i32',
    swd_errors: 'i32',
    swd_children: 'i32',
    swd_maxseen: 'i32',
  },
  { align: 64 },
);
export type SwapdevField = keyof typeof SwapdevLayout.off;
/** Words of a swapdev's I/O state, swd_tab .. swd_busy (contiguous). */
export const SWD_IO_WORDS = 4;
if (SwapdevLayout.off.swd_busy !== SwapdevLayout.off.swd_tab + SWD_IO_WORDS - 1) throw new Error('swapdev layout: swd_tab .. swd_busy must be contiguous');

/**
 * One word of a swapdev's extent bitmap (`swap.ex.<sd>`, a bit per page of the device, set when
 * allocated; word k at the region's address + 4k). swap_data_lock protects it.
 */
export const SwapExLayout = defineStruct('swd_ex', { ex_word: 'i32' });

/**
 * One entry of a swap file's block map (`swap.bmap.<sd>`, VREG only; entry lbn at the region's
 * address + 4 lbn): the device byte offset of file block lbn. Written at initialization, read
 * under the vnode lock (VOP_BMAP).
 */
export const BmapLayout = defineStruct('swap_bmap', { bm_nbn: 'i32' });

/**
 * The counters of a vnode the swap I/O path holds and writes through (`swap.vnode`): index 0 the
 * drum (swapdev_vp), 1 + sd swap file sd's vnode, 1 + nfiles + unit the device vnode of disk unit
 * (what VOP_BMAP of a regular swap file returns). All atomic (the kernel's splbio).
 *  v_holdcnt    VHOLD / HOLDRELE: buffers associated with it (bgetvp / brelvp).
 *  v_numoutput  writes in progress; vwakeup drops it and wakes a VBWAIT waiter at 0.
 * At quiescence every one is 0.
 */
export const SwVnodeLayout = defineStruct('swvnode', { v_holdcnt: 'i32', v_numoutput: 'i32', v_flag: 'i32' }, { align: 64 });
export type SwVnodeField = keyof typeof SwVnodeLayout.off;
export const VBWAIT = 0x400;
/** b_vp of a swap buffer (`swap.bvp.pbuf` per pbuf, `swap.bvp.vndbuf` per vndbuf): vnode index + 1, 0 = NULL. */
export const BufVpLayout = defineStruct('swbvp', { bv_vp: 'i32' });

/** struct swappri (data lock): priority, circleq head (swapdev index + 1), list link (swappri index + 1). */
export const SwappriLayout = defineStruct('swappri', { spi_priority: 'i32', spi_swapdev: 'i32', spi_next: 'i32', spi_inuse: 'i32' });
export type SwappriField = keyof typeof SwappriLayout.off;

/** struct vndxfer (its device's swd_tablock; vx_next under vnd_lock while free). vx_done: atomic count of parent completions. */
export const VndxferLayout = defineStruct('vndxfer', { vx_bp: 'i32', vx_sdp: 'i32', vx_error: 'i32', vx_pending: 'i32', vx_flags: 'i32', vx_next: 'i32', vx_done: 'i32' });
export type VndxferField = keyof typeof VndxferLayout.off;

/** struct vndbuf: a child buffer (the I/O fields) + its transfer, device offset and queue link. */
export const VndbufLayout = defineStruct(
  'vndbuf',
  { ...BUF_IO_FIELDS, vb_xfer: 'i32', vb_sdp: 'i32', vb_off: 'i32', vb_actnext: 'i32', vb_next: 'i32' } satisfies Record<string, FieldSpec>,
  { align: 64 },
);
export type VndbufField = keyof typeof VndbufLayout.off;

/**
 * A page of the pager's table (one swappable anon with its own frame).
 *  pt_state  atomic: PG_* bits; PG_BUSY is the page lock (CAS), PG_WANTED asks for a wakeup.
 *  pt_slot   drum slot while swapped or being swapped out (protected by PG_BUSY), 0 = none.
 *  pt_version  stamp version of the page's content (PG_BUSY).
 */
export const PteLayout = defineStruct('swpte', { pt_state: 'i32', pt_slot: 'i32', pt_version: 'i32', pt_owner: 'i32' });
export type PteField = keyof typeof PteLayout.off;
export const PG_BUSY = 0x1;
export const PG_WANTED = 0x2;
export const PG_RESIDENT = 0x4;
export const PG_SWAPPED = 0x8;

/** The swapctl request slot between the main thread and the swapctl executor (atomic words). */
export const SwapCtlLayout = defineStruct(
  'swapctlreq',
  {
    req_seq: { line: 'i32' },
    req_cmd: 'i32',
    req_vp: 'i32',
    req_misc: 'i32',
    req_priv: 'i32', // the caller is the superuser (suser succeeds)
    resp_seq: { line: 'i32' },
    resp_error: 'i32',
    resp_retval: 'i32',
    resp_dumpdev: 'i32', // SWAP_GETDUMPDEV's copyout: the dump device's vnode + 1, 0 = NODEV
    ctl_release: { line: 'i32' },
    ctl_phase_done: 'i32',
  },
  { align: 64 },
);
export type SwapCtlField = keyof typeof SwapCtlLayout.off;

/** One swapent of a SWAP_STATS answer (written by the executor). */
export const SwapentLayout = defineStruct('swapent', {
  se_vp: 'i32',
  se_flags: 'i32',
  se_priority: 'i32',
  se_nblks: 'i32',
  se_inuse: 'i32',
  se_npages: 'i32',
  se_npginuse: 'i32',
  se_npgbad: 'i32',
  se_drumoffset: 'i32',
  se_drumsize: 'i32',
  se_puts: 'i32',
  se_gets: 'i32',
  se_errors: 'i32',
  se_children: 'i32',
  se_maxseen: 'i32',
  se_maxactive: 'i32',
  se_nullpath: 'i32',
});
export type SwapentField = keyof typeof SwapentLayout.off;
