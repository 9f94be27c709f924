/**
 * Buffer cache constants, configuration and the tunables bufinit derives from nbuf.
 *
 * Numbers are DragonFly's: MAXBSIZE 64 KiB (each header's KVA reservation), NBUFCALCSIZE 16 KiB
 * (the size nbuf is sized by), DEV_BSIZE 512, BD_WAKE_SIZE 16384 slots in the bd_wait ring.
 * Sleeps are in ticks of `hz` (default 100 per second) as the seed's; `hzMs` is how long `hz`
 * ticks (one second) last (default 1000): the one time-scale option, for shorter runs.
 */

export const MAXBSIZE = 65536;
export const NBUFCALCSIZE = 16384;
export const DEV_BSIZE = 512;
export const PAGE_SIZE = 4096;
export const BD_WAKE_SIZE = 16384;
export const BD_WAKE_MASK = BD_WAKE_SIZE - 1;

/** enum bufq_type */
export const BQUEUE_NONE = 0;
export const BQUEUE_LOCKED = 1;
export const BQUEUE_CLEAN = 2;
export const BQUEUE_DIRTY = 3;
export const BQUEUE_DIRTY_HW = 4;
export const BQUEUE_EMPTY = 5;
export const BUFFER_QUEUES = 6;
export const BQUEUE_NAMES = ['NONE', 'LOCKED', 'CLEAN', 'DIRTY', 'DIRTY_HW', 'EMPTY'];

/** needsbuffer bits */
export const VFS_BIO_NEED_ANY = 0x01;
export const VFS_BIO_NEED_BUFSPACE = 0x08;

/** findblk flags */
export const FINDBLK_TEST = 0x0010;
export const FINDBLK_NBLOCK = 0x0020;
export const FINDBLK_REF = 0x0040;

/** getblk flags */
export const GETBLK_PCATCH = 0x0001;
export const GETBLK_BHEAVY = 0x0002;
export const GETBLK_SZMATCH = 0x0004;
export const GETBLK_NOWAIT = 0x0008;

/** getnewbuf restart reasons, indexed as the reference numbers them (0 = the sleep on needsbuffer). */
export const RESTART_NAMES = [
  'sleep_needsbuffer',
  'lock_busy',
  'queue_changed_or_refs',
  'b_locked_after_deallocate',
  'unused_4',
  'flushingbufs',
  'refs_after_brelvp',
  'next_cpu',
];

/** The values bufinit computes from nbuf (bytes unless noted), plus the RW sysctls' defaults. */
export interface BufTunables {
  nbuf: number;
  maxbufspace: number;
  hibufspace: number;
  lobufspace: number;
  lorunningspace: number;
  hirunningspace: number;
  hidirtybufspace: number;
  lodirtybufspace: number;
  /** buffers flushed per cpu queue per flushbufqueues call */
  flushperqueue: number;
}

/** C's integer division (toward zero): every division of vfs_bio.c's longs and ints. */
export const cdiv = (a: number, b: number): number => Math.trunc(a / b);

/** bufinit's arithmetic (C long division truncates). Pure: usable for any nbuf, even huge ones. */
export function bufinitTunables(nbuf: number): BufTunables {
  if (!Number.isInteger(nbuf) || nbuf < 1) throw new RangeError(`bufcache: nbuf must be a positive integer, got ${JSON.stringify(nbuf)}`);
  const div = cdiv;
  const maxbufspace = nbuf * NBUFCALCSIZE;
  const hibufspace = Math.max(div(3 * maxbufspace, 4), maxbufspace - MAXBSIZE * 10);
  let lobufspace = div(hibufspace * 7, 8);
  if (hibufspace - lobufspace > 64 * 1024 * 1024) lobufspace = hibufspace - 64 * 1024 * 1024;
  if (lobufspace > hibufspace - MAXBSIZE) lobufspace = hibufspace - MAXBSIZE;
  const lorunningspace = 512 * 1024;
  const hidirtybufspace = div(hibufspace, 2);
  let hirunningspace = div(hibufspace, 16);
  if (hirunningspace < 1024 * 1024) hirunningspace = 1024 * 1024;
  const lodirtybufspace = div(hidirtybufspace, 2);
  return { nbuf, maxbufspace, hibufspace, lobufspace, lorunningspace, hirunningspace, hidirtybufspace, lodirtybufspace, flushperqueue: 1024 };
}

