/**
 * The package as a user gets it: `npm pack` holds what `import 'kiolab'` and the `kiolab` bin
 * need and nothing from the tests; installed into a scratch project, the API works from
 * JavaScript and type-checks from TypeScript, and the bin runs a user's own race scenario.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PC = fileURLToPath(new URL('../../examples/producer-consumer/pc.js', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function run(cmd: string, args: string[], cwd: string, timeout = 300_000): Promise<{ code: number; out: string; err: string }> {
  return new Promise((res) => {
    execFile(cmd, args, { cwd, timeout, maxBuffer: 64 << 20 }, (e, out, err) => {
      res({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err });
    });
  });
}

describe('api: the packed package in a scratch project', function () {
  this.timeout(600_000);
  let scratch = '';
  let files: string[] = [];
  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'kiolab-pack-'));
    // --ignore-scripts: dist/ is built already, and rebuilding it under running tests breaks them.
    const p = await run(NPM, ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], ROOT);
    expect(p.code, p.err).to.equal(0);
    const info = JSON.parse(p.out) as { filename: string; files: { path: string }[] }[];
    files = info[0].files.map((f) => f.path);
    writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
    const i = await run(NPM, ['install', '--no-audit', '--no-fund', '--prefer-offline', join(scratch, info[0].filename)], scratch);
    expect(i.code, i.err).to.equal(0);
  });
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('packs the entry point, its types, the bin and the workers, and nothing from test/', () => {
    for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js', 'dist/workers/role.js', 'dist/src/race/checker-worker.js', 'package.json', 'README.md', 'docs/RACES.md', 'docs/DESIGN.md']) {
      expect(files, f).to.include(f);
    }
    expect(files.filter((f) => /(^|\/)test\//.test(f) || f.startsWith('dist/noinst/') || f.endsWith('.map'))).to.deep.equal([]);
  });

  it('import from kiolab works from JavaScript: a machine of its own roles, a race and a bench', async () => {
    writeFileSync(
      join(scratch, 'roles.mjs'),
      `import { defineStruct, registerPlanner, registerRoles } from 'kiolab';
export const W = defineStruct('w', { w_n: { line: 'i32' } }, { align: 64 });
registerPlanner('scratch.w', (plan) => plan.pool('scratch.w', W, 1));
registerRoles(import.meta.url, {
  'scratch:add': (k, a) => { const V = k.arena.view(W); const b = k.arena.pool('scratch.w', W).addr(0); for (let i = 0; i < a.n; i++) V.add(b, 'w_n', 1); return a.n; },
});
`,
    );
    writeFileSync(
      join(scratch, 'use.mjs'),
      `import { Machine, runBench, runRace } from 'kiolab';
import { W } from './roles.mjs';
const m = new Machine({ ncpu: 2 });
await m.run([{ role: 'scratch:add', args: { n: 1000 }, count: 2 }]);
const total = m.arena.view(W).load(m.arena.pool('scratch.w', W).addr(0), 'w_n');
const race = await runRace({ scenario: 'biowait', bug: 'vfs-biowait-no-interlock', mode: 'explore', seed: 1, budgetMs: 60000 });
const bench = await runBench('locks', { cpus: 2, ops: 500 });
console.log(JSON.stringify({ total, kind: race.failure && race.failure.kind, ios: bench.report.jobs[0].read.total_ios + bench.report.jobs[0].write.total_ios, exit: bench.exitCode }));
`,
    );
    const r = await run(process.execPath, ['use.mjs'], scratch);
    expect(r.code, r.err).to.equal(0);
    expect(JSON.parse(r.out)).to.deep.equal({ total: 2000, kind: 'lost-wakeup', ios: 500, exit: 0 });
  });

  it('type-checks from TypeScript (strict, NodeNext) against the packed declarations', async () => {
    writeFileSync(
      join(scratch, 'use.ts'),
      `import { type Kernel, type RaceResult, type RunReport, Sync, PINTERLOCKED, defineStruct, registerRaceScenario, runBench, runRace } from 'kiolab';
const L = defineStruct('t', { t_word: { line: 'i32' } }, { align: 64 });
registerRaceScenario<{ k: Kernel }>({ name: 't', description: 't', bugs: [], parts: ['a'], state: { layout: L }, attach: (k) => ({ k }), run: () => {} });
const sleep = (s: Sync, chan: number): number => s.tsleep(chan, PINTERLOCKED, 'x', 1);
export async function go(): Promise<[RaceResult, RunReport]> {
  const r = await runRace({ scenario: 't', bug: null, mode: 'explore' });
  const b = await runBench<RunReport>('locks', { ops: 10 });
  void sleep;
  return [r, b.report];
}
`,
    );
    writeFileSync(join(scratch, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, types: ['node'] }, files: ['use.ts'] }));
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = await run(process.execPath, [tsc, '-p', scratch, '--typeRoots', join(ROOT, 'node_modules', '@types')], scratch);
    expect(r.code, r.out + r.err).to.equal(0);
  });

  it('the kiolab bin runs a user module with --module', async () => {
    const bin = join(scratch, 'node_modules', '.bin', 'kiolab');
    const v = await run(bin, ['--version'], scratch);
    expect(v.out.trim()).to.equal((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
    copyFileSync(PC, join(scratch, 'pc.js'));
    const r = await run(bin, ['race', '--module', './pc.js', 'producer-consumer', '--bug', 'pc-lost-wakeup', '--json', '--save', 'pc-replay.json'], scratch);
    expect(r.code, r.err).to.equal(1);
    expect((JSON.parse(r.out) as { failure: { kind: string } }).failure.kind).to.equal('lost-wakeup');
  });
});
