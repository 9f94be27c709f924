/**
 * struct buf and struct bio, as far as the I/O path needs them.
 *
 * A buf carries one I/O: command, flags, sizes, error/resid, a data pointer into page memory,
 * its lock (BUF_LOCK) and a chain of NBUF_BIO bios (b_bio1 is the logical layer, b_bio2 the
 * device layer; push_bio/pop_bio move along it, each bio with its own offset translation and an
 * optional `bio_done` callback).
 *
 * The I/O fields come first and are exported as `BUF_IO_FIELDS`, so a subsystem with richer
 * buffers (the buffer cache) appends its own fields and the device layer works on both.
 * Callbacks (`bio_done`, the buffer's completion ops `b_ops`) are stored as interned names and
 * resolved in whichever worker completes the I/O (see bio.ts).
 */
import { type FieldSpec, defineStruct } from '../shm/layout.js';
import { LockLayout } from '../sync/layouts.js';

export const NBUF_BIO = 4;
/** bio_offset value meaning "no translation cached". */
export const NOOFFSET = -1;

/** b_cmd */
export const BUF_CMD_DONE = 0;
export const BUF_CMD_READ = 1;
export const BUF_CMD_WRITE = 2;
export const BUF_CMD_FREEBLKS = 3;
export const BUF_CMD_FORMAT = 4;
export const BUF_CMD_FLUSH = 5;
export const BUF_CMD_NAMES = ['DONE', 'READ', 'WRITE', 'FREEBLKS', 'FORMAT', 'FLUSH'];

/** b_flags (DragonFly values). */
export const B_AGE = 0x00000001;
export const B_NEEDCOMMIT = 0x00000002;
export const B_NOTMETA = 0x00000004;
export const B_DIRECT = 0x00000008;
export const B_DEFERRED = 0x00000010;
export const B_CACHE = 0x00000020;
export const B_HASHED = 0x00000040;
export const B_DELWRI = 0x00000080;
export const B_BNOCLIP = 0x00000100;
export const B_KVABIO = 0x00000200;
export const B_EINTR = 0x00000400;
export const B_ERROR = 0x00000800;
export const B_IOISSUED = 0x00001000;
export const B_INVAL = 0x00002000;
export const B_LOCKED = 0x00004000;
export const B_NOCACHE = 0x00008000;
export const B_MARKER = 0x00010000;
export const B_RAW = 0x00020000;
export const B_HEAVY = 0x00040000;
export const B_DIRTY = 0x00080000;
export const B_RELBUF = 0x00400000;
export const B_VNCLEAN = 0x01000000; // on its vnode's clean list
export const B_VNDIRTY = 0x02000000; // on its vnode's dirty list
export const B_AGING = 0x00800000; // kiolab: second-chance mark set by getnewbuf on B_AGE buffers
export const B_VMIO = 0x20000000;
export const B_CLUSTER = 0x40000000;
export const B_PAGING = 0x04000000; // swap I/O (NetBSD's B_PAGEIO role)
export const B_ASYNC = 0x00200000; // kiolab: completion releases the buffer (bawrite, readahead)

const FLAG_NAMES: [number, string][] = [
  [B_AGE, 'B_AGE'],
  [B_NEEDCOMMIT, 'B_NEEDCOMMIT'],
  [B_NOTMETA, 'B_NOTMETA'],
  [B_DIRECT, 'B_DIRECT'],
  [B_DEFERRED, 'B_DEFERRED'],
  [B_CACHE, 'B_CACHE'],
  [B_HASHED, 'B_HASHED'],
  [B_DELWRI, 'B_DELWRI'],
  [B_BNOCLIP, 'B_BNOCLIP'],
  [B_KVABIO, 'B_KVABIO'],
  [B_EINTR, 'B_EINTR'],
  [B_ERROR, 'B_ERROR'],
  [B_IOISSUED, 'B_IOISSUED'],
  [B_INVAL, 'B_INVAL'],
  [B_LOCKED, 'B_LOCKED'],
  [B_NOCACHE, 'B_NOCACHE'],
  [B_MARKER, 'B_MARKER'],
  [B_RAW, 'B_RAW'],
  [B_HEAVY, 'B_HEAVY'],
  [B_DIRTY, 'B_DIRTY'],
  [B_ASYNC, 'B_ASYNC'],
  [B_RELBUF, 'B_RELBUF'],
  [B_VNCLEAN, 'B_VNCLEAN'],
  [B_VNDIRTY, 'B_VNDIRTY'],
  [B_AGING, 'B_AGING'],
  [B_PAGING, 'B_PAGING'],
  [B_VMIO, 'B_VMIO'],
  [B_CLUSTER, 'B_CLUSTER'],
];

