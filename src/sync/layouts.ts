/**
 * Shared structs of the synchronization layer. Each struct is one or more cache lines so that
 * words written by different CPUs never share a line.
 */
import { defineStruct } from '../shm/layout.js';

/**
 * A lock: spinlock or sleep lock (mutex). 64 bytes.
 *  lk_word     atomic. spin: 0 free, TOK_EXCLUSIVE held exclusive, n * TOK_INCR held shared by
 *              n cpus. mutex: 0 free, 1 locked, 2 locked with waiters.
 *  lk_owner    owner cpu + 1, 0 when free or held shared; written by the exclusive holder
 *              (plain), read for diagnostics.
 *  lk_class    name id of the lock class (for the lock table); set at init.
 *  lk_kind     LK_SPIN or LK_MTX; set at init.
 *  lk_next     the lock registry's link (for snapshots): the next registered lock's address, -1
 *              at the end; 0 until the first lock_init, which links it once (a re-init keeps it).
 *  counters    written inside the critical section (the lock protects them): plainly by an
 *              exclusive holder, atomically by shared holders (who may be several at once);
 *              64-bit values as lo/hi word pairs.
 */
export const LockLayout = defineStruct(
  'lock',
  {
    lk_word: 'i32',
    lk_owner: 'i32',
    lk_class: 'i32',
    lk_kind: 'i32',
    lk_acq_lo: 'i32',
    lk_acq_hi: 'i32',
    lk_contended_lo: 'i32',
    lk_contended_hi: 'i32',
    lk_spins_lo: 'i32',
    lk_spins_hi: 'i32',
    lk_sleeps_lo: 'i32',
    lk_sleeps_hi: 'i32',
    lk_waitus_lo: 'i32',
    lk_waitus_hi: 'i32',
    lk_maxwaitus: 'i32',
    lk_next: 'i32',
  },
  { align: 64, internal: true },
);
export type LockField = keyof typeof LockLayout.off;

export const LK_SPIN = 1;
export const LK_MTX = 2;

/**
 * A spinlock's lk_word, as DragonFly's token count (t_count): the exclusive holder's bit, and what
 * each shared holder adds (no TOK_EXCLREQ: a waiting exclusive locker does not hold off new
 * shared ones).
 */
export const TOK_EXCLUSIVE = 1;
export const TOK_INCR = 2;

/**
 * Per-CPU thread record (the kernel's `struct thread` as far as sleeping goes). Four lines:
 * only the first is written by other cpus (wakers).
 *  td_wchan       atomic. Sleep channel (arena address) this cpu is interlocked on, 0 when none.
 *                 Set by the owner; cleared by a waker (CAS ident→0) or by the owner on timeout.
 *  td_wakegen     atomic. Bumped by a waker after it cleared td_wchan; the owner Atomics.waits on it.
 *  td_blockaddr   atomic. Lock address this cpu waits for (mutex sleep or spin), 0 when none.
 *  td_blockkind   atomic. LK_SPIN / LK_MTX while td_blockaddr is set.
 *  td_tid         atomic. The host thread id of the worker running this cpu (0: unknown, or the
 *                 host does not say); written by the owner in thread_start, read by the main
 *                 thread to ask the host how that thread is scheduled (hostthread.ts).
 */
export const ThreadLayout = defineStruct(
  'thread',
  {
    // line 0: written by wakers and the owner
    td_wchan: { line: 'i32' },
    td_wakegen: 'i32',
    // line 1: lock waits, written by the owner, read by snapshots
    td_blockaddr: { line: 'i32' },
    td_blockkind: 'i32',
    td_blocksince: 'i32',
    // line 2: owner-only sleep bookkeeping, read by snapshots and wakeup_one
    td_wmesg: { line: 'i32' },
    td_flags: 'i32',
    td_sleepstart: 'i32',
    td_sleepseq: 'i32',
    td_role: 'i32',
    td_alive: 'i32',
    td_nsleeps: 'i32',
    td_nwoken: 'i32',
    td_ntimeouts: 'i32',
    td_progress: 'i32',
    td_tid: 'i32',
    // where this cpu's time went (the report's per-role breakdown): its role's start and end
    // (ms since the arena's epoch, 0 while it has not started or not ended), and µs spent
    // waiting for locks (spinning or asleep on a sleep lock), asleep for an I/O to complete
    // (PIOWAIT sleeps), and serving requests as a device worker (the transfer and the latency
    // model; not a tsleep); lo/hi word pairs. Its time asleep is its sleep statistics' sum.
    td_runstart: 'i32',
    td_runend: 'i32',
    td_lockwait_lo: 'i32',
    td_lockwait_hi: 'i32',
    td_iowait_lo: 'i32',
    td_iowait_hi: 'i32',
    td_devbusy_lo: 'i32',
    td_devbusy_hi: 'i32',
    // line 3: the word a spinning cpu waits on to give its core away
    td_yield: { line: 'i32' },
  },
  { align: 64, internal: true },
);
export type ThreadField = keyof typeof ThreadLayout.off;

/** td_flags */
export const TDF_SLEEPING = 0x1;
export const TDF_INTERLOCKED = 0x2;

/** A sleep queue bucket: how many cpus are interlocked on channels hashing here. */
export const SleepBucketLayout = defineStruct('sleepq', { sq_count: { line: 'i32' } }, { internal: true });

/** One interned name (a wmesg or a lock class). 32 bytes; written once, before nm_ready is published. */
export const NAME_CHARS = 6; // 6 words = 24 bytes of UTF-8
export const NameLayout = defineStruct('name', {
  nm_ready: 'i32',
  nm_len: 'i32',
  nm_chars: { i32: NAME_CHARS },
}, { internal: true });

/**
 * Sleep statistics of one cpu for one wmesg (the sleep table sums them over cpus). 32 bytes.
 * Written by the owning cpu only (plain writes); read as samples.
 */
export const SleepStatLayout = defineStruct('sleepstat', {
  ss_sleeps: 'i32',
  ss_wakeups: 'i32',
  ss_timeouts: 'i32',
  ss_maxus: 'i32',
  ss_totalus_lo: 'i32',
  ss_totalus_hi: 'i32',
}, { internal: true });

/** Machine-wide words of the sync layer. */
export const SyncGlobalsLayout = defineStruct(
  'syncglobals',
  {
    sg_names_lock: { struct: LockLayout },
    sg_nnames: 'i32',
    /** The lock registry: the last registered lock (0: none), linked through lk_next, and the count. */
    sg_locks: 'i32',
    sg_nlocks: 'i32',
    sg_shutdown: { line: 'i32' },
    sg_sleepseq: { line: 'i32' },
  },
  { align: 64, internal: true },
);
