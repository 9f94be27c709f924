/**
 * Every bench scenario's HTML report is a real report: run each through the command with --out,
 * load DIR/report.html in headless Chromium and check what the browser built — the four charts
 * drawn with no script error, the job table (or the subsystem's own table), the summary, the
 * effective options and the verdict. In CI (.ci/run sets KIOLAB_REQUIRE_CHROMIUM=1) a missing
 * browser fails the test instead of skipping it.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const HAVE = existsSync(CHROMIUM);
const REQUIRED = process.env.KIOLAB_REQUIRE_CHROMIUM === '1';
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** Short runs of every scenario; `exit` is the codes a correct run may give (primitives' targets are the host's on a busy machine). */
const RUNS: { scenario: string; args: string[]; exit: number[]; table: RegExp }[] = [
  { scenario: 'locks', args: ['--duration', '0.4', '--cpus', '2'], exit: [0], table: /<table class="jobs">.*?<td>lock-load \(mtx\)<\/td>/s },
  { scenario: 'bufcache', args: ['--ops', '600', '--nbuf', '64', '--cpus', '2'], exit: [0], table: /<table class="jobs">.*?<td>bufcache caller<\/td>/s },
  { scenario: 'bootcache', args: ['--ops', '300'], exit: [0], table: /<table class="jobs">.*?<td>bootcache caller \(fine\)<\/td>.*?<td>bootcache caller \(funnel\)<\/td>/s },
  { scenario: 'swap', args: ['--duration', '0.5'], exit: [0], table: /<h3>swap devices \(swapdev\)<\/h3>.*?<td>\/dev\/wd0b<\/td>/s },
  { scenario: 'mixed', args: ['--duration', '1'], exit: [0], table: /<table class="jobs">.*?<td>bufcache caller<\/td>.*?<td>swap pager<\/td>/s },
  { scenario: 'primitives', args: ['--scale', '0.02', '--reps', '1'], exit: [0, 1], table: /<h3>figures<\/h3>.*?<td>uncontended spinlock pair<\/td>/s },
];

function dumpDom(file: string, dir: string): string {
  const r = spawnSync(
    CHROMIUM,
    ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', `--user-data-dir=${join(dir, 'profile')}`, '--dump-dom', pathToFileURL(file).href],
    { encoding: 'utf8', timeout: 80_000 },
  );
  expect(r.status, r.stderr).to.equal(0);
  return r.stdout;
}

describe("report: every scenario's HTML report, rendered in headless Chromium", function () {
  this.timeout(240_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kiolab-html-all-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  for (const run of RUNS) {
    const title = `bench ${run.scenario} --out: tables, four charts, summary, options and verdict, no script error`;
    (HAVE || REQUIRED ? it : it.skip)(HAVE || REQUIRED ? title : `${title} — SKIPPED: no browser at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM)`, function () {
      expect(HAVE, `CI requires a browser at ${CHROMIUM}`).to.equal(true);
      const out = join(dir, 'out');
      const r = spawnSync(process.execPath, [CLI, 'bench', run.scenario, ...run.args, '--out', out], { cwd: dir, encoding: 'utf8', timeout: 180_000 });
      expect(run.exit, `exit ${r.status}: ${r.stderr.slice(-1500)}`).to.include(r.status);
      const json = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { kiolab_version?: string; jobs?: unknown[]; verdict?: { line: string } };
      expect(json.kiolab_version, 'report.json is a RunReport').to.be.a('string');
      expect(json.jobs).to.be.an('array');
      const dom = dumpDom(join(out, 'report.html'), dir);
      expect(dom).not.to.match(/<body[^>]*data-error/);
      expect(dom).to.match(/<body[^>]*data-charts="4"/);
      expect(dom).to.match(run.table);
      expect(dom).to.match(/<h2>Summary<\/h2><pre class="summary">/);
      expect(dom).to.match(/<div class="meta">options: [^<]*\w=\w/);
      expect(dom).to.contain(`id="verdict">${json.verdict!.line.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}</p>`);
      // The charts hold data wherever the run had some: a series per direction of every job, a bar per contended lock class.
      const series = (dom.match(/<path[^>]*class="series"/g) ?? []).length;
      if ((json.jobs ?? []).length > 0) expect(series, 'throughput and latency series').to.be.greaterThan(1);
    });
  }
});
