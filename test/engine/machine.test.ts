import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { Machine, MachineError } from '../../src/engine/machine.js';

async function expectFailure(p: Promise<unknown>): Promise<MachineError> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(MachineError);
    return e as MachineError;
  }
  throw new Error('expected the run to fail');
}

describe('engine: machine', () => {
  it('a worker that throws ends the run with its cpu and role; the sleeping worker is stopped', async () => {
    const m = new Machine({ ncpu: 2, lab: true });
    const e = await expectFailure(m.run([{ role: 'lab:sleep-forever' }, { role: 'lab:crash', args: { afterMs: 20 } }]));
    expect(e.message).to.match(/cpu 1 \(role lab:crash\) failed: boom/);
    expect(e.cpu).to.equal(1);
    expect(e.role).to.equal('lab:crash');
  });

  it('a worker that exits is reported', async () => {
    const m = new Machine({ ncpu: 2, lab: true });
    const e = await expectFailure(m.run([{ role: 'lab:exit' }, { role: 'lab:sleep-forever' }]));
    expect(e.message).to.match(/cpu 0 \(role lab:exit\) failed: .*exited with code: 3/);
  });

  it('a run past its timeout fails with who was asleep, and stops its workers (1.5 s: the sleeper must be asleep by then even on a loaded 2-core host)', async () => {
    const m = new Machine({ ncpu: 1, lab: true });
    const e = await expectFailure(m.run([{ role: 'lab:sleep-forever' }], { timeoutMs: 1500 }));
    expect(e.message).to.match(/run exceeded 1500 ms \(cpu 0 \(lab:sleep-forever\) on "forever"\)/);
  });

  it('Ctrl-C stops the load, and a worker that does not stop within the grace is terminated: the run ends, failing', async () => {
    const m = new Machine({ ncpu: 2, lab: true });
    const run = expectFailure(m.run([{ role: 'lab:deaf' }, { role: 'lab:sleep-forever' }]));
    await new Promise((r) => setTimeout(r, 300));
    m.interrupt();
    const e = await run;
    expect(e.message).to.match(/machine: interrupted, and its workers had not stopped 5 s later/);
  });

  it('an unknown role is an error that names it', async () => {
    const m = new Machine({ ncpu: 1, lab: true });
    const e = await expectFailure(m.run([{ role: 'lab:nope' }]));
    expect(e.message).to.match(/unknown role "lab:nope"/);
  });

  it('rejects bad specs and too many roles', async () => {
    expect(() => new Machine({ ncpu: 0 })).to.throw(/ncpu must be an integer in \[1, 256\], got 0/);
    const m = new Machine({ ncpu: 1, lab: true });
    let err: unknown;
    try {
      await m.run([{ role: 'lab:sleeper', count: 2 }]);
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.match(/2 role instances but the spec has only 1 cpus/);
  });
});
