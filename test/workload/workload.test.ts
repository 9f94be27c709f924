/**
 * The workload reader (src/workload): fio iolog v2/v3, blkparse text and kiolab lines parsed,
 * detected and laid out on one flat device; every malformed line named by file:line; requests
 * dealt to callers by tid or round-robin; the one-line description; the file checks of
 * loadWorkload; and the recorded fio example in examples/workloads/.
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assignCallers, describeWorkload, detectFormat, loadWorkload, parseWorkload, type Workload, WorkloadError, type WorkloadFormat } from '../../src/workload/index.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const EXAMPLE = join(ROOT, 'examples/workloads/mixed-2files.iolog');
const MiB = 1024 * 1024;

/** The message of the WorkloadError `fn` throws. */
function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(WorkloadError);
    return (e as Error).message;
  }
  throw new Error('expected a WorkloadError');
}

const ops = (w: Workload) => w.requests.map((q) => `${q.op} ${q.offset} ${q.length}`);

const FIO_V2 = `fio version 2 iolog
/data/a add
/data/b add
/data/a open
/data/b open
/data/a read 0 4096
/data/b write 8192 8192
/data/a wait 1500 0
/data/a write 1048576 4096
/data/b sync 0 0
/data/a trim 0 4096
/data/a wait 500 0
/data/b read 0 512
/data/a close
/data/b close
`;

const FIO_V3 = `fio version 3 iolog
10 /tmp/j.0.0 add
14 /tmp/j.0.0 open
20 /tmp/j.0.0 read 4096 4096
270 /tmp/j.0.0 write 16384 16384
1270 /tmp/j.0.0 datasync 0 0
2020 /tmp/j.0.0 read 0 8192
2100 /tmp/j.0.0 close`;

// blkparse -i trace: two devices, two cpus (the cpu-1 event at 10.5 us printed after the
// cpu-0 one at 11.5 us), G/P/I/D/C events around the Q ones, a discard, a flush, a message, an
// event without its process name, and the summary.
const BLKPARSE = `  8,0    0        1     0.000000000   697  Q   W 223490 + 8 [kjournald]
  8,0    0        2     0.000001000   697  G   W 223490 + 8 [kjournald]
  8,0    0        3     0.000002000   697  P   N [kjournald]
  8,0    0        4     0.000003000   697  I   W 223490 + 8 [kjournald]
  8,0    1        1     0.000003500  1234  Q  RS 100 + 16 [fio]
  8,0    0        5     0.000004000   697  D   W 223490 + 8 [kjournald]
  8,0    1        2     0.000005000  1234  D  RS 100 + 16 [fio]
  8,0    0        6     0.000008000     0  C   W 223490 + 8 [0]
  8,0    1        3     0.000008500     0  C  RS 100 + 16 [0]
  8,16   1        4     0.000009000  1234  Q   D 5000 + 128 [fio]
  8,16   1        5     0.000010000  1234  Q  FW [fio]
  8,16   1        0     0.000010200     0  m   N cfq1234 some message
  8,0    0        7     0.000011500  1234  Q RAM 7 + 1
  8,16   1        6     0.000010500  1234  Q WFS 40 + 8 [fio]
CPU0 (8,0):
 Reads Queued:           0,        0KiB\t Writes Queued:           1,        4KiB
 Read Dispatches:        0,        0KiB\t Write Dispatches:        1,        4KiB
 Reads Requeued:         0\t\t Writes Requeued:         0
 Read depth:             1        \t Write depth:             1
 IO unplugs:             0        \t Timer unplugs:           0
CPU1 (8,0):
 Reads Queued:           2,        8KiB\t Writes Queued:           0,        0KiB

Total (8,0):
 Reads Queued:           2,        8KiB\t Writes Queued:           1,        4KiB

Throughput (R/W): 0KiB/s / 0KiB/s
Events (8,0): 10 entries
Skips: 1 forward (4 -  28.6%)
`;

const KIOLAB = `# a boot, by hand
T 1
R 0 4096          # the superblock
r 0x2000 0x1000
W 1048576 512
T 2
R 8192 8192
`;

