/**
 * Playlists (struct BC_playlist_header + struct BC_playlist_entry[]) and history entries
 * (struct BC_history_entry): loading, validating, writing, and the boot loop that turns the
 * history of one run into the playlist of the next.
 *
 * Text format (documented; `#` starts a comment, blank lines are ignored):
 *
 *     magic 0xa1b2c3d4        # ph_magic, first
 *     blocksize 512           # ph_blocksize
 *     entries 3               # ph_entries (optional; checked when present)
 *     0 65536 0               # pce_offset pce_length pce_batch (bytes, bytes, 0..255)
 *     131072 8192 1
 *
 * JSON: `{ "ph_magic": 2712847316, "ph_blocksize": 512, "entries": [{ "pce_offset": 0, "pce_length": 65536, "pce_batch": 0 }] }`
 * (`ph_magic` may also be the string "0xa1b2c3d4"). Errors are `EINVAL` and name the line (text)
 * or the entry (JSON).
 */
import { EINVAL, KernelError } from '../sync/errno.js';
import { BC_HE_HIT, BC_HE_MISS, BC_HE_TAG, BC_MAXENTRIES, CE_BATCH_MASK, PH_MAGIC } from './defs.js';

export interface BC_playlist_entry {
  pce_offset: number;
  pce_length: number;
  pce_batch: number;
}

export interface Playlist {
  ph_magic: number;
  ph_blocksize: number;
  entries: BC_playlist_entry[];
}

export interface BC_history_entry {
  he_offset: number;
  he_length: number;
  he_flags: number;
}

function bad(where: string, what: string): never {
  throw new KernelError(EINVAL, `playlist ${where}: ${what}`);
}

function num(s: string, where: string, what: string): number {
  const n = /^0x[0-9a-f]+$/i.test(s) ? parseInt(s, 16) : /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n)) bad(where, `${what} must be a non-negative integer, got ${JSON.stringify(s)}`);
  return n;
}

/**
 * Check a playlist: magic, block size, entries sorted by offset and not overlapping, offsets and
 * lengths multiples of the block size, batches in 0..255. `where(i)` names entry i for messages.
 */
export function validatePlaylist(p: Playlist, where: (i: number) => string = (i) => `entry ${i}`): Playlist {
  if (typeof p.ph_magic !== 'number' || p.ph_magic >>> 0 !== PH_MAGIC) bad('header', `bad magic 0x${(p.ph_magic >>> 0).toString(16)}, expected 0x${(PH_MAGIC >>> 0).toString(16)}`);
  const bs = p.ph_blocksize;
  if (!Number.isInteger(bs) || bs < 512 || (bs & (bs - 1)) !== 0) bad('header', `blocksize must be a power of two >= 512, got ${bs}`);
  if (p.entries.length > BC_MAXENTRIES) bad('header', `${p.entries.length} entries, more than BC_MAXENTRIES (${BC_MAXENTRIES})`);
  let end = -1;
  let prev = -1;
  p.entries.forEach((e, i) => {
    const w = where(i);
    for (const k of ['pce_offset', 'pce_length', 'pce_batch'] as const) {
      if (!Number.isSafeInteger(e[k]) || e[k] < 0) bad(w, `${k} must be a non-negative integer, got ${JSON.stringify(e[k])}`);
    }
    if (e.pce_length === 0) bad(w, 'length 0');
    if (e.pce_offset % bs !== 0) bad(w, `offset ${e.pce_offset} is not a multiple of the block size ${bs}`);
    if (e.pce_length % bs !== 0) bad(w, `length ${e.pce_length} is not a multiple of the block size ${bs}`);
    if (e.pce_batch > CE_BATCH_MASK) bad(w, `batch ${e.pce_batch} is above ${CE_BATCH_MASK}`);
    if (e.pce_offset < prev) bad(w, `entries are not sorted by offset (${e.pce_offset} after ${prev})`);
    if (e.pce_offset < end) bad(w, `entry overlaps the previous one (starts at ${e.pce_offset}, previous ends at ${end})`);
    prev = e.pce_offset;
    end = e.pce_offset + e.pce_length;
  });
  return p;
}

/** Parse the text format. */
export function parsePlaylistText(text: string): Playlist {
  let magic: number | null = null;
  let bs: number | null = null;
  let declared: number | null = null;
  const entries: BC_playlist_entry[] = [];
  const lines: number[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const ln = i + 1;
    const w = `line ${ln}`;
    const s = raw.replace(/#.*/, '').trim();
    if (!s) return;
    const f = s.split(/\s+/);
    if (f[0] === 'magic' || f[0] === 'blocksize' || f[0] === 'entries') {
      if (f.length !== 2) bad(w, `expected "${f[0]} <number>"`);
      if (entries.length) bad(w, `"${f[0]}" after the first entry`);
      const v = num(f[1], w, f[0]);
      if (f[0] === 'magic') magic = v;
      else if (f[0] === 'blocksize') bs = v;
      else declared = v;
      return;
    }
    if (magic === null) bad(w, 'missing "magic" header before the first entry');
    if (f.length !== 3) bad(w, `expected "offset length batch", got ${JSON.stringify(s)}`);
    entries.push({ pce_offset: num(f[0], w, 'offset'), pce_length: num(f[1], w, 'length'), pce_batch: num(f[2], w, 'batch') });
    lines.push(ln);
  });
  if (magic === null) bad('header', 'missing "magic" line');
  if (bs === null) bad('header', 'missing "blocksize" line');
  if (declared !== null && declared !== entries.length) bad('header', `declares ${declared} entries but has ${entries.length}`);
  return validatePlaylist({ ph_magic: magic, ph_blocksize: bs, entries }, (i) => `line ${lines[i]}`);
}

