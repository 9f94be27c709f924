/**
 * `kiolab campaign FILE` on this machine: the pool of race processes, the results folder (the
 * jobs' results, the replay files, report.json and a self-contained report.html), resuming, the
 * folders it refuses, a runaway job killed and reported as a hang, and the options it rejects.
 */
import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CampaignReport } from '../../src/campaign/report.js';
import { SMALL, kiolab } from './helpers.js';

const FIXTURE = fileURLToPath(new URL('./hang-fixture.js', import.meta.url));
/** SMALL and a clean scenario. */
const LOCAL = { ...SMALL, scenarios: [...SMALL.scenarios, { scenario: 'biowait', switches: [], clean: true }] };

describe('campaign: a local run', function () {
  this.timeout(120_000);
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kiolab-campaign-local-'));
    writeFileSync(join(dir, 'small.json'), JSON.stringify(LOCAL));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs every job once, writes results, replay files and a self-contained HTML report, and resumes', async () => {
    const r = await kiolab(['campaign', 'small.json', '--concurrency', '2', '--json'], dir);
    expect([0, 1], r.err).to.include(r.code);
    const rep = JSON.parse(r.out) as CampaignReport;
    expect(rep.jobs).to.equal(8);
    expect(rep.finished).to.equal(8);
    expect(rep.results.map((x) => x.status).filter((s) => s !== 'clean' && s !== 'detected')).to.deep.equal([]);
    // bc-history-no-recheck and swap-vx-busy-missing are found in explore at once (README's matrix), and their schedules replay.
    for (const bug of ['bc-history-no-recheck', 'swap-vx-busy-missing']) {
      const cell = rep.matrix.find((c) => c.bug === bug)!;
      expect(cell, bug).to.include({ detected: 2, jobs: 2, replayed: '2/2', ok: true });
    }
    expect(rep.matrix.find((c) => c.bug === null)).to.include({ scenario: 'biowait', detected: 0, ok: true });
    // A run that found nothing stopped at the iteration cap: the same count on any machine.
    for (const x of rep.results.filter((y) => y.status === 'clean')) expect(x, x.id).to.include({ iterations: 100, capped: true });
    expect(rep.iterations.find((x) => x.scenario === 'bc-history')).to.deep.equal({ scenario: 'bc-history', mode: 'explore', jobs: 2, iterations: rep.results.filter((x) => x.scenario === 'bc-history').reduce((n, x) => n + x.iterations!, 0) });
    // One progress line per job, each with an ETA.
    expect(r.err.match(/^campaign: \[\d\/8\] .*— (ETA [0-9hms]+|all done)$/gm)).to.have.length(8);

    const out = join(dir, 'campaign-results', 'small');
    expect(readdirSync(join(out, 'jobs'))).to.have.length(8);
    const replays = readdirSync(join(out, 'replays'));
    expect(replays.length).to.equal(rep.failures.length).and.be.at.least(4);
    for (const f of rep.failures) expect(f.command).to.equal(`kiolab replay ${out}/replays/${f.replayFile}`);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).to.match(/<table>.*<td>bc-history-no-recheck<\/td><td>bc-history<\/td><td>explore<\/td><td>detected<\/td><td>2\/2<\/td>/s);
    expect(html).to.not.match(/https?:\/\/|<script|<link|src=/);
    expect(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).finished).to.equal(8);

    // A saved schedule replays with kiolab replay.
    const rp = await kiolab(['replay', join(out, 'replays', replays[0]), '--times', '1'], dir);
    expect(rp.code, rp.err).to.equal(1);
    expect(rp.out).to.match(/1\/1 reproduced/);

    // Again: every job has its result, nothing runs, the report is the same.
    const again = await kiolab(['campaign', 'small.json', '--json'], dir);
    expect(again.code).to.equal(r.code);
    expect(again.err).to.not.match(/^campaign: \[/m);
    const rep2 = JSON.parse(again.out) as CampaignReport;
    expect(rep2.results).to.deep.equal(rep.results);
  });

  it('never writes into a folder that is not a campaign of the same name; bad input exits 2 naming it', async () => {
    mkdirSync(join(dir, 'mine'));
    writeFileSync(join(dir, 'mine', 'notes.txt'), 'keep me');
    const r = await kiolab(['campaign', 'small.json', '--out', 'mine'], dir);
    expect(r.code).to.equal(2);
    expect(r.err).to.contain('kiolab: --out: "mine" is not empty and is not a campaign\'s results folder (no campaign.json); not writing into it');
    expect(readdirSync(join(dir, 'mine'))).to.deep.equal(['notes.txt']);
    writeFileSync(join(dir, 'other.json'), JSON.stringify({ ...LOCAL, name: 'other' }));
    const o = await kiolab(['campaign', 'other.json', '--out', 'campaign-results/small'], dir);
    expect(o.code).to.equal(2);
    expect(o.err).to.contain('holds the results of campaign "small"; not mixing campaign "other" into it without --force');
    const bad = await kiolab(['campaign', 'other.json', '--stall-timeout', '3'], dir);
    expect(bad.code).to.equal(2);
    expect(bad.err).to.contain('campaign: --stall-timeout does not apply to a local campaign');
    const nw = await kiolab(['campaign', 'other.json', '--no-wait'], dir);
    expect(nw.code).to.equal(2);
    expect(nw.err).to.contain('campaign: --no-wait does not apply to a local campaign');
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ...LOCAL, seeds: [1, 'two'] }));
    const b = await kiolab(['campaign', 'bad.json'], dir);
    expect(b.code).to.equal(2);
    expect(b.err).to.contain('kiolab: campaign bad.json: field "seeds[1]": expected a whole number');
    expect(existsSync(join(dir, 'campaign-results', 'bad'))).to.equal(false);
  });

  it('kills a job that outlives its budget by the hang margin and reports it as a hang', async () => {
    writeFileSync(join(dir, 'hang.json'), JSON.stringify({ name: 'hang', scenarios: [{ scenario: 'campaign-hang', module: FIXTURE, switches: [], clean: true }], modes: ['explore'], seeds: [1], budget: 1, hangMargin: 1 }));
    const r = await kiolab(['campaign', 'hang.json', '--json'], dir);
    expect(r.code, r.err).to.equal(1);
    const rep = JSON.parse(r.out) as CampaignReport;
    expect(rep.results.map((x) => x.status)).to.deep.equal(['hang']);
    expect(rep.problems[0].what).to.match(/^hang: the run went on \d+\.\d s, past its budget of 1 s by more than the hang margin \(1 s\); killed$/);
    expect(rep.matrix[0]).to.include({ scenario: 'campaign-hang', hangs: 1, ok: false });
    expect(r.err).to.match(/campaign: \[1\/1\] campaign-hang \(clean\) explore seed 1: hang: /);
  });
});