/** `B_CACHE|B_DELWRI` style rendering of b_flags, for error messages. */
export function bflagsToString(flags: number): string {
  const out: string[] = [];
  let rest = flags >>> 0;
  for (const [bit, name] of FLAG_NAMES) {
    if (flags & bit) {
      out.push(name);
      rest &= ~bit >>> 0;
    }
  }
  if (rest) out.push(`0x${rest.toString(16)}`);
  return out.length ? out.join('|') : '0';
}

/** bio_flags */
export const BIO_SYNC = 0x40000000;
export const BIO_DONE = 0x20000000;
export const BIO_WANT = 0x10000000; // kiolab keeps DragonFly's roles; the values only need to be distinct

/**
 * struct bio. 64 bytes.
 *  bio_flags    atomic: BIO_DONE / BIO_WANT / BIO_SYNC (the biowait/biodone handshake).
 *  bio_buf      address of the owning buf (set by initbufbio).
 *  bio_prev/next  chain links (addresses, 0 = none).
 *  bio_offset_lo/hi  byte offset of this layer's translation (NOOFFSET: none). Set by the issuer
 *               before strategy; read by the layer below.
 *  bio_done     name id of the completion callback, 0 = none. Cleared by biodone before calling.
 *  bio_track    address of a bio_track this bio holds a reference on, 0 = none.
 *  bio_caller1/2  opaque words for the callback (the kernel's bio_caller_info1/2).
 *  bio_driver   driver word (nestiobuf's count of outstanding children).
 *  bio_actnext  device queue link (protected by the device's queue spinlock).
 *  bio_serial   request serial number, assigned by the device at strategy time.
 */
export const BioLayout = defineStruct(
  'bio',
  {
    bio_flags: 'i32',
    bio_buf: 'i32',
    bio_prev: 'i32',
    bio_next: 'i32',
    bio_offset_lo: 'i32',
    bio_offset_hi: 'i32',
    bio_done: 'i32',
    bio_track: 'i32',
    bio_caller1: 'i32',
    bio_caller2: 'i32',
    bio_driver: 'i32',
    bio_actnext: 'i32',
    bio_serial: 'i32',
    bio_issued: 'i32',
  },
  { align: 64 },
);
export type BioField = keyof typeof BioLayout.off;

/**
 * The I/O part of struct buf. Protected by the buffer lock (b_lock) unless noted.
 *  b_flags      atomic where completions may race (nestiobuf sets B_ERROR atomically).
 *  b_cmd        BUF_CMD_*; set by the issuer, set to DONE by bpdone.
 *  b_bcount     bytes requested; b_bufsize: bytes of page memory reserved.
 *  b_resid      bytes not transferred (set by the device).
 *  b_error      errno of a failed transfer.
 *  b_data       arena byte address of the data.
 *  b_dev        index of the device the I/O targets (for pass-through layers).
 *  b_ops        name id of the owner's completion ops (bpdone / runningbufwakeup), 0 = generic.
 *  b_runningbufspace  bytes charged to runningbufspace while the write is in flight.
 *  b_owner      owning subsystem's index of this buf (pool index), for messages.
 */
export const BUF_IO_FIELDS = {
  b_lock: { struct: LockLayout },
  b_flags: { line: 'i32' },
  b_cmd: 'i32',
  b_bcount: 'i32',
  b_bufsize: 'i32',
  b_resid: 'i32',
  b_error: 'i32',
  b_data: 'i32',
  b_dev: 'i32',
  b_ops: 'i32',
  b_runningbufspace: 'i32',
  b_owner: 'i32',
  b_bio: { struct: BioLayout },
  b_bio_2: { struct: BioLayout },
  b_bio_3: { struct: BioLayout },
  b_bio_4: { struct: BioLayout },
} satisfies Record<string, FieldSpec>;

/** A plain I/O buffer (pbuf / iobuf): just the I/O fields. */
export const IoBufLayout = defineStruct('iobuf', BUF_IO_FIELDS, { align: 64 });
export type BufIoField = keyof typeof BUF_IO_FIELDS;

/** Address of b_bio1 (the first bio) of buffer `bp`. */
export function b_bio1(bp: number): number {
  return bp + IoBufLayout.off.b_bio * 4;
}
/** Address of b_bio2 (the device layer's bio) of buffer `bp`. */
export function b_bio2(bp: number): number {
  return bp + IoBufLayout.off.b_bio_2 * 4;
}