describe('workload: fio iolog', () => {
  it('v2: files laid in order of their add lines, waits (microseconds) make it timed, sync and trim skipped', () => {
    const w = parseWorkload(FIO_V2, 'v2.log');
    expect(w.format).to.equal('fio-iolog-v2');
    expect(w.file).to.equal('v2.log');
    expect(w.timed).to.equal(true);
    expect(w.sources).to.deep.equal([
      { name: '/data/a', base: 0, bytes: 2 * MiB },
      { name: '/data/b', base: 2 * MiB, bytes: MiB },
    ]);
    expect(ops(w)).to.deep.equal(['R 0 4096', `W ${2 * MiB + 8192} 8192`, `W ${MiB} 4096`, `R ${2 * MiB} 512`]);
    expect(w.requests.map((q) => q.tid)).to.deep.equal([0, 1, 0, 1]);
    expect(w.requests.map((q) => q.t)).to.deep.equal([0, 0, 0.0015, 0.002]);
    expect(w.skipped).to.deep.equal({ 'fio sync': 1, trim: 1 });
    expect(w.tids).to.deep.equal([0, 1]);
    expect(w.extent).to.equal(2 * MiB + 16384);
  });

  it('v2 without wait lines is untimed; t is 0 throughout', () => {
    const w = parseWorkload(FIO_V2.replace(/^.* wait .*\n/gm, ''), 'v2.log');
    expect(w.timed).to.equal(false);
    expect(w.requests.every((q) => q.t === 0)).to.equal(true);
  });

  it('v3: timestamps in microseconds, t relative to the first request', () => {
    const w = parseWorkload(FIO_V3, 'v3.log');
    expect(w.format).to.equal('fio-iolog-v3');
    expect(w.timed).to.equal(true);
    expect(ops(w)).to.deep.equal(['R 4096 4096', 'W 16384 16384', 'R 0 8192']);
    expect(w.requests.map((q) => q.t)).to.deep.equal([0, 0.00025, 0.002]);
    expect(w.sources).to.deep.equal([{ name: '/tmp/j.0.0', base: 0, bytes: MiB }]);
    expect(w.skipped).to.deep.equal({ 'fio datasync': 1 });
  });

  it('malformed lines are named by file:line', () => {
    const v2 = (body: string) => failure(() => parseWorkload(`fio version 2 iolog\n/a add\n${body}\n/a read 0 4096\n`, 'f.log'));
    expect(v2('/a frobnicate 0 1')).to.match(/^f\.log:3: expected an action \(add, open, close, read, write, trim, sync, datasync, wait\), got "\/a frobnicate 0 1"$/);
    expect(v2('/a read 0')).to.equal('f.log:3: expected "read" to be followed by offset and length, got "/a read 0"');
    expect(v2('/a read -4096 4096')).to.equal('f.log:3: expected the offset as a whole number of bytes, got "/a read -4096 4096"');
    expect(v2('/a write 0 4096.5')).to.equal('f.log:3: expected the length as a whole number of bytes, got "/a write 0 4096.5"');
    expect(v2('/a read 9007199254740993 1')).to.equal('f.log:3: expected the offset as a whole number of bytes, got "/a read 9007199254740993 1"');
    expect(v2('/a write 4096 0')).to.equal('f.log:3: expected a length > 0, got "/a write 4096 0"');
    expect(v2('/b read 0 4096')).to.equal('f.log:3: expected an "add" line for /b before its I/O, got "/b read 0 4096"');
    expect(v2('/a add 0 1')).to.equal('f.log:3: expected nothing after "/a add", got "/a add 0 1"');
    expect(v2('justonefield')).to.match(/^f\.log:3: expected "filename add\|open\|close" or .*, got "justonefield"$/);
    const v3 = (body: string) => failure(() => parseWorkload(`fio version 3 iolog\n5 /a add\n100 /a read 0 4096\n${body}\n`, 'g.log'));
    expect(v3('99 /a read 0 4096')).to.equal('g.log:4: expected a timestamp >= 100 (time must not go backwards), got "99 /a read 0 4096"');
    expect(v3('200 /a wait 100 0')).to.equal('g.log:4: expected no "wait" in a v3 iolog (its timestamps carry the time), got "200 /a wait 100 0"');
    expect(v3('/a read 0 4096')).to.equal('g.log:4: expected a timestamp (whole microseconds) first, got "/a read 0 4096"');
    expect(failure(() => parseWorkload(FIO_V3, 'v3.log', { format: 'fio-iolog-v2' }))).to.equal('v3.log:1: expected the header "fio version 2 iolog", got "fio version 3 iolog"');
    expect(failure(() => parseWorkload('fio version 9 iolog\n/a add\n', 'h.log'))).to.equal('h.log:1: expected a fio iolog of version 2 or 3, got "fio version 9 iolog"');
    expect(failure(() => parseWorkload('fio version 2 iolog\n/a add\n/a sync 0 0\n', 'i.log'))).to.equal('i.log: no read or write requests (skipped: 1 fio sync)');
  });
});

