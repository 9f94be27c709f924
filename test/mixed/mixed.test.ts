import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRunReport } from '../../src/report/run-report.js';
import type { MixedReport } from '../../src/cli/mixed.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function kiolab(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('mixed: kiolab bench mixed (the whole stack on one machine)', function () {
  this.timeout(150_000);

  it('boots through BootCache and works through the buffer cache and swap with every check holding', () => {
    const r = kiolab('bench', 'mixed', '--duration', '2', '--seed', '3', '--json');
    expect(r.stderr).to.not.match(/Error/);
    expect(r.code, r.stdout.slice(-2000)).to.equal(0);
    const rep = JSON.parse(r.stdout) as MixedReport;
    expect(isRunReport(rep)).to.equal(true);
    expect(rep.scenario).to.equal('mixed');
    // Every check ran and holds: no oracle mismatch, no lost write, every subsystem's invariants.
    expect(rep.checks!.length).to.be.at.least(9);
    for (const c of rep.checks!) expect(c.ok, `${c.name}: ${c.detail}`).to.equal(true);
    // Every role did work.
    const job = (name: string) => rep.jobs.find((j) => j.jobname === name)!;
    expect(job('bufcache caller').read.total_ios).to.be.greaterThan(0);
    expect(job('bufcache caller').write.total_ios).to.be.greaterThan(0);
    expect(job('bufcache caller').worker_ios!.every((n) => n > 0)).to.equal(true);
    expect(job('swap pager').read.total_ios).to.be.greaterThan(0);
    expect(job('swap pager').worker_ios!.every((n) => n > 0)).to.equal(true);
    expect(rep.mixed.boot.reads).to.equal(8 * 64); // every file's first half
    expect(rep.mixed.daemons.readerReads).to.be.greaterThan(0);
    expect(rep.mixed.daemons.flushed.buf_daemon).to.be.greaterThan(0);
    expect(rep.mixed.daemons.deviceServed.every((n) => n > 0)).to.equal(true);
    expect(rep.mixed.swap.faults).to.be.greaterThan(0);
    expect(rep.mixed.swap.puts).to.be.greaterThan(0);
    // BootCache saw the boot's reads and served hits from its readahead.
    const bc = rep.bootcache as Record<string, number>;
    expect(bc.ss_extent_hits).to.be.greaterThan(0);
    expect(bc.ss_hit_blocks).to.be.greaterThan(0);
    expect(bc.ss_strategy_nonread).to.be.greaterThan(0); // the flushes went through it
    expect(rep.mixed.bootcache.history).to.be.greaterThan(0);
    // The pagers faulted everything back at the end: no swap slot is left in use.
    expect(rep.uvmexp!.swpginuse).to.equal(0);
    expect(rep.mixed.bufcache.hits).to.be.greaterThan(0);
    // The VM pages behind the buffers show in the report: a hit ratio of their own, the page figures.
    expect(rep.mixed.bufcache.vmHitRatio).to.be.within(0, 1);
    expect(job('bufcache caller').hits!['vm pages'].ratio).to.be.within(0, 1);
    expect(rep.sysctl!['vm.stats.vm.v_page_count']).to.be.greaterThan(0);
    expect(rep.summary!.some((l) => l.startsWith('  VM '))).to.equal(true);
  });

  it("a cache timeout that ends BootCache before STOP is the seed's legitimate state: STOP's ENXIO passes the check", () => {
    const r = kiolab('bench', 'mixed', '--duration', '3', '--cache-timeout', '0.5', '--seed', '4', '--json');
    expect(r.code, r.stdout.slice(-2000)).to.equal(0);
    const rep = JSON.parse(r.stdout) as MixedReport;
    const stop = rep.checks!.find((c) => c.name.startsWith('bootcache: STOP'))!;
    expect(stop.ok, stop.detail).to.equal(true);
    expect(stop.detail).to.match(/"cache":6.*the cache had already ended/);
    for (const c of rep.checks!) expect(c.ok, `${c.name}: ${c.detail}`).to.equal(true);
  });

  it('runs on a real file with --device-file (stamped, read back, oracle-checked), and never overwrites one without --force', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiolab-mixed-'));
    try {
      const file = join(dir, 'disk.img');
      const r = kiolab('bench', 'mixed', '--duration', '1', '--device-file', file, '--json');
      expect(r.code, r.stderr).to.equal(0);
      const rep = JSON.parse(r.stdout) as MixedReport;
      expect(rep.devices![0].file).to.equal(file);
      for (const c of rep.checks!) expect(c.ok, `${c.name}: ${c.detail}`).to.equal(true);
      const again = kiolab('bench', 'mixed', '--duration', '1', '--device-file', file);
      expect(again.code).to.equal(2);
      expect(again.stderr).to.contain(`--device-file: "${file}" exists; not overwriting it without --force`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
