/**
 * Campaign files: validation (every error names its field), expansion into jobs, job ids (the
 * hash of what a job runs: a job listed twice runs once), and the checks a worker applies to a
 * job it takes from a queue (nothing but a race run's argv can come out of one).
 */
import '../../workers/index.js'; // kiolab's own race scenarios
import './hang-fixture.js'; // the campaign-hang scenario, as a user module would register it
import { expect } from 'chai';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CampaignJob, KIOLAB_VERSION, canonicalJson, checkJob, expandCampaign, jobId } from '../../src/campaign/file.js';
import { CLI_PATH, raceArgv } from '../../src/campaign/job.js';
import { BUGS } from '../../src/race/bugs.js';
import { raceScenarios } from '../../src/race/scenario.js';

const FIXTURE = fileURLToPath(new URL('./hang-fixture.js', import.meta.url));
const noLoad = { loadModule: async () => {} };
const expand = (raw: unknown, path = 'c.json') => expandCampaign(raw, { ...noLoad, path, defaultName: 'c' });
const rejects = async (raw: unknown, re: RegExp) => {
  let err: Error | null = null;
  try {
    await expand(raw);
  } catch (e) {
    err = e as Error;
  }
  expect(err, `expected ${re}`).to.be.instanceOf(RangeError);
  expect(err!.message).to.match(re);
};

