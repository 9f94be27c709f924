import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveDevice } from '../../src/device/config.js';
import { deviceStats } from '../../src/device/disk.js';
import { Oracle } from '../../src/device/oracle.js';
import { DevLabLayout, installShim } from '../../workers/device.js';
import { Machine } from '../../src/engine/machine.js';
import type { MachineSpec } from '../../src/engine/spec.js';
import { EINVAL, EIO } from '../../src/sync/errno.js';

function machine(spec: Partial<MachineSpec> & Pick<MachineSpec, 'ncpu'>, format = true): Machine {
  const m = new Machine({ lab: true, ...spec });
  if (format) {
    spec.devices?.forEach((d, i) => {
      if (d.oracle && !d.file) new Oracle(m.arena, i, resolveDevice(d, i)).format(m.arena.region(`dev.${i}.store`).offset);
    });
  }
  return m;
}

type Rw = { reads: number; writes: number; errors: number; mismatches: string[]; asyncIssued: number };

describe('device: the simulated disk and the bio layer', () => {
  it('round-trips data synchronously and asynchronously on a memory device, oracle-checked', async () => {
    const m = machine({ ncpu: 5, devices: [{ name: 'md0', blocks: 4096, oracle: true }] });
    const res = await m.run(
      [
        { role: 'device:rw', args: { ops: 1500, async: true, maxBlocks: 16 }, count: 3 },
        { role: 'device:worker', args: { unit: 0 }, daemon: true, count: 2 },
      ],
      { timeoutMs: 60_000 },
    );
    const callers = res.slice(0, 3).map((r) => r.value as Rw);
    for (const c of callers) {
      expect(c.mismatches).to.deep.equal([]);
      expect(c.errors).to.equal(0);
      expect(c.reads + c.writes + c.asyncIssued).to.equal(1500);
    }
    const asyncTotal = callers.reduce((s, c) => s + c.asyncIssued, 0);
    const V = m.arena.view(DevLabLayout);
    const base = m.arena.pool('devlab', DevLabLayout).addr(0);
    expect(V.load(base, 'async_done')).to.equal(asyncTotal);
    const [st] = deviceStats(m.arena, m.sync, m.spec);
    expect(st.reads + st.writes).to.equal(4500);
    expect(st.queued).to.equal(0);
    expect(st.inflight).to.equal(0);
  });

  it('round-trips data through a real file, which keeps the data after the run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiolab-dev-'));
    try {
      const file = join(dir, 'disk.img');
      const m = machine({ ncpu: 3, devices: [{ name: 'fd0', blocks: 1024, file, oracle: true, queueDepth: 4 }] });
      const res = await m.run(
        [
          { role: 'device:rw', args: { ops: 400, maxBlocks: 8, writeRatio: 0.6 }, count: 2 },
          { role: 'device:worker', args: { unit: 0 }, daemon: true },
        ],
        { timeoutMs: 60_000 },
      );
      for (const r of res.slice(0, 2)) expect((r.value as Rw).mismatches).to.deep.equal([]);
      // Every block the oracle knows is on the file, stamped with its latest version.
      const o = new Oracle(m.arena, 0, resolveDevice(m.spec.devices![0], 0));
      const img = readFileSync(file);
      expect(img.length).to.equal(1024 * 512);
      let checked = 0;
      for (let b = 0; b < 1024; b++) {
        const v = o.latestVersion(b);
        if (v < 1) continue;
        expect(img.readInt32LE(b * 512 + 4), `block ${b}`).to.equal(b);
        expect(img.readInt32LE(b * 512 + 8), `block ${b} version`).to.equal(v);
        checked++;
      }
      expect(checked).to.be.greaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('biowait never misses a completion: thousands of racing sync completions with a timeout that would expose one', async () => {
    const m = machine({ ncpu: 4, devices: [{ name: 'md0', blocks: 256 }] }, false);
    const res = await m.run(
      [
        { role: 'device:rw', args: { ops: 3000, maxBlocks: 1, timeoutMs: 20_000 }, count: 2 },
        { role: 'device:worker', daemon: true, count: 2 },
      ],
      { timeoutMs: 90_000 },
    );
    for (const r of res.slice(0, 2)) expect((r.value as Rw).reads + (r.value as Rw).writes).to.equal(3000);
  });

  it('bad blocks fail with EIO, transient errors and short transfers surface as b_error/b_resid, and are counted', async () => {
    const m = machine({
      ncpu: 3,
      devices: [
        { name: 'bad', blocks: 64, faults: { bad: [[10, 12]] } },
        { name: 'flaky', blocks: 64, faults: { seed: 7, transientRate: 0.5, shortRate: 0.5 } },
      ],
    }, false);
    const res = await m.run(
      [
        { role: 'device:probe', args: { unit: 0, blk: 8, nblk: 4 } },
        { role: 'device:worker', args: { unit: 0 }, daemon: true },
        { role: 'device:worker', args: { unit: 1 }, daemon: true },
      ],
      { timeoutMs: 30_000 },
    );
    const p = res[0].value as { read: { error: number; resid: number }; write: { error: number; resid: number } };
    expect(p.read).to.deep.equal({ error: EIO, resid: 2048 });
    expect(p.write.error).to.equal(EIO);
    const m2 = machine({ ncpu: 2, devices: [{ name: 'flaky', blocks: 64, faults: { seed: 7, transientRate: 0.3, shortRate: 0.4 } }] }, false);
    const r2 = await m2.run(
      [{ role: 'device:rw', args: { ops: 300, maxBlocks: 8 } }, { role: 'device:worker', daemon: true }],
      { timeoutMs: 30_000 },
    );
    const [st] = deviceStats(m2.arena, m2.sync, m2.spec);
    expect(st.errors.transient).to.be.greaterThan(0);
    expect(st.errors.short).to.be.greaterThan(0);
    expect((r2[0].value as Rw).errors).to.equal(st.errors.transient); // a short transfer is not an error by itself
    // The same seed gives the same faults.
    const m3 = machine({ ncpu: 2, devices: [{ name: 'flaky', blocks: 64, faults: { seed: 7, transientRate: 0.3, shortRate: 0.4 } }] }, false);
    await m3.run([{ role: 'device:rw', args: { ops: 300, maxBlocks: 8 } }, { role: 'device:worker', daemon: true }], { timeoutMs: 30_000 });
    const [st3] = deviceStats(m3.arena, m3.sync, m3.spec);
    expect(st3.errors).to.deep.equal(st.errors);
  });

  it('rejects a request past the end of the device with EINVAL', async () => {
    const m = machine({ ncpu: 2, devices: [{ name: 'md0', blocks: 16 }] }, false);
    const res = await m.run([{ role: 'device:probe', args: { blk: 14, nblk: 4 } }, { role: 'device:worker', daemon: true }], { timeoutMs: 30_000 });
    expect((res[0].value as { read: { error: number } }).read.error).to.equal(EINVAL);
  });

  it('nested I/O completes the master exactly once, with the right error', async () => {
    const m = machine({ ncpu: 3, devices: [{ name: 'md0', blocks: 512, oracle: true }] });
    const ok = await m.run(
      [{ role: 'device:nested', args: { children: 8, childBlocks: 4, blk: 100 } }, { role: 'device:worker', daemon: true, count: 2 }],
      { timeoutMs: 30_000 },
    );
    expect(ok[0].value).to.deep.equal({ error: 0, resid: 0, masterCompletions: 1, mismatches: 0, pbufsInUse: 0 });
    const m2 = machine({ ncpu: 3, devices: [{ name: 'md0', blocks: 512, faults: { bad: [[113, 113]] } }] }, false);
    const bad = await m2.run(
      [{ role: 'device:nested', args: { children: 8, childBlocks: 4, blk: 100 } }, { role: 'device:worker', daemon: true, count: 2 }],
      { timeoutMs: 30_000 },
    );
    expect(bad[0].value).to.include({ error: EIO, masterCompletions: 1, pbufsInUse: 0 });
    expect([0, 32 * 512]).to.include((bad[0].value as { resid: number }).resid);
  });

  it("nested I/O: the last child completes the master with b_resid 0 even after a child's error (the seed's nestiobuf_done)", async () => {
    // Slow children: every one completes long after nestiobuf_start dropped the placeholder.
    const m = machine({ ncpu: 3, devices: [{ name: 'md0', blocks: 512, latency: { baseUs: 300_000 }, faults: { bad: [[113, 113]] } }] }, false);
    const res = await m.run(
      [{ role: 'device:nested', args: { children: 4, childBlocks: 4, blk: 100 } }, { role: 'device:worker', daemon: true, count: 2 }],
      { timeoutMs: 30_000 },
    );
    expect(res[0].value).to.include({ error: EIO, resid: 0, masterCompletions: 1, pbufsInUse: 0 });
  });

  it('bio_track counts return to zero and the waiter wakes', async () => {
    const m = machine({ ncpu: 2, devices: [{ name: 'md0', blocks: 64, latency: { baseUs: 200 } }] }, false);
    const res = await m.run([{ role: 'device:track', args: { n: 40 } }, { role: 'device:worker', daemon: true }], { timeoutMs: 30_000 });
    expect(res[0].value).to.deep.equal({ r: 0, active: 0 });
  });

  it('the oracle flags a deliberately stale read and passes a fresh one', async () => {
    const m = machine({ ncpu: 2, devices: [{ name: 'md0', blocks: 64, oracle: true }] });
    const res = await m.run([{ role: 'device:stale', args: { blk: 5 } }, { role: 'device:worker', daemon: true }], { timeoutMs: 30_000 });
    const v = res[0].value as { stale: string[]; fresh: number };
    expect(v.stale).to.have.length(1);
    expect(v.stale[0]).to.match(/^stale: block 5 of md0: stale data, version 2 but version 3 was on the device/);
    expect(v.fresh).to.equal(0);
  });

  it('an interposed strategy sees every request and forwards it to the original', async () => {
    const m = machine({ ncpu: 3, devices: [{ name: 'md0', blocks: 1024, oracle: true, elevator: true }] });
    installShim(m, 0);
    const res = await m.run(
      [{ role: 'device:rw', args: { ops: 500 }, count: 2 }, { role: 'device:worker', daemon: true }],
      { timeoutMs: 30_000 },
    );
    for (const r of res.slice(0, 2)) expect((r.value as Rw).mismatches).to.deep.equal([]);
    const base = m.arena.pool('devlab', DevLabLayout).addr(0);
    expect(m.arena.view(DevLabLayout).load(base, 'shim_seen')).to.equal(1000);
    const [st] = deviceStats(m.arena, m.sync, m.spec);
    expect(st.reads + st.writes).to.equal(1000);
    expect(st.strategy).to.equal('devlab.shim');
  });

  it('validates device options with messages that name the option and value', () => {
    expect(() => resolveDevice({ name: 'x', blocks: 0 }, 0)).to.throw(/devices\[0\]\.blocks must be a positive integer, got 0/);
    expect(() => resolveDevice({ name: 'x', blocks: 8, blockSize: 1000 }, 1)).to.throw(/devices\[1\]\.blockSize must be a power of two/);
    expect(() => resolveDevice({ name: 'x', blocks: 8, faults: { bad: [[5, 9]] } }, 0)).to.throw(/faults\.bad\[0\] must be \[first, last\]/);
    expect(() => resolveDevice({ name: 'x', blocks: 8, faults: { transientRate: 2 } }, 0)).to.throw(/transientRate must be a probability/);
    expect(() => resolveDevice({ name: 'x', blocks: 8, latency: { baseUs: -1 } }, 0)).to.throw(/latency\.baseUs must be a number >= 0, got -1/);
  });
});