describe('workload: blkparse', () => {
  it('one Q event per request, per-cpu streams merged by time, devices laid in order, the rest counted', () => {
    const w = parseWorkload(BLKPARSE, 'sda.txt');
    expect(w.format).to.equal('blkparse');
    expect(w.timed).to.equal(true);
    const sda = 110 * MiB; // (223490 + 8) sectors of 512 bytes, rounded up to 1 MiB
    expect(w.sources).to.deep.equal([
      { name: '8,0', base: 0, bytes: sda },
      { name: '8,16', base: sda, bytes: MiB },
    ]);
    expect(ops(w)).to.deep.equal([`W ${223490 * 512} 4096`, 'R 51200 8192', `W ${sda + 40 * 512} 4096`, 'R 3584 512']);
    expect(w.requests.map((q) => q.tid)).to.deep.equal([697, 1234, 1234, 1234]);
    const t = w.requests.map((q) => q.t);
    expect(t[0]).to.equal(0);
    expect(t[1]).to.be.closeTo(3.5e-6, 1e-12);
    expect(t[2]).to.be.closeTo(10.5e-6, 1e-12);
    expect(t[3]).to.be.closeTo(11.5e-6, 1e-12);
    expect(w.tids).to.deep.equal([697, 1234]);
    expect(w.extent).to.equal(sda + 48 * 512);
    expect(w.skipped).to.deep.equal({
      'blkparse action G': 1,
      'blkparse action P': 1,
      'blkparse action I': 1,
      'blkparse action D': 2,
      'blkparse action C': 2,
      trim: 1,
      'blkparse flush': 1,
      'blkparse message': 1,
      'blkparse summary': 13,
    });
  });

  it('a trace without Q events takes the D (issued) ones', () => {
    const text = ['  8,0    0        1     0.100000000    55  D   R 8 + 8 [dd]', '  8,0    0        2     0.100100000    55  C   R 8 + 8 [0]', '  8,0    0        3     0.200000000    55  D   W 16 + 8 [dd]'].join('\n');
    const w = parseWorkload(text, 'd.txt');
    expect(ops(w)).to.deep.equal(['R 4096 4096', 'W 8192 4096']);
    expect(w.requests[1].t).to.be.closeTo(0.1, 1e-12);
    expect(w.skipped).to.deep.equal({ 'blkparse action C': 1 });
  });

  it('malformed lines are named by file:line', () => {
    const ev = '  8,0    0        1     0.000000000   697  Q   W 8 + 8 [x]';
    expect(failure(() => parseWorkload(`${ev}\nnot an event\n`, 'b.txt'))).to.match(/^b\.txt:2: expected a blkparse event \(.*\) or a summary line, got "not an event"$/);
    expect(failure(() => parseWorkload(`${ev}\n Reads Queued:           0,        0KiB\n`, 'b.txt'))).to.match(/^b\.txt:2: expected a blkparse event/);
    expect(failure(() => parseWorkload(`${ev}\n  8,0    0        2     0.000001000   697  Q   W 8x + 8 [x]\n`, 'b.txt'))).to.equal('b.txt:2: expected "sector + count" in whole sectors, got "8,0    0        2     0.000001000   697  Q   W 8x + 8 [x]"');
    expect(failure(() => parseWorkload(`${ev}\n  8,0    0        2     0.000001000   697  Q   W 8 + 0 [x]\n`, 'b.txt'))).to.match(/^b\.txt:2: expected a count of sectors > 0, got /);
  });
});

