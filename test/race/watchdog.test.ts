import '../../workers/index.js'; // kiolab's own roles
import './stall-fixture.js'; // the stall-spin scenario (a worker module)
import { expect } from 'chai';
import { type ChildProcess, spawn } from 'node:child_process';
import { runRace } from '../../src/race/runner.js';
import { hostThreadId } from '../../src/sync/hostthread.js';
import { SPIN_FROM } from './stall-fixture.js';

/** CPU hogs beside the test: busy loops in child processes, so the host's load average climbs far above its cores. */
function startHogs(n: number): ChildProcess[] {
  return Array.from({ length: n }, () => spawn(process.execPath, ['-e', 'for (;;);'], { stdio: 'ignore' }));
}

function stopHogs(hogs: ChildProcess[]): void {
  for (const h of hogs) if (h.exitCode === null && h.signalCode === null) h.kill('SIGKILL');
}

/** Linux tells the watchdog how its threads are scheduled; elsewhere it falls back to wall time (stall.ts). */
const accounted = hostThreadId() !== 0;

describe('race: the stress watchdog on a loaded host', function () {
  this.timeout(180_000);

  it('clean stress runs beside 6 CPU hogs report no hang (nor anything else)', async function () {
    if (!accounted) this.skip(); // wall time alone cannot tell a loaded host from a hang
    const hogs = startHogs(6);
    try {
      // Four machines side by side as well: every worker competes for the two cores.
      const scenarios = ['biowait', 'bc-write', 'swap-xfer', 'getblk-recycle'];
      const runs = await Promise.all(scenarios.map((scenario, i) => runRace({ scenario, bug: null, mode: 'stress', seed: 11 + i, budgetMs: 3000, iterations: 100_000 })));
      for (const r of runs) expect(r.failure, `${r.scenario}: ${r.failure?.message}`).to.equal(null);
    } finally {
      stopHogs(hogs);
    }
  });

  it('still catches a harness that blocks forever (swap-busy-flag-race: a pager never returns from biowait)', async () => {
    const r = await runRace({ scenario: 'swap-start', bug: 'swap-busy-flag-race', mode: 'stress', seed: 2, budgetMs: 90_000 });
    expect(r.failure, 'a failure within the budget').to.not.equal(null);
    expect(r.failure!.kind, r.failure!.message).to.equal('hang');
    if (accounted) {
      expect(r.failure!.message).to.match(/^hang: every harness cpu has been blocked for [\d,]+ ms without progress.*"swp(in|out)"/);
      expect((r.failure!.stall as { rule: string }).rule).to.equal('blocked');
    } else expect(r.failure!.message).to.match(/^hang: .*wall time only.*"swp(in|out)"/);
  });

  it('still catches a harness cpu that spins forever without progress, by the CPU it burns', async () => {
    const r = await runRace({ scenario: 'stall-spin', bug: null, mode: 'stress', seed: 1, budgetMs: 20_000, iterations: 1000 });
    expect(r.failure, 'a failure within the budget').to.not.equal(null);
    expect(r.failure!.kind, r.failure!.message).to.equal('hang');
    expect(r.failure!.iteration).to.equal(SPIN_FROM);
    if (!accounted) return expect(r.failure!.message).to.match(/^hang: .*wall time only/);
    // Stress perturbs every shared access, the spinner's polls too (an eighth of them yield or
    // nap): the spinner then runs part of the time, and the hang is named by the CPU time (rule
    // cpu) or, when its naps outweigh its spinning, by the clear time with the CPU it used.
    expect(r.failure!.message).to.match(/^hang: (harness cpus used [\d,]+ ms of CPU without progress \(|no harness cpu made progress in [\d,]+ ms during which no cpu of the machine waited for a host CPU \(harness cpus used [\d,]+ ms of CPU: )cpu 0 [\d,]+ ms, cpu 1 [\d,]+ ms;/);
    const st = r.failure!.stall as { rule: string; cpuMs: number[] };
    expect(st.rule).to.be.oneOf(['cpu', 'clear']);
    expect(st.cpuMs[1], 'the spinner burned the CPU').to.be.above(st.cpuMs[0]);
    expect(r.failure!.cpus).to.include(1);
  });
});
