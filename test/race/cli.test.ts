import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadReplay, replayTimes, shrink } from '../../src/race/replay.js';
import { runRace } from '../../src/race/runner.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function kiolab(args: string[], cwd: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [CLI, ...args], { cwd, timeout: 60_000 }, (e, out, err) => {
      res({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err });
    });
  });
}

describe('race: the command and replay files', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kiolab-race-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('race --list shows the catalogue; bad usage exits 2 naming the problem', async () => {
    const list = await kiolab(['race', '--list'], dir);
    expect(list.code).to.equal(0);
    expect(list.out).to.contain('vfs-biowait-no-interlock').and.contain('bc-drain-order');
    expect(list.out).to.match(/24 switches, 24 implemented; 6 are the seeds. own code \(--as-seed\)$/m);
    const bad = await kiolab(['race', 'biowait', '--bug', 'no-such-bug'], dir);
    expect(bad.code).to.equal(2);
    expect(bad.err).to.match(/unknown bug switch "no-such-bug"/);
    const elsewhere = await kiolab(['race', 'biowait', '--bug', 'vfs-getblk-no-recheck'], dir);
    expect(elsewhere.code).to.equal(2);
    expect(elsewhere.err).to.match(/scenario biowait does not exercise vfs-getblk-no-recheck; it catches: /);
  });

  it('race exits 1 with the report and a saved schedule that `kiolab replay` reproduces', async () => {
    const r = await kiolab(['race', 'biowait', '--bug', 'vfs-biowait-no-interlock', '--seed', '5', '--budget', '50'], dir);
    expect(r.code, r.err).to.equal(1);
    expect(r.out).to.match(/FAILURE lost-wakeup in iteration \d+/).and.match(/scheduler: PCT, n=3 cpus/).and.match(/last events of each worker/);
    const m = /replay: kiolab replay (\S+)/.exec(r.out);
    expect(m, r.out).to.not.equal(null);
    expect(existsSync(join(dir, m![1]))).to.equal(true);
    const file = loadReplay(join(dir, m![1]));
    expect(file.kind).to.equal('lost-wakeup');
    // The sleep's wmesg comes from b_cmd at the time it sleeps: "biowr" once the completion has set DONE.
    expect(file.events.some((e) => /tsleep "bio(rd|wr)"/.test(e)), 'the failing iteration records the lost sleep').to.equal(true);
    const rp = await kiolab(['replay', m![1], '--times', '2'], dir);
    expect(rp.code, rp.err).to.equal(1);
    expect(rp.out).to.match(/2\/2 reproduced the lost-wakeup/);
    // The same run again would overwrite the saved schedule: refused up front without --force.
    const again = await kiolab(['race', 'biowait', '--bug', 'vfs-biowait-no-interlock', '--seed', '5', '--budget', '50'], dir);
    expect(again.code).to.equal(2);
    expect(again.err).to.contain(`--save: "${m![1]}" exists; not overwriting it without --force`);
    // A file edited to a later iteration contradicts its own seed: a clear error, exit 2.
    if (file.iteration < 50) {
      const edited = join(dir, 'edited.json');
      writeFileSync(edited, JSON.stringify({ ...file, iteration: file.iteration + 5 }));
      const e = await kiolab(['replay', edited], dir);
      expect(e.code, e.out).to.equal(2);
      expect(e.err).to.match(new RegExp(`edited.json contradicts itself: it records a lost-wakeup in iteration ${file.iteration + 5}, but replaying its seed fails earlier, with a lost-wakeup in iteration ${file.iteration} \\(was the file edited\\?\\)`));
    }
  });

  it('--shrink keeps only the switches the failure needs, and the shrunk schedule still fails', async () => {
    const r = await runRace({ scenario: 'biowait', bug: 'vfs-biowait-no-interlock', mode: 'explore', seed: 5, budgetMs: 50_000 });
    expect(r.replay, r.failure?.message).to.not.equal(null);
    const s = await shrink(r.replay!, { budgetMs: 60_000 });
    expect(s.after).to.be.at.most(s.before);
    expect(s.preemptionsAfter).to.be.at.most(s.preemptionsBefore);
    const rp = await replayTimes(s.file, 2);
    expect(rp.reproduced, rp.misses.join(' | ')).to.equal(2);
    expect(JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')).name).to.be.a('string');
  });

  it('race --matrix --bugs runs only the listed switches (and their scenarios clean); bad names exit 2', async () => {
    const bad = await kiolab(['race', '--matrix', '--bugs', 'vfs-biowait-no-interlock,no-such-bug'], dir);
    expect(bad.code).to.equal(2);
    expect(bad.err).to.match(/--bugs: .*no-such-bug/);
    const mode = await kiolab(['race', '--matrix', '--bugs', 'vfs-biowait-no-interlock', '--mode', 'explore,chaos'], dir);
    expect(mode.code).to.equal(2);
    expect(mode.err).to.match(/--mode: expected stress, explore/);
    const r = await kiolab(['race', '--matrix', '--bugs', 'vfs-biowait-no-interlock', '--mode', 'explore', '--replays', '2', '--clean-budget', '0.5', '--json'], dir);
    expect(r.code, r.err).to.equal(0);
    const rows = JSON.parse(r.out) as { bug: string | null; scenario: string; detected: boolean; replayed: string; ok: boolean }[];
    expect(rows.map((x) => `${x.bug ?? 'clean'}/${x.scenario}`)).to.deep.equal(['vfs-biowait-no-interlock/biowait', 'clean/biowait']);
    expect(rows[0].detected).to.equal(true);
    expect(rows[0].replayed).to.equal('2/2');
    expect(rows.every((x) => x.ok)).to.equal(true);
  });
});