describe('workload: kiolab lines', () => {
  it('R/W/T lines with comments and hex, untimed, one source at 0', () => {
    const w = parseWorkload(KIOLAB, 'boot.txt');
    expect(w.format).to.equal('kiolab');
    expect(w.timed).to.equal(false);
    expect(w.requests).to.deep.equal([
      { op: 'T', offset: 1, length: 0, t: 0, tid: -1 },
      { op: 'R', offset: 0, length: 4096, t: 0, tid: -1 },
      { op: 'R', offset: 8192, length: 4096, t: 0, tid: -1 },
      { op: 'W', offset: 1048576, length: 512, t: 0, tid: -1 },
      { op: 'T', offset: 2, length: 0, t: 0, tid: -1 },
      { op: 'R', offset: 8192, length: 8192, t: 0, tid: -1 },
    ]);
    expect(w.sources).to.deep.equal([{ name: 'boot.txt', base: 0, bytes: 2 * MiB }]);
    expect(w.tids).to.deep.equal([]);
    expect(w.extent).to.equal(MiB + 512);
  });

  it('times and tids: t relative to the first request, a tag takes the time before it', () => {
    const w = parseWorkload('R 0 512 1.5 7\nT 3\nW 512 512 2.25 9\nR 1024 512 2.25\n', 'timed.txt');
    expect(w.timed).to.equal(true);
    expect(w.requests.map((q) => [q.op, q.t, q.tid])).to.deep.equal([
      ['R', 0, 7],
      ['T', 0, -1],
      ['W', 0.75, 9],
      ['R', 0.75, -1],
    ]);
    expect(w.tids).to.deep.equal([7, 9]);
  });

  it('malformed lines are named by file:line', () => {
    const bad = (line: string) => failure(() => parseWorkload(`R 0 512\n\n${line}\n`, 'k.txt'));
    expect(bad('R 0 0')).to.equal('k.txt:3: expected a length > 0, got "R 0 0"');
    expect(bad('R -5 10')).to.equal('k.txt:3: expected the offset as a whole number (decimal or 0x hex) below 2^53, got "R -5 10"');
    expect(bad('W 1.5 10')).to.equal('k.txt:3: expected the offset as a whole number (decimal or 0x hex) below 2^53, got "W 1.5 10"');
    expect(bad('R 9007199254740993 512')).to.match(/^k\.txt:3: expected the offset as a whole number/);
    expect(bad('R 9007199254740990 512')).to.equal('k.txt:3: expected offset + length below 2^53, got "R 9007199254740990 512"');
    expect(bad('X 1 2')).to.equal('k.txt:3: expected "R|W offset length [time_s [tid]]" or "T tag [time_s [tid]]", got "X 1 2"');
    expect(bad('R 0')).to.equal('k.txt:3: expected "R|W offset length [time_s [tid]]", got "R 0"');
    expect(bad('R 0 512 0.5')).to.equal('k.txt:3: expected no time (line 1 has none: no R/W line may have one), got "R 0 512 0.5"');
    expect(failure(() => parseWorkload('R 0 512 1\nR 0 512\n', 'k.txt'))).to.equal('k.txt:2: expected a time after the length (line 1 has one: every R/W line needs one), got "R 0 512"');
    expect(failure(() => parseWorkload('R 0 512 1\nR 0 512 0.5\n', 'k.txt'))).to.equal('k.txt:2: expected a time >= 1 (time must not go backwards), got "R 0 512 0.5"');
    expect(failure(() => parseWorkload('R 0 512 soon\n', 'k.txt'))).to.equal('k.txt:1: expected the time in seconds (a decimal number >= 0), got "R 0 512 soon"');
    expect(failure(() => parseWorkload('T 1\nT 2\n', 'k.txt'))).to.equal('k.txt: no read or write requests');
  });
});

