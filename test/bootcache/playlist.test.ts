import { expect } from 'chai';
import { BC_HE_HIT, BC_HE_MISS, BC_HE_TAG, BC_HE_WRITE, PH_MAGIC } from '../../src/bootcache/defs.js';
import { formatPlaylistText, parseHistory, formatHistoryText, parsePlaylist, playlistFromHistory } from '../../src/bootcache/playlist.js';
import { parseTrace } from '../../src/bootcache/workload.js';
import { KernelError } from '../../src/sync/errno.js';

function err(f: () => unknown): KernelError {
  try {
    f();
  } catch (e) {
    expect(e).to.be.instanceOf(KernelError);
    return e as KernelError;
  }
  throw new Error('expected an error');
}

describe('bootcache: playlists and the boot loop', () => {
  const good = `# a playlist\nmagic 0xa1b2c3d4\nblocksize 512\nentries 3\n0 4096 0\n8192 1024 1   # comment\n\n16384 512 0\n`;

  it('loads the text format and writes it back', () => {
    const p = parsePlaylist(good);
    expect(p.ph_magic).to.equal(PH_MAGIC);
    expect(p.ph_blocksize).to.equal(512);
    expect(p.entries).to.deep.equal([
      { pce_offset: 0, pce_length: 4096, pce_batch: 0 },
      { pce_offset: 8192, pce_length: 1024, pce_batch: 1 },
      { pce_offset: 16384, pce_length: 512, pce_batch: 0 },
    ]);
    expect(parsePlaylist(formatPlaylistText(p))).to.deep.equal(p);
  });

  it('loads JSON', () => {
    const p = parsePlaylist(JSON.stringify({ ph_magic: '0xa1b2c3d4', ph_blocksize: 4096, entries: [{ pce_offset: 0, pce_length: 8192, pce_batch: 2 }] }));
    expect(p.entries[0].pce_batch).to.equal(2);
  });

  it('rejects with EINVAL and the line: bad magic, unsorted, overlapping, unaligned lengths, bad numbers, entry counts', () => {
    const cases: [string, RegExp][] = [
      ['magic 0x1234\nblocksize 512\n0 512 0\n', /bad magic/],
      ['magic 0xa1b2c3d4\nblocksize 512\n4096 512 0\n0 512 0\n', /line 4: entries are not sorted/],
      ['magic 0xa1b2c3d4\nblocksize 512\n0 4096 0\n\n2048 512 0\n', /line 5: entry overlaps/],
      ['magic 0xa1b2c3d4\nblocksize 512\n0 700 0\n', /line 3: length 700 is not a multiple of the block size 512/],
      ['magic 0xa1b2c3d4\nblocksize 512\n0 x 0\n', /line 3: length must be a non-negative integer/],
      ['magic 0xa1b2c3d4\nblocksize 512\n0 512\n', /line 3: expected "offset length batch"/],
      ['magic 0xa1b2c3d4\nblocksize 512\nentries 2\n0 512 0\n', /declares 2 entries but has 1/],
      ['blocksize 512\n0 512 0\n', /line 2: missing "magic"/],
      ['magic 0xa1b2c3d4\nblocksize 500\n', /blocksize must be a power of two/],
      ['magic 0xa1b2c3d4\nblocksize 512\n0 512 300\n', /line 3: batch 300/],
    ];
    for (const [text, re] of cases) {
      const e = err(() => parsePlaylist(text));
      expect(e.code, text).to.equal('EINVAL');
      expect(e.message, text).to.match(re);
    }
    expect(err(() => parsePlaylist('{"ph_magic": 1, "ph_blocksize": 512, "entries": []}')).message).to.match(/bad magic/);
    expect(err(() => parsePlaylist('{"ph_magic": 2712847316, "ph_blocksize": 512, "entries": [{"pce_offset": 0, "pce_length": 100}]}')).message).to.match(/entry 0: length 100/);
  });

  it('the boot loop: sorts, merges adjacent and overlapping reads, batches by tags, drops writes', () => {
    const h = [
      { he_offset: 8192, he_length: 4096, he_flags: BC_HE_HIT },
      { he_offset: 0, he_length: 4096, he_flags: BC_HE_MISS },
      { he_offset: 1, he_length: 0, he_flags: BC_HE_TAG },
      { he_offset: 4096, he_length: 4096, he_flags: BC_HE_MISS }, // adjacent to 0..4096 and 8192..: merged into one
      { he_offset: 65536, he_length: 1024, he_flags: BC_HE_HIT },
      { he_offset: 65536 + 512, he_length: 1024, he_flags: BC_HE_MISS }, // overlaps
      { he_offset: 200000, he_length: 4096, he_flags: BC_HE_WRITE },
      { he_offset: 300000, he_length: 100, he_flags: BC_HE_MISS }, // rounded out to blocks
    ];
    const p = playlistFromHistory(h, 512);
    expect(p.entries).to.deep.equal([
      { pce_offset: 0, pce_length: 12288, pce_batch: 0 },
      { pce_offset: 65536, pce_length: 1536, pce_batch: 1 },
      { pce_offset: 299520, pce_length: 1024, pce_batch: 1 },
    ]);
    // Without tags, batches split the first-use order.
    const q = playlistFromHistory(h.filter((e) => e.he_flags !== BC_HE_TAG), 512, 2);
    expect(q.entries.map((e) => e.pce_batch)).to.deep.equal([0, 0, 1]); // first uses at 1, 3, 6 of 7
    expect(parseHistory(formatHistoryText(h))).to.deep.equal(h);
  });

  it('parses traces and rejects bad lines with EINVAL', () => {
    expect(parseTrace('R 0 4096\nW 512 512 # w\nT 3\n')).to.deep.equal([
      { op: 'R', offset: 0, length: 4096 },
      { op: 'W', offset: 512, length: 512 },
      { op: 'T', offset: 3, length: 0 },
    ]);
    expect(err(() => parseTrace('R 0 4096\nX 1 2\n')).message).to.match(/trace line 2/);
  });
});
