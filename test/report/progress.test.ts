import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { ProgressLine } from '../../src/report/progress.js';

describe('report: the progress line', () => {
  it('shows elapsed, ETA and live IOPS from a clock and op counts', () => {
    let now = 1000;
    const out: string[] = [];
    const p = new ProgressLine(true, (s) => out.push(s), () => now);
    p.plan({ durationMs: 10_000, label: 'bufcache' });
    now += 2000;
    p.ops(50_000);
    expect(out.at(-1)).to.equal('\r\x1b[K[bufcache]  elapsed 2.0s  ETA 8.0s  25.0k IOPS  50,000 ios');
    now += 1000;
    p.ops(80_000);
    expect(out.at(-1)).to.equal('\r\x1b[K[bufcache]  elapsed 3.0s  ETA 7.0s  30.0k IOPS  80,000 ios');
    p.clear();
    expect(out.at(-1)).to.equal('\r\x1b[K');
  });

  it('the ETA of an --ops run follows the op count', () => {
    let now = 0.5;
    const p = new ProgressLine(true, () => {}, () => now);
    p.plan({ ops: 1000 });
    now += 1000;
    expect(p.line(250)).to.contain('ETA 3.0s');
    expect(p.line(250)).to.contain('250 ios of 1,000');
  });

  it('counts the ETA from when the load began, not from when the workers were being started', () => {
    let now = 1000;
    const p = new ProgressLine(true, () => {}, () => now);
    p.plan({ durationMs: 10_000 });
    now = 1500;
    expect(p.line(0)).to.equal('elapsed 0.5s  starting workers  ETA 10.0s  0 IOPS  0 ios');
    now = 2000;
    expect(p.line(1000)).to.equal('elapsed 1.0s  ETA 9.5s  2000 IOPS  1,000 ios');
  });

  it('is silent when disabled (not a TTY, or --json)', () => {
    const out: string[] = [];
    const p = new ProgressLine(false, (s) => out.push(s));
    p.plan({ durationMs: 1000 });
    p.ops(5);
    p.message('hello');
    p.clear();
    expect(out).to.deep.equal([]);
  });
});

describe('report: live op counters', () => {
  it('add up across cpus and across the 32-bit wrap of a counter', async () => {
    const { Machine } = await import('../../src/engine/machine.js');
    const { LiveOps, TraceHeaderLayout, rings } = await import('../../src/report/trace.js');
    const m = new Machine({ ncpu: 2, report: { live: true } } as never);
    const [a, b] = rings(m.arena, m.spec);
    const live = new LiveOps(m.arena, m.spec);
    const H = m.arena.view(TraceHeaderLayout);
    H.store(a.hdr, 'th_live', 2 ** 31 - 10); // as an OpRecorder leaves it: | 0
    H.store(b.hdr, 'th_live', 5);
    expect(live.read()).to.equal(2 ** 31 - 5);
    H.store(a.hdr, 'th_live', (2 ** 31 - 10 + 20) | 0); // wrapped to a negative word
    expect(live.read()).to.equal(2 ** 31 + 15);
  });
});
