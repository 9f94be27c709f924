import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { NOINST_DIR, ensureNoinst, noinstTransformer } from '../../bench/noinst.js';

const emit = (src: string) => {
  const stats = { hooks: 0, points: 0, switches: 0 };
  const out = ts.transpileModule(src, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022 }, transformers: { before: [noinstTransformer(stats)] } }).outputText;
  return { out, stats };
};

describe('race: the uninstrumented build (bench/noinst.ts)', function () {
  this.timeout(60_000);

  it('the transformer removes hook calls, points and switch checks, keeping the correct code', () => {
    const { out, stats } = emit(`
      class S { hook = null; _hook = null; lock(lk) { if (this.hook !== null) this.hook.at(5, lk, 0); take(lk); } unlock(lk) { this._hook?.at(8, lk, 0); give(lk); } }
      function f(s, count) {
        s.point(s.intern('x'), 1);
        if (bugs.any && bugs.enabled('a')) { historical(); } else { correct(); }
        if (!(bugs.any && bugs.enabled('b'))) wake();
        const early = bugs.any && bugs.enabled('c');
        const v = bugs.any && bugs.enabled('d') ? 0 : 7;
        return count === 0 && bugs.any && bugs.enabled('e');
      }`);
    expect(stats).to.deep.equal({ hooks: 2, points: 1, switches: 5 });
    expect(out).to.not.contain('hook.at').and.not.contain('hook?.at').and.not.contain('.point(').and.not.contain('bugs.').and.not.contain('historical');
    expect(out).to.contain('take(lk)').and.contain('give(lk)').and.contain('correct()').and.contain('wake()').and.contain('const early = false').and.contain('const v = 7');
  });

  it('dist/noinst has no instrumentation left, and a machine built from it runs a workload correctly', async () => {
    const s = ensureNoinst();
    expect(s.hooks).to.be.at.least(15);
    expect(s.points).to.be.at.least(10);
    expect(s.switches).to.be.at.least(20);
    // The sync layer: sync.js re-exports the locks (locks.js) and the sleep queues (sleepq.js).
    for (const f of ['src/sync/sync.js', 'src/sync/locks.js', 'src/sync/sleepq.js']) {
      const js = readFileSync(join(NOINST_DIR, f), 'utf8');
      expect(js, f).to.not.match(/\.at\(/).and.not.match(/hook !== null/);
    }
    for (const f of ['src/bufcache/daemon.js', 'src/device/bio.js', 'src/bufcache/getblk.js']) {
      const js = readFileSync(join(NOINST_DIR, f), 'utf8');
      expect(js, f).to.not.match(/bugs\.any/).and.not.match(/\.point\(/);
    }
    const cli = (await import(pathToFileURL(join(NOINST_DIR, 'src/cli/bufcache.js')).href)) as typeof import('../../src/cli/bufcache.js');
    const r = await cli.runBufBench(cli.parseBufBench({ callers: '2', ops: '300', nbuf: '64' }));
    const run = r.bufcache.runs[0];
    expect(run.oracle.mismatchCount).to.equal(0);
    expect(run.oracle.lostWrites).to.deep.equal([]);
    expect(run.invariants).to.deep.equal([]);
    expect(run.hits + run.misses).to.be.greaterThan(0);
  });
});