/** Parse the JSON format. */
export function parsePlaylistJSON(text: string): Playlist {
  let o: any;
  try {
    o = JSON.parse(text);
  } catch (e) {
    bad('JSON', (e as Error).message);
  }
  if (typeof o !== 'object' || o === null || !Array.isArray(o.entries)) bad('JSON', 'expected an object with "ph_magic", "ph_blocksize" and "entries"');
  const magic = typeof o.ph_magic === 'string' ? num(o.ph_magic, 'header', 'ph_magic') : o.ph_magic;
  if (o.ph_entries !== undefined && o.ph_entries !== o.entries.length) bad('header', `ph_entries is ${o.ph_entries} but there are ${o.entries.length} entries`);
  const entries = (o.entries as any[]).map((e, i) => {
    if (typeof e !== 'object' || e === null) bad(`entry ${i}`, 'not an object');
    return { pce_offset: e.pce_offset, pce_length: e.pce_length, pce_batch: e.pce_batch ?? 0 };
  });
  return validatePlaylist({ ph_magic: magic, ph_blocksize: o.ph_blocksize, entries });
}

/** Parse either format (JSON when the text starts with `{`). */
export function parsePlaylist(text: string): Playlist {
  return text.trimStart().startsWith('{') ? parsePlaylistJSON(text) : parsePlaylistText(text);
}

export function formatPlaylistText(p: Playlist): string {
  const head = `# kiolab BootCache playlist: offset length batch (bytes)\nmagic 0x${(p.ph_magic >>> 0).toString(16)}\nblocksize ${p.ph_blocksize}\nentries ${p.entries.length}\n`;
  return head + p.entries.map((e) => `${e.pce_offset} ${e.pce_length} ${e.pce_batch}\n`).join('');
}

/**
 * The boot loop: a playlist from a history. Reads (hits and misses) are cut to the block size,
 * sorted by offset, and adjacent or overlapping ranges merged. A range's batch is the number of
 * tags recorded before its first use (the userland's batches); with no tags, `batches` > 1 splits
 * the first-use order into that many equal groups. Writes and tags themselves are not played.
 */
export function playlistFromHistory(history: BC_history_entry[], blocksize: number, batches = 1): Playlist {
  if (!Number.isInteger(batches) || batches < 1 || batches > CE_BATCH_MASK + 1) throw new RangeError(`playlist: batches must be an integer in [1, 256], got ${batches}`);
  const reads: { off: number; end: number; first: number; tagBatch: number }[] = [];
  let tags = 0;
  history.forEach((h, i) => {
    if (h.he_flags === BC_HE_TAG) {
      tags++;
      return;
    }
    if ((h.he_flags !== BC_HE_HIT && h.he_flags !== BC_HE_MISS) || h.he_length <= 0) return;
    const off = Math.floor(h.he_offset / blocksize) * blocksize;
    const end = Math.ceil((h.he_offset + h.he_length) / blocksize) * blocksize;
    reads.push({ off, end, first: i, tagBatch: Math.min(tags, CE_BATCH_MASK) });
  });
  const n = history.length || 1;
  const batchOf = (r: (typeof reads)[number]) => (tags > 0 ? r.tagBatch : Math.min(batches - 1, Math.floor((r.first * batches) / n)));
  reads.sort((a, b) => a.off - b.off || a.end - b.end);
  const merged: { off: number; end: number; batch: number }[] = [];
  for (const r of reads) {
    const last = merged[merged.length - 1];
    if (last && r.off <= last.end) {
      last.end = Math.max(last.end, r.end);
      last.batch = Math.min(last.batch, batchOf(r));
    } else {
      merged.push({ off: r.off, end: r.end, batch: batchOf(r) });
    }
  }
  return validatePlaylist({
    ph_magic: PH_MAGIC,
    ph_blocksize: blocksize,
    entries: merged.map((m) => ({ pce_offset: m.off, pce_length: m.end - m.off, pce_batch: m.batch })),
  });
}

/** History as text: one `hit|miss|write|tag offset length` per line. */
export function formatHistoryText(h: BC_history_entry[]): string {
  const names = ['hit', 'miss', 'tag', 'write'];
  return h.map((e) => `${names[e.he_flags] ?? e.he_flags} ${e.he_offset} ${e.he_length}\n`).join('');
}

/** Parse a history written by `formatHistoryText` or as JSON (an array of entries, or `{ history: [...] }`). */
export function parseHistory(text: string): BC_history_entry[] {
  const t = text.trimStart();
  if (t.startsWith('[') || t.startsWith('{')) {
    const o = JSON.parse(t);
    const arr = Array.isArray(o) ? o : o.history;
    if (!Array.isArray(arr)) throw new KernelError(EINVAL, 'history JSON: expected an array of entries or { "history": [...] }');
    return arr as BC_history_entry[];
  }
  const names: Record<string, number> = { hit: 0, miss: 1, tag: 2, write: 3 };
  const out: BC_history_entry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const s = raw.replace(/#.*/, '').trim();
    if (!s) return;
    const f = s.split(/\s+/);
    const fl = names[f[0]];
    if (fl === undefined || f.length !== 3) throw new KernelError(EINVAL, `history line ${i + 1}: expected "hit|miss|write|tag offset length", got ${JSON.stringify(s)}`);
    out.push({ he_flags: fl, he_offset: num(f[1], `history line ${i + 1}`, 'offset'), he_length: num(f[2], `history line ${i + 1}`, 'length') });
  });
  return out;
}