describe('workload: detection', () => {
  it('the fio header, a blkparse event or a kiolab line decides; a forced format is used as given', () => {
    const cases: [string, WorkloadFormat][] = [
      [FIO_V2, 'fio-iolog-v2'],
      [FIO_V3, 'fio-iolog-v3'],
      [`\n\n${BLKPARSE}`, 'blkparse'],
      [KIOLAB, 'kiolab'],
    ];
    for (const [text, format] of cases) {
      expect(detectFormat(text, 'x'), format).to.equal(format);
      expect(parseWorkload(text, 'x').format, format).to.equal(format);
    }
    expect(failure(() => parseWorkload(KIOLAB, 'boot.txt', { format: 'blkparse' }))).to.match(/^boot\.txt:1: expected a blkparse event/);
    expect(parseWorkload(BLKPARSE, 'sda.txt', { format: 'blkparse' }).requests).to.have.length(4);
  });

  it('a text in none of the formats names its first line and the accepted formats', () => {
    const m = failure(() => parseWorkload('# header\n\nhello world\nR 0 512\n', 'what.txt'));
    expect(m).to.match(/^what\.txt:3: expected one of the workload formats: a fio iolog .*, blkparse's text output .*, or kiolab lines .*, got "hello world"$/);
    expect(failure(() => parseWorkload('', 'e.txt'))).to.equal('e.txt: empty');
    expect(failure(() => parseWorkload('# only a comment\n', 'c.txt'))).to.equal('c.txt: no requests, only comments');
  });
});

describe('workload: assignCallers', () => {
  const w = parseWorkload(['R 0 512 0 7', 'R 512 512 0 3', 'W 0 512 0 7', 'R 0 512 0', 'R 1024 512 0 9', 'W 512 512 0 12', 'R 0 512 0', 'R 0 512 0 3', 'R 0 512 0', 'W 0 512 0 9'].join('\n'), 'tids.txt');

  /** Each request on exactly one caller, each caller's list in trace order. */
  function checkPartition(lists: Workload['requests'][]) {
    const pos = new Map(w.requests.map((q, i) => [q, i]));
    const seen = new Set<number>();
    for (const list of lists) {
      const idx = list.map((q) => pos.get(q)!);
      expect(idx).to.deep.equal([...idx].sort((a, b) => a - b));
      for (const i of idx) {
        expect(seen.has(i), `request ${i} twice`).to.equal(false);
        seen.add(i);
      }
    }
    expect(seen.size).to.equal(w.requests.length);
  }

  it('tid: the k-th distinct tid goes to caller k mod n, requests without one round-robin', () => {
    expect(w.tids).to.deep.equal([7, 3, 9, 12]);
    const lists = assignCallers(w, 3, 'tid');
    checkPartition(lists);
    const tidsOn = lists.map((l) => l.map((q) => q.tid));
    expect(tidsOn).to.deep.equal([
      [7, 7, -1, 12],
      [3, -1, 3],
      [9, -1, 9],
    ]);
    for (let n = 1; n <= 6; n++) {
      const ls = assignCallers(w, n, 'tid');
      checkPartition(ls);
      w.tids.forEach((tid, k) => {
        const holders = ls.map((l, c) => (l.some((q) => q.tid === tid) ? c : -1)).filter((c) => c >= 0);
        expect(holders, `tid ${tid}, n ${n}`).to.deep.equal([k % n]);
      });
    }
  });

  it('rr: runs of `chunk` consecutive requests dealt in turn', () => {
    expect(assignCallers(w, 2, 'rr').map((l) => l.length)).to.deep.equal([5, 5]);
    const lists = assignCallers(w, 3, 'rr', 2);
    expect(lists.map((l) => l.map((q) => w.requests.indexOf(q)))).to.deep.equal([
      [0, 1, 6, 7],
      [2, 3, 8, 9],
      [4, 5],
    ]);
    for (let n = 1; n <= 5; n++) for (let chunk = 1; chunk <= 4; chunk++) checkPartition(assignCallers(w, n, 'rr', chunk));
    expect(() => assignCallers(w, 0, 'rr')).to.throw(RangeError);
    expect(() => assignCallers(w, 2, 'rr', 0)).to.throw(RangeError);
  });
});

describe('workload: describeWorkload', () => {
  it('one line: format, counts, bytes, sources, tids, time and what was skipped', () => {
    expect(describeWorkload(parseWorkload(FIO_V2, 'v2.log'))).to.equal('v2.log: fio iolog v2, 4 requests (2 reads, 2 writes, 16.5 KiB), 2 sources, 2 tids, 0.002 s recorded; skipped: 1 fio sync, 1 trim');
    expect(describeWorkload(parseWorkload(KIOLAB, 'boot.txt'))).to.equal('boot.txt: kiolab lines, 4 requests (3 reads, 1 write, 2 tags, 16.5 KiB), 1 source, 0 tids, untimed; nothing skipped');
  });
});

describe('workload: loadWorkload', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kiolab-workload-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads and parses a file, naming it by the path given', () => {
    const p = join(dir, 'boot.txt');
    writeFileSync(p, KIOLAB);
    const w = loadWorkload(p);
    expect(w.file).to.equal(p);
    expect(w.requests).to.have.length(6);
    expect(loadWorkload(p, { format: 'kiolab' }).format).to.equal('kiolab');
  });

  it('a missing file, a directory, an empty, an oversized or a binary file: one message naming the path', () => {
    const missing = join(dir, 'nosuch.log');
    expect(failure(() => loadWorkload(missing))).to.equal(`${missing}: no such file`);
    const sub = join(dir, 'sub');
    mkdirSync(sub);
    expect(failure(() => loadWorkload(sub))).to.equal(`${sub}: is a directory, not a trace file`);
    const empty = join(dir, 'empty.log');
    writeFileSync(empty, '');
    expect(failure(() => loadWorkload(empty))).to.equal(`${empty}: empty file`);
    const big = join(dir, 'big.log');
    writeFileSync(big, 'R 0 512\n'.repeat(1000));
    expect(failure(() => loadWorkload(big, { maxBytes: 4096 }))).to.match(new RegExp(`^${big.replace(/[.\\]/g, '\\$&')}: too large \\(0\\.0 MiB; the limit is 0\\.0 MiB\\)$`));
    const bin = join(dir, 'bin.log');
    writeFileSync(bin, Buffer.from([0x52, 0x20, 0x30, 0x00, 0x01]));
    expect(failure(() => loadWorkload(bin))).to.equal(`${bin}: a binary file, not a text trace`);
    const blk = join(dir, 'sda.blktrace.0');
    const rec = Buffer.alloc(48);
    rec.writeUInt32LE(0x65617407, 0);
    writeFileSync(blk, rec);
    expect(failure(() => loadWorkload(blk))).to.match(/: a blktrace binary file; give kiolab blkparse's text output/);
    const bad = join(dir, 'bad.log');
    writeFileSync(bad, 'R 0 512\nR 0 0\n');
    expect(failure(() => loadWorkload(bad))).to.equal(`${bad}:2: expected a length > 0, got "R 0 0"`);
  });
});

