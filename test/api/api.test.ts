/**
 * The public API, imported the way a user imports it: from 'kiolab' (the package's own entry
 * point, through its exports map).
 */
import { expect } from 'chai';
import * as kiolab from 'kiolab';
import { Machine, UsageError, allBugs, registerBugSwitch, replayTimes, runBench, runRace } from 'kiolab';
import { CounterLayout } from './fixture.js';

describe('api: import from kiolab', () => {
  it('exports the documented API and nothing else', () => {
    expect(Object.keys(kiolab).sort()).to.deep.equal(
      [
        'Arena', 'ArenaError', 'ArenaPlan', 'CACHE_LINE', 'ContractError', 'EBUSY', 'EINVAL', 'EIO', 'ENOENT', 'ENOMEM', 'ENXIO', 'EPERM', 'ETIMEDOUT',
        'EWOULDBLOCK', 'Field', 'KIOLAB_VERSION', 'KernelError', 'LK_MTX', 'LK_SPIN', 'LockLayout', 'Machine', 'MachineError', 'OpRecorder', 'PINTERLOCKED',
        'Pool', 'StructLayout', 'StructView', 'Sync', 'UsageError', 'allBugs', 'assertLive', 'bugs', 'buildRunReport', 'defineStruct', 'errnoName',
        'formatRace', 'formatRunReport', 'isPoisoned', 'loadReplay', 'lockTable', 'onWorkerAttach', 'poison', 'raceScenarios', 'raceState',
        'registerBenchScenario', 'registerBugSwitch', 'registerInitializer', 'registerPlanner', 'registerRaceScenario', 'registerRoles',
        'registerWakeCondition', 'replayOnce', 'replayTimes', 'roleJob', 'roleNames', 'runBench', 'runMachine', 'runRace', 'runReportExitCode',
        'saveReplay', 'shrink', 'sleepTable', 'snapshot', 'tuneV8', 'withReport', 'workerModule',
      ].sort(),
    );
  });

  it("runs a user's roles on a machine: a counter under a sleep lock, bumped by 2 workers", async () => {
    const m = new Machine({ ncpu: 2 });
    const res = await m.run([{ role: 'api:bump', args: { n: 5000 }, count: 2 }], { timeoutMs: 120_000 });
    expect(res.map((r) => r.value)).to.deep.equal([5000, 5000]);
    const V = m.arena.view(CounterLayout);
    expect(V.load(m.arena.pool('api.counter', CounterLayout).addr(0), 'c_value')).to.equal(10_000);
  });

  it('runs a race from code with a typed result, and replays it', async () => {
    const r = await runRace({ scenario: 'biowait', bug: 'vfs-biowait-no-interlock', mode: 'explore', seed: 1, budgetMs: 60_000 });
    expect(r.failure?.kind).to.equal('lost-wakeup');
    const rp = await replayTimes(r.replay!, 2);
    expect(rp.reproduced).to.equal(2);
  });

  it('runs a bench scenario from code: the report `kiolab bench --json` prints, and its exit code', async () => {
    const b = await runBench<kiolab.RunReport>('locks', { cpus: 2, ops: 2000, lock: 'spin' });
    expect(b.exitCode).to.equal(0);
    expect(b.report.scenario).to.equal('locks');
    const ios = b.report.jobs.reduce((n, j) => n + j.read.total_ios + j.write.total_ios, 0);
    expect(ios).to.equal(2000);
    let err: unknown;
    try {
      await runBench('locks', { cpus: 0 });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(UsageError);
    expect((err as Error).message).to.match(/--cpus/);
  });

  it("registers a user's bug switch beside the catalogue, and refuses a catalogue name", () => {
    registerBugSwitch({ name: 'api-test-switch', description: 'a test switch' });
    expect(allBugs().find((b) => b.name === 'api-test-switch')?.subsystem).to.equal('user');
    expect(() => registerBugSwitch({ name: 'vfs-biowait-no-interlock', description: 'x' })).to.throw(/race catalogue/);
  });
});
