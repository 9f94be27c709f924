/**
 * Bad input through the real command: each case exits 2 with one line that names the input and
 * the problem (no stack trace), before any load starts, and changes no file. Outputs are checked
 * before the run: an unwritable path never hangs, an existing file is never overwritten without
 * --force.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** Every file under `dir` with its size, modification time and content. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        out.set(`${p}/`, 'dir');
        walk(p);
      } else out.set(p, `${statSync(p).mtimeMs} ${readFileSync(p, 'utf8')}`);
    }
  };
  walk(dir);
  return out;
}

const replay = (over: Record<string, unknown>) =>
  JSON.stringify({ kiolab: 'race-replay', version: 1, scenario: 'biowait', bug: 'vfs-biowait-no-interlock', seed: 1, policy: 'pct', depth: 3, iteration: 0, kind: 'lost-wakeup', message: 'm', schedule: [0, 5, 1], events: [], ...over });

/** [arguments, first line of stderr] — every case exits 2. */
const CASES: [string[], RegExp][] = [
  // outputs, checked before the run (1, 3 of the issue)
  [['bench', 'locks', '--duration', '1', '--out', '/proc/x'], /^kiolab: --out: cannot write in "\/proc\/x" \(E\w+\)$/],
  [['bench', 'locks', '--duration', '1', '--trace', '/proc/x/t.json'], /^kiolab: --trace: cannot write in "\/proc\/x" \(E\w+\)$/],
  [['bench', 'locks', '--duration', '1', '--trace', 'precious.txt'], /^kiolab: --trace: "precious.txt" exists; not overwriting it without --force$/],
  [['bench', 'locks', '--duration', '1', '--out', 'reports'], /^kiolab: --out: "reports" already holds report.json and report.html; not overwriting without --force/],
  [['bench', 'locks', '--duration', '1', '--trace', 'reports'], /^kiolab: --trace: "reports" is a folder; give a file name$/],
  [['bench', 'locks', '--duration', '1', '--out', 'precious.txt'], /^kiolab: --out: "precious.txt" is a file, not a folder$/],
  [['race', 'biowait', '--save', '/proc/x/r.json'], /^kiolab: --save: cannot write in "\/proc\/x"/],
  [['race', 'biowait', '--save', 'precious.txt'], /^kiolab: --save: "precious.txt" exists; not overwriting it without --force$/],
  [['playlist', '--history', 'history.txt', '--out', 'precious.txt'], /^kiolab: --out: "precious.txt" exists; not overwriting/],
  [['bench', 'bootcache', '--history-out', 'precious.txt', '--locking', 'fine'], /^kiolab: --history-out: "precious.txt" exists/],
  // devices and recorded workloads (issue 16)
  [['bench', 'bufcache', '--device-sync'], /^kiolab: bench bufcache: --device-sync needs --device-file \(a memory device has no cache to flush\)$/],
  [['bench', 'bufcache', '--workload', 'missing.iolog'], /^kiolab: --workload missing.iolog: no such file$/],
  [['bench', 'mixed', '--workload', 'precious.txt'], /^kiolab: --workload precious.txt:1: expected one of the workload formats: .*got "nineteen bytes here"$/],
  [['bench', 'bufcache', '--replay-speed', '2'], /^kiolab: --replay-speed: needs --workload FILE$/],
  [['bench', 'swap', '--workload', 'precious.txt'], /^kiolab: bench swap: --workload does not apply: its load is pages faulted in and pushed out/],
  [['bench', 'bootcache', '--workload', 'precious.txt', '--requests', 'precious.txt'], /^kiolab: --workload and --requests both name the requests to replay; give one$/],
  // --ops and durations (2, 4)
  [['bench', 'locks', '--ops', '1', '--duration', '8'], /^kiolab: --ops 1: fewer operations than the 2 workers \(--cpus\); give at least 2$/],
  [['bench', 'locks', '--ops', '3', '--cpus', '4'], /^kiolab: --ops 3: fewer operations than the 4 workers/],
  [['bench', 'locks', '--ops', '0'], /^kiolab: --ops: expected a whole number in \[1, 1000000000000\], got "0"$/],
  [['bench', 'locks', '--duration', '1e9'], /^kiolab: --duration: expected a number in \[0.001, 604800\], got "1e9"$/],
  [['bench', 'locks', '--ramp', '1e6'], /^kiolab: --ramp: expected a number in \[0, 86400\]/],
  [['race', 'biowait', '--budget', '1e9'], /^kiolab: --budget: expected a number in \[0.1, 604800\]/],
  // negative numbers get the option's own message (5)
  [['bench', 'locks', '--duration', '-1'], /^kiolab: --duration: expected a number in \[0.001, 604800\], got "-1"$/],
  [['bench', 'locks', '--seed', '-3'], /^kiolab: --seed: expected a whole number in \[0, 4294967295\], got "-3"$/],
  [['race', 'biowait', '--seed', '-3'], /^kiolab: --seed: expected a whole number in \[0, 2147483647\], got "-3"$/],
  [['replay', 'good.json', '--times', '-2'], /^kiolab: --times: expected a whole number in \[1, 1000\], got "-2"$/],
  [['bench', 'locks', '--ramp', '-0.5'], /^kiolab: --ramp: expected a number in \[0, 86400\], got "-0.5"$/],
  // input files (4)
  [['bench', 'bootcache', '--playlist', 'bad.playlist'], /^kiolab: --playlist bad.playlist: playlist line 1: missing "magic" header before the first entry$/],
  [['bench', 'bootcache', '--playlist', 'big.playlist'], /^kiolab: --playlist big.playlist: the extent at 3221225472 reaches byte 3221291008, past the 2 GiB/],
  [['bench', 'bootcache', '--requests', 'big.trace'], /^kiolab: --requests big.trace: the request at 3221225472 reaches byte/],
  [['bench', 'bootcache', '--trace', 'big.trace'], /^kiolab: --trace: "big.trace" exists; not overwriting it without --force$/],
  [['bench', 'bootcache', '--duration', '5'], /^kiolab: bench bootcache: --duration does not apply: a boot is a list of requests replayed once/],
  [['bench', 'primitives', '--cpus', '4'], /^kiolab: bench primitives: --cpus does not apply: /],
  [['bench', 'bootcache', '--playlist', 'missing.playlist'], /^kiolab: --playlist: cannot read "missing.playlist" \(ENOENT\)$/],
  [['playlist', '--history', 'missing.txt', '--out', 'new.txt'], /^kiolab: --history: cannot read "missing.txt" \(ENOENT\)$/],
  [['bench', '--config', 'missing.json'], /^kiolab: --config/],
  [['bench', 'locks', '--config', 'broken.json'], /^kiolab: --config broken.json/],
  // replay files (4, 7)
  [['replay', 'unknown-scenario.json'], /^kiolab: replay: unknown-scenario.json: unknown scenario "no-such-scenario"/],
  [['replay', 'unknown-switch.json'], /^kiolab: replay: unknown-switch.json: unknown switch "no-such-switch"$/],
  [['replay', 'empty-schedule.json'], /^kiolab: replay: empty-schedule.json: "schedule" must list the switches of the turn/],
  [['replay', 'negative-seed.json'], /^kiolab: replay: negative-seed.json: "seed" must be a whole number in \[0, 2147483647\], got -4$/],
  [['replay', 'ragged-schedule.json'], /^kiolab: replay: ragged-schedule.json: "schedule" must hold \[decider cpu, point count, chosen cpu\] triples/],
  [['replay', 'no-bug.json'], /^kiolab: replay: no-bug.json: "bug" must be a switch name, or null/],
  [['replay', 'version2.json'], /^kiolab: replay: version2.json: version 2; this kiolab reads version 1$/],
  [['replay', 'precious.txt'], /^kiolab: replay: cannot read precious.txt: /],
  [['replay', 'missing.json'], /^kiolab: replay: cannot read missing.json: ENOENT$/],
  [['replay', 'good.json', '--save', 'x.json'], /^kiolab: --save goes with --shrink/],
  // usage (10 and the rest)
  [['nosuch'], /^kiolab: unknown command "nosuch"; try kiolab --help$/],
  [['bench', 'nosuch'], /^kiolab: bench: unknown scenario "nosuch"; one of: /],
  [['bench', 'locks', '--nosuch'], /^kiolab: bench locks: unknown option --nosuch$/],
  [['bench', 'locks', '--cpus', '0'], /^kiolab: --cpus: expected a whole number in \[1, 256\], got "0"$/],
  [['bench', 'locks', '--lock', 'foo'], /^kiolab: --lock: expected spin or mtx, got "foo"$/],
  [['bench', 'swap', '--swapctl-as', 'admin'], /^kiolab: --swapctl-as: must be root or user, got "admin"$/],
  [['bench', 'locks', '--trace-events', '1'], /^kiolab: --trace-events: expected a whole number in \[16, 4194304\], got "1"$/],
  [['race', 'nosuch'], /^kiolab: race: unknown scenario "nosuch"/],
  [['race', 'biowait', '--bug', 'nosuch'], /^kiolab: --bug: /],
  [['race', 'biowait', '--mode', 'foo'], /^kiolab: --mode: expected stress, explore or bounded, got "foo"$/],
  [['race', 'biowait', '--preemptions', '2'], /^kiolab: --preemptions goes with --mode bounded$/],
  [['race', 'biowait', '--detect', 'foo'], /^kiolab: --detect: expected race/],
  [['race', 'biowait', '--depth', '0'], /^kiolab: --depth: expected a whole number in \[1, 10\], got "0"$/],
  [['sysctl', 'nosuch'], /^kiolab: sysctl: unknown subsystem "nosuch"/],
  [['playlist'], /^kiolab: playlist: --history H is required$/],
  [['list', 'nosuch'], /^kiolab: list: unexpected argument "nosuch"/],
  [['bugs', 'extra'], /^kiolab: bugs: unexpected argument "extra"$/],
];