/** The buffer cache part of a machine spec (`spec.bufcache`). */
export interface BufCacheSpec {
  /** Buffer headers (each with a MAXBSIZE page reservation). 16..16384. */
  nbuf: number;
  /** Device unit the files live on (default 0). */
  unit?: number;
  /** Files (vnodes), laid out one after another on the device from block 0. */
  files?: number;
  /** Blocks of `bsize` bytes per file. */
  fileBlocks?: number;
  /** File system block size = buffer size (default 16384; a multiple of the device block size, ≤ MAXBSIZE). */
  bsize?: number;
  /** Files whose buffers are heavy-weight (B_HEAVY, flushed by buf_daemon_hw): the first `heavyFiles`. */
  heavyFiles?: number;
  /** One global set of queues under one spinlock instead of one set per cpu. */
  globalQueues?: boolean;
  /**
   * Per-cpu queue sets: the cpus that run "processes" (the callers, which the engine gives the
   * first cpu ids). bufinit spreads the headers over these; cpu c uses set c % queueSets.
   * Default: every cpu of the machine.
   */
  queueSets?: number;
  /** Clock ticks per second (the kernel's `hz`; the seed's sleeps are in ticks). 100..10000, default 100. */
  hz?: number;
  /** How long `hz` ticks (one second) last, in ms: the time scale (default 1000, real time). */
  hzMs?: number;
  /**
   * VM page frames behind the buffers (src/bufcache/vm.ts): released buffers leave their pages,
   * valid, in the file's VM object, where allocbuf and inmem find them. Default 8 per buffer
   * (twice maxbufspace); 0 models no VM (a released buffer's data is gone). At least 5 per
   * buffer otherwise (maxbufspace, and a page a buffer may straddle).
   */
  vmPages?: number;
  /** vm_paging_min's mark: free + cache pages below it is a page shortage (default vmPages / 16). */
  vmFreeMin?: number;
  /** Overrides of the RW sysctls (vfs.hidirtybufspace, ...). */
  sysctl?: Partial<Pick<BufTunables, 'lodirtybufspace' | 'hidirtybufspace' | 'lorunningspace' | 'hirunningspace' | 'flushperqueue'>>;
}

export interface ResolvedBufCache extends Required<Omit<BufCacheSpec, 'sysctl' | 'queueSets'>> {
  queueSets: number | null;
  tunables: BufTunables;
}

export const NBUF_MAX = 16384;
export const NVNODES_MAX = 256;

function check(cond: boolean, what: string, v: unknown): void {
  if (!cond) throw new RangeError(`bufcache: ${what}, got ${JSON.stringify(v)}`);
}

/** Validate and fill in defaults; `devBlockSize`/`devBlocks` describe the device the files live on. */
export function resolveBufCache(s: BufCacheSpec, devBlockSize: number, devBlocks: number): ResolvedBufCache {
  check(typeof s === 'object' && s !== null, 'spec.bufcache must be an object', s);
  check(Number.isInteger(s.nbuf) && s.nbuf >= 16 && s.nbuf <= NBUF_MAX, `nbuf must be an integer in [16, ${NBUF_MAX}]`, s.nbuf);
  const bsize = s.bsize ?? 16384;
  check(Number.isInteger(bsize) && bsize >= devBlockSize && bsize <= MAXBSIZE && bsize % devBlockSize === 0 && bsize % DEV_BSIZE === 0,
    `bsize must be a multiple of the device block size (${devBlockSize}) and at most MAXBSIZE (${MAXBSIZE})`, bsize);
  const files = s.files ?? 4;
  check(Number.isInteger(files) && files >= 1 && files <= NVNODES_MAX, `files must be an integer in [1, ${NVNODES_MAX}]`, files);
  const perFile = Math.floor((devBlocks * devBlockSize) / bsize / files);
  const fileBlocks = s.fileBlocks ?? perFile;
  check(Number.isInteger(fileBlocks) && fileBlocks >= 1, 'fileBlocks must be a positive integer', fileBlocks);
  check(files * fileBlocks * bsize <= devBlocks * devBlockSize, `files × fileBlocks × bsize (${files * fileBlocks * bsize} bytes) must fit on the device (${devBlocks * devBlockSize} bytes)`, fileBlocks);
  const heavyFiles = s.heavyFiles ?? 0;
  check(Number.isInteger(heavyFiles) && heavyFiles >= 0 && heavyFiles <= files, 'heavyFiles must be an integer in [0, files]', heavyFiles);
  const hzMs = s.hzMs ?? 1000;
  check(Number.isFinite(hzMs) && hzMs >= 1 && hzMs <= 10_000, 'hzMs must be a number in [1, 10000]', hzMs);
  // At least 100: the seed sleeps hz / 100 ticks in places, and 0 ticks would be no timeout.
  const hz = s.hz ?? 100;
  check(Number.isInteger(hz) && hz >= 100 && hz <= 10_000, 'hz must be an integer in [100, 10000]', hz);
  const vmPages = s.vmPages ?? 8 * s.nbuf;
  check(vmPages === 0 || (Number.isInteger(vmPages) && vmPages >= 5 * s.nbuf && vmPages <= 1 << 22), `vmPages must be 0 or an integer in [5 × nbuf (${5 * s.nbuf}), ${1 << 22}]`, vmPages);
  const vmFreeMin = s.vmFreeMin ?? cdiv(vmPages, 16);
  check(Number.isInteger(vmFreeMin) && vmFreeMin >= 0 && vmFreeMin <= vmPages, 'vmFreeMin must be an integer in [0, vmPages]', vmFreeMin);
  const tunables = { ...bufinitTunables(s.nbuf) };
  for (const [k, v] of Object.entries(s.sysctl ?? {})) {
    check(k in tunables && k !== 'nbuf', `sysctl.${k} is not a writable vfs sysctl`, k);
    check(Number.isInteger(v) && (v as number) >= 1 && (v as number) < 2 ** 31, `sysctl.${k} must be a positive integer`, v);
    (tunables as unknown as Record<string, number>)[k] = v as number;
  }
  const queueSets = s.queueSets ?? null;
  check(queueSets === null || (Number.isInteger(queueSets) && queueSets >= 1 && queueSets <= 256), 'queueSets must be an integer in [1, 256]', queueSets);
  return { queueSets, nbuf: s.nbuf, unit: s.unit ?? 0, files, fileBlocks, bsize, heavyFiles, globalQueues: s.globalQueues ?? false, hz, hzMs, vmPages, vmFreeMin, tunables };
}
