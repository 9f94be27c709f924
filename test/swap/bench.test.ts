import { expect } from 'chai';
import { benchSwap, formatSwap } from '../../src/cli/swap.js';
import { scenarios } from '../../src/cli/registry.js';

describe('swap: kiolab bench swap', function () {
  this.timeout(60_000);

  it('is registered, runs pagers against a changing swap configuration, and reports figures with every invariant holding', async () => {
    expect(scenarios().map((s) => s.name)).to.include('swap');
    const rep = await benchSwap({ pagers: 2, pages: 64, resident: 16, durationMs: 700, intervalMs: 50, seed: 3 });
    const r = rep.swap;
    expect(r.invariants).to.deep.equal([]);
    expect(r.ok).to.equal(true);
    expect(r.pagers.mismatches).to.equal(0);
    expect(r.pagers.faults).to.be.greaterThan(0);
    expect(rep.jobs.map((j) => j.jobname)).to.deep.equal(['swap pager']);
    expect(rep.jobs[0].read.total_ios).to.be.greaterThan(0);
    expect(r.swapctl.calls).to.be.greaterThan(0);
    expect(Object.keys(rep.uvmexp)).to.deep.equal(['nswapdev', 'swpages', 'swpginuse', 'swpgonly', 'nswget']);
    expect(rep.uvmexp.swpginuse).to.equal(0); // the pagers faulted everything back at the end
    expect(r.swapdevs).to.have.length(4);
    expect(rep.devices.map((d) => d.name)).to.deep.equal(['wd0', 'wd1']); // the disks under them
    expect(r.xfers.doubleCompletions).to.equal(0);
    for (const d of r.swapdevs) if (d.type === 'reg') expect(d.maxactiveSeen).to.be.at.most(d.maxactive);
    expect(rep.checks?.every((c) => c.ok)).to.equal(true);
    expect(formatSwap(rep)).to.match(/invariants all hold/).and.match(/swap devices \(swapdev\):/).and.match(/^swap pager: \(2 workers\)$/m);
    // Every swapctl error the control loop can meet is a documented one.
    for (const e of Object.keys(r.swapctl.errors)) expect(e).to.match(/ENOMEM|EBUSY/);
  });

  it('rejects a configuration without memory pressure, naming the options', async () => {
    let err: unknown;
    try {
      await benchSwap({ pages: 8, resident: 8 });
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.match(/--resident.*--pages/);
  });
});
