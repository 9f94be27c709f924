import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePlaylist } from '../../src/bootcache/playlist.js';
import { synthBoot } from '../../src/bootcache/workload.js';
import { runBootCacheBench } from '../../src/cli/bootcache.js';
import { commands } from '../../src/cli/registry.js';

describe('bootcache: bench and the boot loop command', () => {
  it('runs a boot, writes its history, and the playlist built from it serves the same boot from the cache', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiolab-bc-'));
    try {
      const { playlist, requests } = synthBoot({ seed: 3, blocks: 16384, blockSize: 512, extents: 64, batches: 2, writeRatio: 0, missRatio: 0.2 });
      const h = join(dir, 'h.txt');
      const r1 = await runBootCacheBench({ playlist, requests, callers: 1, warm: true, locking: 'fine', historyOut: h, blocks: 16384 });
      expect(r1.mismatches).to.deep.equal([]);
      expect(r1.history).to.equal(requests.length);
      expect(r1.report.jobs[0].read.total_ios).to.equal(requests.filter((q) => q.op === 'R').length);
      expect(r1.hitRate.extents).to.be.below(100); // the synthetic boot misses on purpose
      const cmd = commands().find((c) => c.name === 'playlist')!;
      const p2 = join(dir, 'p2.txt');
      const log = console.log;
      console.log = () => {};
      try {
        expect(await cmd.run(['--history', h, '--out', p2])).to.equal(0);
      } finally {
        console.log = log;
      }
      const next = parsePlaylist(readFileSync(p2, 'utf8'));
      expect(next.entries.map((e) => e.pce_batch)).to.include(1); // the tags became batches
      const r2 = await runBootCacheBench({ playlist: next, requests, callers: 1, warm: true, locking: 'funnel', blocks: 16384 });
      expect(r2.mismatches).to.deep.equal([]);
      expect(r2.hitRate.extents).to.equal(100); // every read of the boot is in the learned playlist
      writeFileSync(join(dir, 'unused'), '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
