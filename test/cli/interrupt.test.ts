/**
 * Ctrl-C and the end of a run: the first SIGINT stops the load, prints the report marked partial,
 * writes --out and exits 130; a second exits at once. An output that can no longer be written at
 * the end is one line and exit 2, after the report was printed.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Start the command; `whenRunning` is called 1.5 s later (the load is running by then, or about
 * to start: an interrupt that comes first stops each machine as it starts), and the result comes
 * when the process has exited.
 */
function start(args: string[], whenRunning: (child: ReturnType<typeof spawn>) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let fired = false;
    const guard = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const poll = setInterval(() => {
      if (!fired && performance.now() - t0 > 1500) {
        fired = true;
        clearInterval(poll);
        whenRunning(child);
      }
    }, 100);
    const t0 = performance.now();
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(guard);
      clearInterval(poll);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('cli: Ctrl-C and write errors at the end', function () {
  this.timeout(180_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kiolab-int-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('the first SIGINT stops the load, prints the partial report, writes --out and exits 130', async () => {
    const out = join(dir, 'rep');
    const t0 = performance.now();
    const r = await start(['bench', 'locks', '--duration', '60', '--out', out], (c) => c.kill('SIGINT'));
    expect(r.code, r.stderr).to.equal(130);
    expect(r.stderr).to.contain('kiolab: interrupted: stopping the load');
    expect(r.stdout).to.match(/^PARTIAL REPORT: interrupted \(Ctrl-C\) [\d.]+ s into the run/);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { partial?: { reason: string }; scenario: string };
    expect(report.scenario).to.equal('locks');
    expect(report.partial?.reason).to.equal('interrupted (Ctrl-C)');
    expect(readFileSync(join(out, 'report.html'), 'utf8')).to.contain('kiolab');
  });

  it('a second SIGINT exits at once', async () => {
    const r = await start(['bench', 'locks', '--duration', '60'], (c) => {
      c.kill('SIGINT');
      setTimeout(() => c.kill('SIGINT'), 20);
    });
    expect(r.code).to.equal(130);
    // Either the second came while the load was stopping, or the first had already ended the run.
    expect(`${r.stderr}${r.stdout}`).to.match(/interrupted again: exiting now|PARTIAL REPORT/);
  });

  it('an --out folder that became a file during the run: the report is printed, then one line and exit 2', async () => {
    const out = join(dir, 'rep');
    const r = await start(['bench', 'locks', '--duration', '3', '--out', out], () => {
      rmSync(out, { recursive: true, force: true });
      writeFileSync(out, 'not a folder any more');
    });
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stdout).to.contain('kiolab bench locks');
    expect(r.stderr).to.match(/kiolab: --out: could not write ".*report\.json" \(ENOTDIR\)/);
    expect(existsSync(join(out, 'report.json'))).to.equal(false);
  });
});
