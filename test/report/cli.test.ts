import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRunReport } from '../../src/report/run-report.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function kiolab(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function configFile(obj: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'kiolab-cfg-'));
  const f = join(dir, 'scenario.json');
  writeFileSync(f, typeof obj === 'string' ? obj : JSON.stringify(obj));
  return f;
}

describe('report: the command and its common options', () => {
  it('a bad --config field exits 2 and names the field and the value', () => {
    const f = configFile({ scenario: 'locks', durration: 5 });
    const r = kiolab('bench', '--config', f);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain(`--config ${f}: field "durration": unknown option (value 5)`);
    expect(r.stdout).to.equal('');
  });

  it('a bad --config value exits 2 and names the field and the value', () => {
    const f = configFile({ scenario: 'locks', duration: 'ten', cpus: 2 });
    const r = kiolab('bench', '--config', f);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain(`--config ${f}: field "duration": expected a number in [0.001, 604800], got "ten"`);
    const g = configFile({ cpus: 2.5 });
    const r2 = kiolab('bench', 'locks', '--config', g);
    expect(r2.code).to.equal(2);
    expect(r2.stderr).to.contain('field "cpus": expected a whole number in [1, 256], got 2.5');
    const h = configFile({ json: 'yes' });
    expect(kiolab('bench', 'locks', '--config', h).stderr).to.contain('field "json": expected true or false, got "yes"');
  });

  it('an unreadable or malformed --config exits 2 saying why', () => {
    const r = kiolab('bench', 'locks', '--config', '/nonexistent/kiolab.json');
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain('--config /nonexistent/kiolab.json: cannot read it (ENOENT)');
    const f = configFile('{ "seed": 1,');
    const r2 = kiolab('bench', 'locks', '--config', f);
    expect(r2.code).to.equal(2);
    expect(r2.stderr).to.contain('not valid JSON');
  });

  it('bad common options exit 2 naming the option and value', () => {
    const a = kiolab('bench', 'locks', '--seed=-3');
    expect(a.code).to.equal(2);
    expect(a.stderr).to.contain('--seed: expected a whole number in [0, 4294967295], got "-3"');
    const b = kiolab('bench', 'locks', '--duration', 'abc');
    expect(b.code).to.equal(2);
    expect(b.stderr).to.contain('--duration: expected a number in [0.001, 604800], got "abc"');
    const c = kiolab('bench', 'locks', '--no-such-option');
    expect(c.code).to.equal(2);
    const d = kiolab('bench', 'nope');
    expect(d.code).to.equal(2);
    expect(d.stderr).to.contain('unknown scenario "nope"');
    expect(kiolab('bench', 'primitives', '--reps', '0').stderr).to.contain('--reps: expected a whole number >= 1, got "0"');
  });

  it('--help works on every command and lists the common options', () => {
    for (const args of [['--help'], ['bench', '--help'], ['bench', 'locks', '--help'], ['list', '--help']]) {
      const r = kiolab(...args);
      expect(r.code, args.join(' ')).to.equal(0);
      expect(r.stdout, args.join(' ')).to.match(/Usage: kiolab/);
    }
    const h = kiolab('bench', 'locks', '--help').stdout;
    for (const o of ['--seed', '--duration', '--ops', '--ramp', '--cpus', '--json', '--out', '--trace', '--config', '--lock']) expect(h).to.contain(o);
  });

  it('list shows the scenarios with a description, as text and JSON', () => {
    const r = kiolab('list');
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(/^scenarios:$/m);
    expect(r.stdout).to.match(/^ {2}primitives\s+spinlock, sleep lock/m);
    expect(r.stdout).to.match(/^ {2}locks\s+/m);
    const j = JSON.parse(kiolab('list', '--json').stdout) as { scenarios: { name: string }[] };
    expect(j.scenarios.map((s) => s.name)).to.include.members(['primitives', 'locks']);
  });

  it('list bugs shows every switch with its subsystem, description and real-bug reference; a bad section exits 2', () => {
    const all = kiolab('list');
    expect(all.stdout).to.match(/^bug switches/m).and.match(/^race scenarios/m);
    const r = kiolab('list', 'bugs');
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(/^vfs-biowait-no-interlock\s+bio\s+yes\s+biowait checks BIO_DONE/m);
    expect(r.stdout).to.contain('ref: FreeBSD D25898');
    const j = JSON.parse(kiolab('list', 'bugs', '--json').stdout) as { bugs: { name: string; subsystem: string; reference: string }[] };
    expect(j.bugs).to.have.length(24);
    expect(j.bugs.every((b) => b.subsystem && b.reference)).to.equal(true);
    const bad = kiolab('list', 'bogus');
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.contain('list: unexpected argument "bogus"; sections: scenarios, bugs, races');
  });

  it('bench locks --config --json --out: a RunReport on stdout and report.json/report.html on disk', () => {
    const out = mkdtempSync(join(tmpdir(), 'kiolab-out-'));
    const f = configFile({ scenario: 'locks', cpus: 2, ops: 4000, seed: 3, comment: 'test' });
    const r = kiolab('bench', '--config', f, '--seed', '4', '--json', '--out', out);
    expect(r.code, r.stderr).to.equal(0);
    const rep = JSON.parse(r.stdout);
    expect(isRunReport(rep)).to.equal(true);
    expect(rep.options.seed).to.equal(4); // the command line wins over the file
    expect(rep.options.cpus).to.equal(2);
    expect(rep.jobs[0].workers).to.equal(2);
    expect(rep.jobs[0].read.total_ios + rep.jobs[0].write.total_ios).to.equal(4000);
    expect(rep.locks.find((l: { className: string }) => l.className === 'lab_mtx').acquisitions).to.equal(4000);
    expect(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).scenario).to.equal('locks');
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).to.contain('id="chart-throughput"');
    expect(html).to.contain('id="report-data"');
    // self-contained: nothing to fetch (the SVG namespace URI is a name, not a fetch)
    expect(html.split('http://www.w3.org/2000/svg').join('')).not.to.match(/<script[^>]+src=|<link[^>]+href=|https?:\/\//);
  });

  it('a scenario refuses a common option that cannot apply, saying why (exit 2); --out still writes a page', () => {
    const out = mkdtempSync(join(tmpdir(), 'kiolab-prim-'));
    const seed = kiolab('bench', 'primitives', '--seed', '1', '--scale', '0.002', '--reps', '1');
    expect(seed.code).to.equal(2);
    expect(seed.stderr).to.contain('kiolab: bench primitives: --seed does not apply: its loops make no random choice');
    const trace = kiolab('bench', 'primitives', '--trace', join(out, 't.json'));
    expect(trace.code).to.equal(2);
    expect(trace.stderr).to.contain('--trace does not apply');
    const r = kiolab('bench', 'primitives', '--scale', '0.002', '--reps', '1', '--out', join(out, 'rep'));
    // A run this short may miss a target (exit 1, and the verdict says so); it never fails otherwise.
    expect(r.code, r.stderr).to.be.oneOf([0, 1]);
    expect(r.stdout.trimEnd()).to.match(r.code === 0 ? /\nPASS: 2 checks, 0 failures$/ : /\nFAIL: [12] of 2 checks failed: .+$/);
    expect(readFileSync(join(out, 'rep', 'report.html'), 'utf8')).to.contain('kiolab bench primitives');
    expect(JSON.parse(readFileSync(join(out, 'rep', 'report.json'), 'utf8')).scenario).to.equal('primitives');
  });
});
