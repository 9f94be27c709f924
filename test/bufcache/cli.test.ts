import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseBufBench, runBufBench } from '../../src/cli/bufcache.js';
import { bufinitTunables } from '../../src/bufcache/tunables.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

describe('bufcache: the command line', function () {
  this.timeout(60_000);

  it('kiolab sysctl bufcache --nbuf N [--json] prints the derived tunables; bad options exit 2', () => {
    const out = JSON.parse(execFileSync(process.execPath, [CLI, 'sysctl', 'bufcache', '--nbuf', '4096', '--json'], { encoding: 'utf8' }));
    const t = bufinitTunables(4096);
    expect(out).to.include({ 'vfs.nbuf': 4096, 'vfs.hibufspace': t.hibufspace, 'vfs.lobufspace': t.lobufspace, 'vfs.hidirtybufspace': t.hidirtybufspace, 'vfs.hirunningspace': t.hirunningspace });
    const text = execFileSync(process.execPath, [CLI, 'sysctl', 'bufcache', '--nbuf', '64'], { encoding: 'utf8' });
    expect(text).to.match(/vfs\.maxbufspace\s*: 1048576/);
    const bad = spawnSync(process.execPath, [CLI, 'sysctl', 'bufcache', '--nbuf', 'many'], { encoding: 'utf8' });
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.match(/--nbuf: expected a whole number/);
    const unknown = spawnSync(process.execPath, [CLI, 'sysctl', 'nosuch'], { encoding: 'utf8' });
    expect(unknown.status).to.equal(2);
    expect(unknown.stderr).to.match(/unknown subsystem "nosuch"; one of: .*bufcache/);
  });

  it('validates bench options up front, naming the option and value', () => {
    expect(() => parseBufBench({ nbuf: '8' })).to.throw(/--nbuf: expected a whole number in \[16, 16384\], got "8"/);
    expect(() => parseBufBench({ pattern: 'zigzag' })).to.throw(/--pattern: expected one of seq, random, mixed, got "zigzag"/);
    expect(() => parseBufBench({ mix: '1.5' })).to.throw(/--mix/);
    expect(parseBufBench({})).to.include({ nbuf: 1024, callers: 4, pattern: 'mixed', workingSet: 4 });
  });

  it('bench bufcache reports throughput, latency, hit ratio, sysctl, lock and sleep tables, and a clean oracle', async () => {
    const o = parseBufBench({ nbuf: '64', callers: '2', ops: '400', files: '2', bsize: '8192' });
    const r = await runBufBench(o, undefined, false);
    expect(r.bufcache.runs).to.have.length(1);
    const run = r.bufcache.runs[0];
    expect(run.oracle).to.deep.include({ mismatchCount: 0, lostWrites: [] });
    expect(run.invariants).to.deep.equal([]);
    expect(r.jobs.map((j) => j.jobname)).to.deep.equal(['bufcache caller']);
    expect(r.jobs[0].read.total_ios + r.jobs[0].write.total_ios).to.equal(400); // --ops counts in all
    expect(r.jobs[0].hits?.bufcache.ratio).to.be.within(0, 1);
    // The VM pages behind the buffers: their own hit ratio (of the buffer cache's misses) and figures.
    expect(r.jobs[0].hits?.['vm pages'].ratio).to.be.within(0, 1);
    expect(r.sysctl?.['vm.stats.vm.v_page_count']).to.equal(8 * 64);
    expect(r.summary?.some((l) => /VM \d+ pages: \d+ wired by buffers/.test(l))).to.equal(true);
    expect(run.hitRatio).to.be.within(0, 1);
    expect(r.sysctl?.['vfs.nbuf']).to.equal(64);
    expect(r.sysctl).to.have.property('kiolab.bufcache.getnewbuf_restart.flushingbufs');
    expect(r.locks.map((l) => l.className)).to.include('buf');
    expect(r.sleeps.length).to.be.greaterThan(0);
    expect(r.checks?.map((c) => c.ok)).to.deep.equal([true, true, true, true]);
    expect(r.bufcache.config.workingSetBytes).to.be.at.least(4 * r.bufcache.config.cacheBytes);
  });
});
