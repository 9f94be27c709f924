import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { labChannel, labWords } from '../../workers/lab.js';
import { Machine } from '../../src/engine/machine.js';
import { EWOULDBLOCK } from '../../src/sync/errno.js';
import { sleepTable } from '../../src/sync/snapshot.js';

describe('sync: sleep queues', () => {
  it('tsleep times out with EWOULDBLOCK and counts the timeout under its wmesg', async () => {
    const m = new Machine({ ncpu: 1, lab: true });
    const [r] = await m.run([{ role: 'lab:tsleep-timeout', args: { ms: 20 } }], { timeoutMs: 30_000 });
    expect((r.value as { r: number }).r).to.equal(EWOULDBLOCK);
    const st = sleepTable(m.sync).find((s) => s.wmesg === 'labtimo')!;
    expect(st).to.include({ sleeps: 1, timeouts: 1, wakeups: 0 });
  });

  it('wakeup wakes every sleeper on the channel', async () => {
    const m = new Machine({ ncpu: 4, lab: true });
    const res = await m.run([{ role: 'lab:sleeper', count: 3 }, { role: 'lab:waker', args: { n: 3, mode: 'all' } }], {
      timeoutMs: 30_000,
    });
    expect((res[3].value as { woken: number }).woken).to.equal(3);
    for (const r of res.slice(0, 3)) expect((r.value as { r: number }).r).to.equal(0);
  });

  it('wakeup_one wakes exactly one sleeper', async () => {
    const m = new Machine({ ncpu: 4, lab: true });
    const res = await m.run([{ role: 'lab:sleeper', count: 3 }, { role: 'lab:waker', args: { n: 3, mode: 'one' } }], {
      timeoutMs: 30_000,
    });
    const w = res[3].value as { first: number; stillOnChannel: number; wokeAfterOne: number; rest: number };
    expect(w.first).to.equal(1);
    expect(w.stillOnChannel).to.equal(2);
    expect(w.wokeAfterOne).to.equal(1);
    expect(w.rest).to.equal(2);
  });

  it('a wakeup landing between tsleep_interlock and tsleep is never lost (5000 iterations)', async () => {
    const m = new Machine({ ncpu: 2, lab: true });
    const iters = 5000;
    const [s, w] = await m.run(
      [{ role: 'lab:il-sleeper', args: { iters, timeoutMs: 10_000 } }, { role: 'lab:il-waker', args: { iters } }],
      { timeoutMs: 90_000 },
    );
    expect((s.value as { lost: number }).lost).to.equal(0);
    expect((w.value as { missed: number }).missed).to.equal(0);
  });

  it('free-running tsleep/wakeup ping-pong loses no wakeup (20000 round trips)', async () => {
    const m = new Machine({ ncpu: 2, lab: true });
    const args = { iters: 20_000, mode: 'tsleep', timeoutMs: 10_000 };
    const res = await m.run(
      [
        { role: 'lab:pingpong', args: { ...args, side: 0 } },
        { role: 'lab:pingpong', args: { ...args, side: 1 } },
      ],
      { timeoutMs: 90_000 },
    );
    for (const r of res) expect((r.value as { timeouts: number }).timeouts).to.equal(0);
  });

  it('msleep releases the lock while asleep and holds it again on return', async () => {
    const m = new Machine({ ncpu: 2, lab: true });
    const [s, w] = await m.run([{ role: 'lab:msleeper' }, { role: 'lab:mwaker' }], { timeoutMs: 30_000 });
    expect((s.value as { heldAfter: boolean }).heldAfter).to.equal(true);
    expect(labWords(m.arena).cond).to.equal(1);
    expect((w.value as { woken: number }).woken).to.be.at.most(1);
  });

  it('the snapshot shows a sleeper with its channel and wmesg; the main thread can wake it', async () => {
    const m = new Machine({ ncpu: 1, lab: true });
    const run = m.run([{ role: 'lab:snap-sleeper' }], { timeoutMs: 30_000 });
    const ch = labChannel(m.arena, 'c_s');
    let snap = m.snapshot();
    while (snap.sleepers.length === 0) {
      await new Promise((r) => setTimeout(r, 5));
      snap = m.snapshot();
    }
    expect(snap.sleepers[0]).to.include({ cpu: 0, role: 'lab:snap-sleeper', ident: ch, wmesg: 'snaptest' });
    expect(m.sync.wakeup(ch)).to.equal(1);
    const [r] = await run;
    expect((r.value as { r: number }).r).to.equal(0);
  });

  it('the snapshot shows a held lock with its owner and waiters', async () => {
    const m = new Machine({ ncpu: 2, lab: true });
    const run = m.run([{ role: 'lab:hold' }, { role: 'lab:lock-when-held' }], { timeoutMs: 30_000 });
    let snap = m.snapshot();
    while (!snap.held.some((l) => l.className === 'lab_mtx' && l.waiters.length === 1)) {
      await new Promise((r) => setTimeout(r, 5));
      snap = m.snapshot();
    }
    const l = snap.held.find((x) => x.className === 'lab_mtx')!;
    expect(l).to.include({ owner: 0, kind: 'mutex' });
    expect(l.waiters).to.deep.equal([1]);
    expect(snap.blocked[0]).to.include({ cpu: 1, className: 'lab_mtx' });
    // release the holder
    const { LabLayout } = await import('../../workers/lab.js');
    const base = m.arena.pool('lab', LabLayout).addr(0);
    m.arena.view(LabLayout).store(base, 'release', 1);
    Atomics.notify(m.arena.i32, m.arena.view(LabLayout).idx(base, 'release'));
    await run;
    expect(labWords(m.arena).mtxcount).to.equal(1);
  });
});
