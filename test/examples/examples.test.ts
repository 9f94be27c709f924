/**
 * The worked examples (examples/), run the way their README runs them: `kiolab race --module`
 * finds each example's bug and the saved schedule replays it exactly; clean runs find nothing;
 * the ticket lock's bench scenario runs through `kiolab bench --module`. And bad modules get one
 * line and exit 2.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const DIST = fileURLToPath(new URL('../../', import.meta.url));
const TICKET = join(DIST, 'examples/ticket-lock/ticket-lock.js');
const PC = join(DIST, 'examples/producer-consumer/pc.js');

function kiolab(args: string[], cwd: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [CLI, ...args], { cwd, timeout: 240_000, maxBuffer: 64 << 20 }, (e, out, err) => {
      res({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err });
    });
  });
}

describe('examples: user code in the lab (--module)', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(DIST, '.examples-test-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const ex of [
    { module: TICKET, scenario: 'ticket-lock', bug: 'ticket-take-nonatomic', kinds: ['assertion', 'invariant', 'hang'] },
    { module: PC, scenario: 'producer-consumer', bug: 'pc-lost-wakeup', kinds: ['lost-wakeup'] },
  ]) {
    it(`race --module finds ${ex.bug} in ${ex.scenario}, and the replay file (which names the module) reproduces it 10/10`, async () => {
      const save = join(dir, `${ex.scenario}.json`);
      const r = await kiolab(['race', '--module', ex.module, ex.scenario, '--bug', ex.bug, '--save', save, '--budget', '60', '--json'], dir);
      expect(r.code, r.err).to.equal(1);
      const res = JSON.parse(r.out) as { failure: { kind: string; message: string } | null; replay: { modules?: string[] } | null };
      expect(res.failure, 'a failure').to.not.equal(null);
      expect(ex.kinds, res.failure!.message).to.include(res.failure!.kind);
      expect(res.replay!.modules).to.deep.equal([ex.module]);
      const rp = await kiolab(['replay', save, '--times', '10', '--json'], dir);
      expect(rp.code, rp.err).to.equal(1);
      expect((JSON.parse(rp.out) as { reproduced: number }).reproduced).to.equal(10);
    });

    it(`clean runs of ${ex.scenario} report nothing (explore and stress)`, async () => {
      for (const mode of ['explore', 'stress']) {
        const r = await kiolab(['race', '--module', ex.module, ex.scenario, '--mode', mode, '--iterations', '40', '--budget', '120', '--json'], dir);
        expect(r.code, `${mode}: ${r.out.slice(0, 2000)} ${r.err}`).to.equal(0);
        expect((JSON.parse(r.out) as { iterations: number }).iterations, mode).to.equal(40);
      }
    });
  }

  it('bench --module runs the ticket lock under contention with the full report, its check holding', async () => {
    for (const lock of ['ticket', 'mtx']) {
      const r = await kiolab(['bench', '--module', TICKET, 'ticket-lock', '--lock', lock, '--cpus', '2', '--ops', '4000', '--json'], dir);
      expect(r.code, r.err).to.equal(0);
      const rep = JSON.parse(r.out) as { jobs: { jobname: string; write: { total_ios: number } }[]; checks: { ok: boolean }[] };
      expect(rep.jobs[0].jobname).to.equal(`lock-unlock (${lock})`);
      expect(rep.jobs[0].write.total_ios).to.equal(4000);
      expect(rep.checks.every((c) => c.ok)).to.equal(true);
    }
  });

  it('list shows the modules\' scenarios and switches', async () => {
    const r = await kiolab(['list', '--module', TICKET, '--module', PC], dir);
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.contain('ticket-lock').and.contain('producer-consumer').and.contain('pc-lost-wakeup').and.contain('ticket-take-nonatomic');
  });

  it('bad modules: one line naming the problem, exit 2', async () => {
    const syntax = join(dir, 'broken.js');
    writeFileSync(syntax, 'export const x = ;\n');
    const throws = join(dir, 'throws.js');
    writeFileSync(throws, "throw new Error('not today');\n");
    mkdirSync(join(dir, 'twin'));
    const twin = join(dir, 'twin', 'ticket-lock.js');
    copyFileSync(PC, twin);
    const cases: [string[], RegExp][] = [
      [['race', '--module', join(dir, 'missing.js'), 'x'], /--module .*missing\.js: no such file$/],
      [['race', '--module', syntax, 'x'], /--module .*broken\.js: syntax error: /],
      [['race', '--module', throws, 'x'], /--module .*throws\.js: failed to load: not today$/],
      [['race', '--module', PC, 'no-such-scenario'], /race: unknown scenario "no-such-scenario"/],
      [['race', '--module', PC, '--module', twin, 'producer-consumer'], /--module .*twin.*: failed to load: .*producer-consumer.* registered twice/],
      [['bench', '--module', PC, 'no-such-scenario'], /bench: unknown scenario "no-such-scenario"/],
      [['race', '--module'], /--module: which file\?/],
    ];
    for (const [args, re] of cases) {
      const r = await kiolab(args, dir);
      expect(r.code, `${args.join(' ')}: ${r.err}`).to.equal(2);
      const lines = r.err.trim().split('\n');
      expect(lines, args.join(' ')).to.have.length(1);
      expect(lines[0], args.join(' ')).to.match(new RegExp(`^kiolab: ${re.source.replace(/\$$/, '')}`));
    }
  });
});
