import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Histogram } from '../../src/report/histogram.js';
import { renderHtml } from '../../src/report/html.js';
import type { RunReport } from '../../src/report/run-report.js';
import { dirStats, hitStats } from '../../src/report/types.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const HAVE = existsSync(CHROMIUM);

function report(): RunReport {
  const h = new Histogram();
  for (let i = 1; i <= 5000; i++) h.record(200 + ((i * 7919) % 100_000));
  const empty = new Histogram().toJSON();
  return {
    kiolab_version: 'kiolab-test',
    timestamp: 0,
    time: '2026-01-01T00:00:00.000Z',
    scenario: 'html<test>',
    options: { seed: 1 },
    machine: { node: process.version, cpus: 3, hostCores: 2, hostCpuModel: 'cpu', platform: 'linux', arch: 'x64' },
    jobs: [
      { jobname: 'caller', workers: 2, read: dirStats([{ ops: 5000, bytes: 5000 * 4096, hist: h.toJSON() }], 1000), write: dirStats([{ ops: 0, bytes: 0, hist: empty }], 1000), hits: { bootcache: hitStats(9, 1) } },
    ],
    locks: [{ className: 'bc_cache_lock', kind: 'mutex', locks: 1, acquisitions: 5000, contended: 400, spins: 900, sleeps: 30, waitUsTotal: 4000, waitUsMax: 300 }],
    sleeps: [{ wmesg: 'BC_strategy', sleeps: 30, wakeups: 30, timeouts: 0, totalUs: 9000, maxUs: 700 }],
    devices: [],
    bootcache: { ss_total_hits: 9 },
    timeline: { binMs: 100, rampMs: 200, roles: [{ role: 'caller', iops: [100, 5000, 5200, 4900], read_iops: [100, 5000, 5200, 4900], write_iops: [0, 0, 0, 0], bw_bytes: [1, 2, 3, 4] }] },
  };
}

describe('report: the HTML report', () => {
  it('is self-contained and escapes what it shows', () => {
    const html = renderHtml(report());
    expect(html).to.contain('kiolab bench html&lt;test&gt;');
    expect(html).not.to.contain('html<test>');
    expect(html.split('http://www.w3.org/2000/svg').join('')).not.to.match(/<script[^>]+src=|<link[^>]+href=|https?:\/\//);
    expect(html).to.contain('<td>bc_cache_lock</td>');
    expect(html).to.contain('<td>BC_strategy</td>');
  });

  (HAVE ? it : it.skip)(
    HAVE
      ? 'renders its four charts in headless Chromium without a script error'
      : `renders its charts in headless Chromium — SKIPPED: no browser at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM)`,
    function () {
      this.timeout(90_000);
      const dir = mkdtempSync(join(tmpdir(), 'kiolab-html-'));
      const file = join(dir, 'report.html');
      writeFileSync(file, renderHtml(report()));
      const r = spawnSync(
        CHROMIUM,
        ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', `--user-data-dir=${join(dir, 'profile')}`, '--dump-dom', pathToFileURL(file).href],
        { encoding: 'utf8', timeout: 80_000 },
      );
      expect(r.status, r.stderr).to.equal(0);
      const dom = r.stdout;
      expect(dom).not.to.match(/<body[^>]*data-error/);
      expect(dom).to.match(/<body[^>]*data-charts="4"/);
      expect((dom.match(/<path[^>]*class="series"/g) ?? []).length).to.equal(2); // throughput line + latency curve
      expect((dom.match(/<rect[^>]*class="bar"/g) ?? []).length).to.equal(2); // one lock class, one wmesg
      expect(dom).to.contain('>ramp<');
    },
  );
});