describe('workload: the recorded fio example (examples/workloads)', () => {
  it('parses as fio iolog v3: 422 reads, 378 writes on two 4 MiB files, timed, 15 syncs skipped', () => {
    const w = loadWorkload(EXAMPLE);
    expect(w.format).to.equal('fio-iolog-v3');
    expect(w.timed).to.equal(true);
    expect(w.requests.filter((q) => q.op === 'R')).to.have.length(422);
    expect(w.requests.filter((q) => q.op === 'W')).to.have.length(378);
    expect(w.requests.filter((q) => q.op === 'T')).to.have.length(0);
    expect(w.sources).to.deep.equal([
      { name: '/tmp/kiolab-wl/mix.0.0', base: 0, bytes: 4 * MiB },
      { name: '/tmp/kiolab-wl/mix.0.1', base: 4 * MiB, bytes: 4 * MiB },
    ]);
    expect(w.tids).to.deep.equal([0, 1]);
    expect(w.requests.filter((q) => q.tid === 0)).to.have.length(409);
    expect(w.skipped).to.deep.equal({ 'fio sync': 15 });
    expect(w.extent).to.equal(8 * MiB);
    // 4 KiB..16 KiB blocks, 4 KiB aligned: replayable on BootCache's 512-byte blocks.
    for (const q of w.requests) {
      expect(q.length % 4096, `${q.op} ${q.offset} ${q.length}`).to.equal(0);
      expect(q.offset % 4096).to.equal(0);
      expect(q.length).to.be.within(4096, 16384);
    }
    const t = w.requests.map((q) => q.t);
    expect(t[0]).to.equal(0);
    expect(t.every((x, i) => i === 0 || x >= t[i - 1]), 'times never go backwards').to.equal(true);
    expect(t[t.length - 1]).to.be.closeTo(0.408206, 1e-9);
    expect(describeWorkload(w)).to.equal(`${EXAMPLE}: fio iolog v3, 800 requests (422 reads, 378 writes, 6.4 MiB), 2 sources, 2 tids, 0.408 s recorded; skipped: 15 fio sync`);
    const lists = assignCallers(w, 2, 'tid');
    expect(lists.map((l) => l.length)).to.deep.equal([409, 391]);
  });
});