describe('campaign: files, jobs and job ids', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kiolab-campaign-file-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('expands every switch × 2 modes × 3 seeds into one job per (switch, scenario, mode, seed), ids unique', async () => {
    const c = await expand({ name: 'all', scenarios: [{ switches: 'all' }], modes: ['explore', 'stress'], seeds: { from: 1, to: 3 }, iterations: 50 });
    const pairs = BUGS.filter((b) => b.implemented).reduce((n, b) => n + raceScenarios().filter((s) => !s.synthetic && s.bugs.includes(b.name)).length, 0);
    expect(BUGS.filter((b) => b.implemented).length).to.equal(24);
    expect(c.jobs.length).to.equal(pairs * 2 * 3);
    expect(new Set(c.jobs.map((j) => j.id)).size).to.equal(c.jobs.length);
    for (const { id, job } of c.jobs) {
      expect(id).to.equal(jobId(job));
      expect(job).to.include({ iterations: 50, budget: 60, replays: 3, detect: null, version: KIOLAB_VERSION, module: null });
    }
    // The same jobs listed again (another entry, repeated seeds) add nothing.
    const again = await expand({ name: 'all', scenarios: [{ switches: 'all' }, { scenario: 'biowait' }], modes: ['explore', 'stress'], seeds: [1, 2, 3, 3], iterations: 50 });
    expect(again.jobs.map((j) => j.id)).to.deep.equal(c.jobs.map((j) => j.id));
  });

  it('a job id is the hash of what it runs: key order does not matter, any field does', () => {
    const job: CampaignJob = { scenario: 'biowait', bug: 'vfs-biowait-no-interlock', module: null, mode: 'explore', seed: 1, budget: 10, iterations: null, detect: null, replays: 3, hangMargin: 30, version: KIOLAB_VERSION };
    const reordered = Object.fromEntries(Object.entries(job).reverse()) as unknown as CampaignJob;
    expect(canonicalJson(reordered)).to.equal(canonicalJson(job));
    expect(jobId(reordered)).to.equal(jobId(job)).and.match(/^[0-9a-f]{64}$/);
    for (const change of [{ seed: 2 }, { budget: 11 }, { iterations: 5 }, { mode: 'stress' }, { version: '9.9.9' }, { bug: null }, { detect: 'race' }]) {
      expect(jobId({ ...job, ...change } as CampaignJob), JSON.stringify(change)).to.not.equal(jobId(job));
    }
  });

  it('a scenario entry with switches, clean runs and a user module (named by its content hash)', async () => {
    const a = join(dir, 'a.js');
    const b = join(dir, 'b.js');
    copyFileSync(FIXTURE, a);
    copyFileSync(FIXTURE, b);
    writeFileSync(b, `// another build of the same module\n`, { flag: 'a' });
    const loaded: string[] = [];
    const c = await expandCampaign(
      { name: 'mod', scenarios: [{ scenario: 'biowait', switches: ['vfs-biowait-no-interlock'], clean: true }, { scenario: 'campaign-hang', module: 'a.js', switches: [], clean: true }, { scenario: 'campaign-hang', module: 'b.js', switches: [], clean: true }], budget: 2 },
      { path: join(dir, 'c.json'), loadModule: async (p) => void loaded.push(p) },
    );
    expect(loaded).to.deep.equal([a, b]);
    expect(c.jobs.map((j) => [j.job.scenario, j.job.bug, j.job.module?.name ?? null])).to.deep.equal([
      ['biowait', 'vfs-biowait-no-interlock', null],
      ['biowait', null, null],
      ['campaign-hang', null, 'a.js'],
      ['campaign-hang', null, 'b.js'],
    ]);
    const [ha, hb] = [c.jobs[2].job.module!.sha256, c.jobs[3].job.module!.sha256];
    expect(ha).to.not.equal(hb);
    expect(c.modules.get(ha)).to.equal(a);
    expect(c.modules.get(hb)).to.equal(b);
    expect(c.jobs[0].job).to.include({ budget: 2, iterations: null, hangMargin: 30 });
  });

  it('every problem names its field', async () => {
    await rejects([], /campaign c\.json: expected a JSON object/);
    await rejects({ scenarios: [{ switches: 'all' }], budget: 1, extra: 1 }, /field "extra": unknown field/);
    await rejects({ scenarios: [{ switches: 'all' }] }, /field "budget": give a budget in seconds per job/);
    await rejects({ scenarios: [{ switches: ['vfs-biowait-no-interlock', 'nope'] }], budget: 1 }, /field "scenarios\[0\]\.switches\[1\]": .*unknown bug switch "nope"/);
    await rejects({ scenarios: [{ scenario: 'biowait', switches: ['vfs-getblk-no-recheck'] }], budget: 1 }, /field "scenarios\[0\]\.switches\[0\]": scenario biowait does not catch vfs-getblk-no-recheck/);
    await rejects({ scenarios: [{ scenario: 'nope' }], budget: 1 }, /field "scenarios\[0\]\.scenario": unknown race scenario "nope"/);
    await rejects({ scenarios: [{}], budget: 1 }, /field "scenarios\[0\]": give a "scenario", "switches"/);
    await rejects({ scenarios: [{ switches: 'all', bug: 'x' }], budget: 1 }, /field "scenarios\[0\]\.bug": unknown field/);
    await rejects({ scenarios: [{ switches: 'all' }], budget: 1, modes: ['explore', 'fast'] }, /field "modes\[1\]": expected stress, explore, bounded, got "fast"/);
    await rejects({ scenarios: [{ switches: 'all' }], budget: 1, seeds: { from: 3, to: 1 } }, /field "seeds\.to": expected a whole number >= from/);
    await rejects({ scenarios: [{ switches: 'all' }], budget: 1, seeds: [1, -1] }, /field "seeds\[1\]"/);
    await rejects({ scenarios: [{ switches: 'all' }], budget: 0, iterations: 1.5 }, /field "budget": expected a number in \[0\.1, 604800\], got 0/);
    await rejects({ scenarios: [{ switches: 'all' }], iterations: 1.5 }, /field "iterations": expected a whole number/);
    await rejects({ scenarios: [{ switches: 'all' }], budget: 1, detect: 'all' }, /field "detect": expected "race"/);
    await rejects({ name: 'a b', scenarios: [{ switches: 'all' }], budget: 1 }, /field "name": expected 1-64 letters/);
    await rejects({ scenarios: [{ scenario: 'biowait', module: 'missing.js' }], budget: 1 }, /field "scenarios\[0\]\.module": cannot read "missing\.js" \(ENOENT\)/);
    await rejects({ scenarios: [{ switches: 'all' }], budget: 1, mutants: true }, /field "mutants": the mutation suite is not a campaign job yet/);
  });

  it('a worker takes nothing but a campaign job, and builds the race argv from it, never a shell line', () => {
    const job: CampaignJob = { scenario: 'biowait', bug: 'vfs-biowait-no-interlock', module: null, mode: 'explore', seed: 7, budget: 2, iterations: 40, detect: 'race', replays: 1, hangMargin: 5, version: KIOLAB_VERSION };
    expect(checkJob(JSON.parse(JSON.stringify(job)))).to.deep.equal(job);
    expect(raceArgv(job, '/tmp/x/replay.json')).to.deep.equal([CLI_PATH, 'race', 'biowait', '--bug', 'vfs-biowait-no-interlock', '--mode', 'explore', '--seed', '7', '--budget', '2', '--iterations', '40', '--detect', 'race', '--json', '--save', '/tmp/x/replay.json']);
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ ...job, cmd: 'touch /tmp/pwned' }, /field "cmd": not a field of a campaign job/],
      [{ ...job, scenario: '--help' }, /field "scenario": expected a scenario name/],
      [{ ...job, bug: 'x; rm -rf /' }, /field "bug": expected a switch name or null/],
      [{ ...job, mode: 'shell' }, /field "mode"/],
      [{ ...job, seed: '1' }, /field "seed"/],
      [{ ...job, module: { name: '../../etc/passwd', sha256: 'a'.repeat(64) } }, /field "module\.name"/],
      [{ ...job, module: { name: 'm.js', sha256: 'a'.repeat(64), path: '/tmp/evil.js' } }, /field "module": expected null or \{ name, sha256 \}/],
    ];
    for (const [data, re] of bad) expect(() => checkJob(data), JSON.stringify(data)).to.throw(RangeError, re);
    const { hangMargin: _, ...missing } = job;
    expect(() => checkJob(missing)).to.throw(RangeError, /field "hangMargin": missing/);
    // A module job runs only with the module this machine was given.
    expect(() => raceArgv({ ...job, module: { name: 'm.js', sha256: 'b'.repeat(64) } }, '/tmp/r.json')).to.throw(/needs module m\.js/);
    expect(raceArgv({ ...job, module: { name: 'm.js', sha256: 'b'.repeat(64) } }, '/tmp/r.json', '/opt/m.js').slice(0, 4)).to.deep.equal([CLI_PATH, 'race', '--module', '/opt/m.js']);
  });
});
