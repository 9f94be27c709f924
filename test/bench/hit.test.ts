/**
 * The hit-path benchmarks of `npm run bench` in their quickest form: each runs, and its report
 * has the right shape with positive figures. No assertion on time or on targets being met.
 */
import { expect } from 'chai';
import '../../workers/index.js';
import '../../bench/hit.js';
import { type BenchmarkResult, benchmarks } from '../../bench/registry.js';

const NAMES = ['bootcache-hit', 'bufcache-hit', 'bootcache-postmessage', 'bootcache-scaling', 'bufcache-scaling'];

function checkShape(name: string, r: BenchmarkResult): void {
  expect(r.figures, `${name}: figures`).to.be.an('array').that.is.not.empty;
  for (const f of r.figures) {
    const at = `${name}: figure ${JSON.stringify(f.name)}`;
    expect(f.name, at).to.be.a('string').that.is.not.empty;
    expect(f.unit, at).to.be.a('string').that.is.not.empty;
    for (const k of ['baseline', 'value', 'ratio'] as const) {
      expect(f[k], `${at}.${k}`).to.be.a('number');
      expect(Number.isFinite(f[k]) && f[k] > 0, `${at}.${k} = ${f[k]} must be a positive number`).to.equal(true);
    }
    if (f.target !== undefined) {
      expect(f.target, at).to.be.a('string');
      expect(f.ok, at).to.be.a('boolean');
    }
  }
  expect(r.details, `${name}: details`).to.be.an('object');
  expect(r.text, `${name}: text`).to.be.a('string').that.includes(name);
}

describe('bench: hit paths, postMessage and scaling (quickest form)', function () {
  this.timeout(120_000);
  const opts = { scale: 0.01, reps: 1 };
  const byName = () => new Map(benchmarks().map((b) => [b.name, b]));

  it('registers every hit-path benchmark', () => {
    const m = byName();
    for (const n of NAMES) expect(m.has(n), n).to.equal(true);
  });

  for (const name of NAMES) {
    it(`${name}: runs and reports positive figures`, async () => {
      const r = await byName().get(name)!.run(opts, () => {});
      checkShape(name, r);
      if (name.endsWith('-scaling')) {
        const names = r.figures.map((f) => f.name);
        expect(names.some((n) => n.includes('2 callers vs 1')), names.join('; ')).to.equal(true);
        expect(names.some((n) => n.includes('4 callers vs 1')), names.join('; ')).to.equal(true);
        expect(r.figures.some((f) => f.target !== undefined), `${name}: the 2-caller target`).to.equal(true);
      } else {
        expect(r.figures[0].target, `${name}: the first figure carries the issue's target`).to.be.a('string');
      }
      if (name === 'bootcache-scaling') {
        // Both locking modes, and the funnel's lock class in the explanation of why it cannot scale.
        expect(r.figures.some((f) => f.name.includes('fine'))).to.equal(true);
        expect(r.figures.some((f) => f.name.includes('funnel'))).to.equal(true);
        expect(r.text).to.match(/kernel_flock/);
      }
    });
  }
});
