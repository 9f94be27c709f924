import { expect } from 'chai';
import { Histogram } from '../../src/report/histogram.js';

describe('report: log-linear histogram', () => {
  it('percentiles stay within the bucket precision (1/64) of the exact values', () => {
    const h = new Histogram();
    const xs: number[] = [];
    let seed = 12345;
    for (let i = 0; i < 100_000; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const v = Math.floor(1000 * Math.exp((seed / 2 ** 32) * 10)); // 1 µs .. ~22 ms, log-uniform
      xs.push(v);
      h.record(v);
    }
    xs.sort((a, b) => a - b);
    for (const p of [50, 90, 99, 99.9]) {
      const exact = xs[Math.ceil((p / 100) * xs.length) - 1];
      expect(Math.abs(h.percentile(p) - exact) / exact, `p${p}`).to.be.lessThan(1 / 64);
    }
    expect(h.min).to.equal(xs[0]);
    expect(h.max).to.equal(xs[xs.length - 1]);
  });

  it('merging per-worker histograms equals one histogram of all values, through JSON', () => {
    const all = new Histogram();
    const parts = [new Histogram(), new Histogram(), new Histogram()];
    for (let i = 0; i < 30_000; i++) {
      const v = (i * 7919) % 1_000_003;
      all.record(v);
      parts[i % 3].record(v);
    }
    const merged = new Histogram();
    for (const p of parts) merged.merge(JSON.parse(JSON.stringify(p.toJSON())));
    const a = all.toJSON();
    const m = merged.toJSON();
    expect(m.buckets).to.deep.equal(a.buckets);
    expect([m.count, m.min, m.max, m.sum]).to.deep.equal([a.count, a.min, a.max, a.sum]);
    expect(m.sumsq / a.sumsq).to.be.closeTo(1, 1e-12); // float sums in another order
    expect(merged.percentile(99)).to.equal(all.percentile(99));
  });
});