describe('cli: bad input is one line and exit 2, and changes nothing', function () {
  this.timeout(300_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kiolab-bad-'));
    writeFileSync(join(dir, 'precious.txt'), 'nineteen bytes here');
    mkdirSync(join(dir, 'reports'));
    writeFileSync(join(dir, 'reports', 'report.json'), '{}');
    writeFileSync(join(dir, 'reports', 'report.html'), '<p>an earlier report</p>');
    writeFileSync(join(dir, 'bad.playlist'), 'garbage\n');
    writeFileSync(join(dir, 'big.playlist'), 'magic 0xa1b2c3d4\nblocksize 512\n3221225472 65536 0\n');
    writeFileSync(join(dir, 'big.trace'), 'R 3221225472 4096\n');
    writeFileSync(join(dir, 'history.txt'), 'hit 0 4096\n');
    writeFileSync(join(dir, 'broken.json'), '{ "duration": ');
    writeFileSync(join(dir, 'good.json'), replay({}));
    writeFileSync(join(dir, 'unknown-scenario.json'), replay({ scenario: 'no-such-scenario' }));
    writeFileSync(join(dir, 'unknown-switch.json'), replay({ bug: 'no-such-switch' }));
    writeFileSync(join(dir, 'empty-schedule.json'), replay({ schedule: [] }));
    writeFileSync(join(dir, 'negative-seed.json'), replay({ seed: -4 }));
    writeFileSync(join(dir, 'ragged-schedule.json'), replay({ schedule: [0, 5] }));
    writeFileSync(join(dir, 'no-bug.json'), replay({ bug: undefined }));
    writeFileSync(join(dir, 'version2.json'), replay({ version: 2 }));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it(`has at least 40 cases (${CASES.length})`, () => {
    expect(CASES.length).to.be.at.least(40);
  });

  for (const [args, first] of CASES) {
    it(`kiolab ${args.join(' ')}`, () => {
      const before = snapshot(dir);
      const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      expect(r.signal, 'it hung').to.equal(null);
      expect(r.status, r.stderr).to.equal(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines[0]).to.match(first);
      expect(r.stderr, 'no stack trace').to.not.match(/\n\s+at /);
      expect(r.stdout).to.equal('');
      expect(snapshot(dir), 'no file changed, none added').to.deep.equal(before);
    });
  }

  it('KIOLAB_DEBUG=1 adds the stack', () => {
    const r = spawnSync(process.execPath, [CLI, 'bench', 'locks', '--duration', '1e9'], { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, KIOLAB_DEBUG: '1' } });
    expect(r.status).to.equal(2);
    expect(r.stderr).to.match(/UsageError: --duration[\s\S]*\n\s+at /);
  });
});
