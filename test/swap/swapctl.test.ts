import '../../workers/index.js'; // kiolab's own roles
import { expect } from 'chai';
import type { PagerResult } from '../../workers/swap.js';
import { EBUSY, EINVAL, ENOENT, ENOMEM, ENOTBLK, ENXIO, EPERM, ETIMEDOUT } from '../../src/sync/errno.js';
import { SWAP_CTL, SWAP_DUMPDEV, SWAP_GETDUMPDEV, SWAP_NSWAP, SWAP_OFF, SWAP_ON, SWAP_STATS, SwapGlobalsLayout } from '../../src/swap/layout.js';
import { ctlOf, phaseDone, sleep, swapMachine, swapOf } from './helpers.js';

const daemons = (units: number) => [
  { role: 'swap:swapctl', daemon: true },
  ...Array.from({ length: units }, (_, unit) => ({ role: 'swap:device', args: { unit }, daemon: true })),
];

const root = { priv: true }; // the superuser's calls

describe('swap: swapctl', function () {
  this.timeout(60_000);

  it('answers every command and error, serialized, through the executor', async () => {
    const m = swapMachine([
      { path: 'a', device: 'md0', type: 'blk', blocks: 512 },
      { path: 'b', device: 'md1', type: 'reg', bytes: 32 * 4096, bsize: 4096 },
      { path: 'c', device: 'md1', type: 'blk', firstBlock: 4096, blocks: 512 },
    ]);
    const ctl = ctlOf(m);
    const run = ctl.watch(m.run([{ role: 'swap:hold' }, ...daemons(2)], { timeoutMs: 50_000 }));
    try {
      expect(await ctl.swapctl(SWAP_NSWAP, null, 0)).to.deep.include({ error: 0, retval: 0 });
      // Commands issued at once still run one at a time (swap_syscall_lock).
      const [on1, on2, dup] = await Promise.all([ctl.swapctl(SWAP_ON, 'a', 1, root), ctl.swapctl(SWAP_ON, 'b', 0, root), ctl.swapctl(SWAP_ON, 'a', 4, root)]);
      expect([on1.error, on2.error, dup.error]).to.deep.equal([0, 0, EBUSY]);
      expect((await ctl.swapctl(SWAP_ON, '/no/such/file', 0, root)).error).to.equal(ENOENT);
      expect(await ctl.swapctl(SWAP_NSWAP, null, 0)).to.deep.include({ error: 0, retval: 2 });
      // Some slots in use on a: SWAP_STATS reports them in DEV_BSIZE blocks.
      const sw = swapOf(m);
      const got = sw.uvm_swap_alloc(1, false); // b has the better priority
      const ga = (() => {
        sw.lockData();
        try {
          return sw.swapdrum_getsdp(got.slot);
        } finally {
          sw.unlockData();
        }
      })();
      expect(sw.conf.files[ga].path).to.equal('b');
      let st = await ctl.swapctl(SWAP_STATS, null, 10);
      expect(st.retval).to.equal(2);
      expect(st.stats!.map((s) => [s.path, s.priority, s.inuse])).to.deep.equal([
        ['b', 0, 8],
        ['a', 1, 0],
      ]);
      expect(st.stats![1].npages).to.equal(63);
      expect((await ctl.swapctl(SWAP_STATS, null, 1)).retval).to.equal(1);
      // SWAP_CTL moves a device; an unknown one is ENOENT.
      expect((await ctl.swapctl(SWAP_CTL, 'a', -1, root)).error).to.equal(0);
      expect((await ctl.swapctl(SWAP_CTL, 'c', 3, root)).error).to.equal(ENOENT);
      st = await ctl.swapctl(SWAP_STATS, null, 10);
      expect(st.stats!.map((s) => [s.path, s.priority])).to.deep.equal([
        ['a', -1],
        ['b', 0],
      ]);
      expect(sw.priorities().map((p) => p.priority)).to.deep.equal([-1, 0]);
      // Non-privileged: NSWAP and STATS only.
      expect((await ctl.swapctl(SWAP_NSWAP, null, 0, { priv: false })).error).to.equal(0);
      expect((await ctl.swapctl(SWAP_STATS, null, 4, { priv: false })).error).to.equal(0);
      for (const cmd of [SWAP_ON, SWAP_OFF, SWAP_CTL]) expect((await ctl.swapctl(cmd, 'c', 0, { priv: false })).error).to.equal(EPERM);
      expect((await ctl.swapctl(99, 'a', 0, root)).error).to.equal(EINVAL);
      // SWAP_OFF: not on the list is ENXIO; a device with nothing in use goes at once.
      expect((await ctl.swapctl(SWAP_OFF, 'c', 0, root)).error).to.equal(ENXIO);
      expect((await ctl.swapctl(SWAP_OFF, 'a', 0, root)).error).to.equal(0);
      expect((await ctl.swapctl(SWAP_OFF, 'a', 0, root)).error).to.equal(ENXIO);
      expect(await ctl.swapctl(SWAP_NSWAP, null, 0)).to.deep.include({ retval: 1 });
      sw.uvm_swap_free(got.slot, 1);
      expect(sw.checkInvariants()).to.deep.equal([]);
    } finally {
      ctl.release();
      await run;
    }
  });

  it('answers in the seed\'s order: a user gets EPERM for anything but NSWAP and STATS, unknown commands too; root is checked before the path, the path before the command', async () => {
    const m = swapMachine([
      { path: '/dev/wd0a', device: 'md0', type: 'blk', blocks: 512, root: true, minirootBytes: 3 * 4096 + 512 },
      { path: '/swapfile', device: 'md1', type: 'reg', bytes: 16 * 4096, bsize: 4096 },
    ]);
    const ctl = ctlOf(m);
    const run = ctl.watch(m.run([{ role: 'swap:hold' }, ...daemons(2)], { timeoutMs: 50_000 }));
    try {
      // The default caller is a user process.
      for (const cmd of [SWAP_ON, SWAP_OFF, SWAP_CTL, SWAP_DUMPDEV, SWAP_GETDUMPDEV, 4, 99]) {
        expect((await ctl.swapctl(cmd, '/dev/wd0a', 0)).error, `user cmd ${cmd}`).to.equal(EPERM);
        expect((await ctl.swapctl(cmd, '/no/such', 0)).error, `user cmd ${cmd}, unknown path`).to.equal(EPERM);
      }
      expect(await ctl.swapctl(SWAP_NSWAP, null, 0)).to.deep.include({ error: 0, retval: 0 });
      expect(await ctl.swapctl(SWAP_STATS, null, 4)).to.deep.include({ error: 0, retval: 0 });
      // Root: namei before the command (an unknown command on an unknown path is ENOENT), EINVAL after.
      expect((await ctl.swapctl(99, '/no/such', 0, root)).error).to.equal(ENOENT);
      expect((await ctl.swapctl(4, '/swapfile', 0, root)).error, 'SWAP_OSTATS (COMPAT_13, not built)').to.equal(EINVAL);
      // SWAP_GETDUMPDEV needs no path; SWAP_DUMPDEV wants a block device.
      expect(await ctl.swapctl(SWAP_GETDUMPDEV, '/no/such', 0, root)).to.deep.include({ error: 0, dumpdev: null });
      expect((await ctl.swapctl(SWAP_DUMPDEV, '/swapfile', 0, root)).error).to.equal(ENOTBLK);
      expect((await ctl.swapctl(SWAP_DUMPDEV, null, 0, root)).error, 'NULL: the root device').to.equal(0);
      expect(await ctl.swapctl(SWAP_GETDUMPDEV, null, 0, root)).to.deep.include({ error: 0, dumpdev: '/dev/wd0a' });
      // A NULL path is the root device: swapped on as "miniroot", the label and the miniroot's 4 pages kept out.
      expect((await ctl.swapctl(SWAP_ON, null, 2, root)).error).to.equal(0);
      expect((await ctl.swapctl(SWAP_ON, '/dev/wd0a', 2, root)).error, 'the same vnode').to.equal(EBUSY);
      const st = (await ctl.swapctl(SWAP_STATS, null, 4)).stats!;
      expect(st.map((e) => [e.path, e.npages, e.drumsize])).to.deep.equal([['miniroot', 64 - 1 - 4, 64]]);
      const sw = swapOf(m);
      expect(sw.extent_used(0)).to.equal(5);
      expect(sw.checkInvariants()).to.deep.equal([]);
      expect((await ctl.swapctl(SWAP_OFF, null, 0, root)).error).to.equal(0);
      expect(sw.uvmexp('swpages')).to.equal(0);
    } finally {
      ctl.release();
      await run;
    }
  });

  it('a NULL path on a machine without a root device is ENXIO; SWAP_STATS does not take swap_data_lock', async () => {
    const m = swapMachine([{ path: '/dev/wd0b', device: 'md0', type: 'blk', blocks: 512, swapon: true }]);
    const ctl = ctlOf(m);
    const run = ctl.watch(m.run([{ role: 'swap:hold' }, ...daemons(1)], { timeoutMs: 50_000 }));
    try {
      expect((await ctl.swapctl(SWAP_ON, null, 0, root)).error).to.equal(ENXIO);
      const sw = swapOf(m);
      // The seed copies the swapents out under swap_syscall_lock alone: it answers while
      // swap_data_lock is held elsewhere (here by this thread); a locked walk would wait it out.
      sw.lockData();
      let st;
      try {
        st = await ctl.swapctl(SWAP_STATS, null, 4, { timeoutMs: 10_000 });
      } finally {
        sw.unlockData();
      }
      expect(st.error, 'answered without swap_data_lock').to.not.equal(ETIMEDOUT);
      expect(st.stats!.map((e) => e.path)).to.deep.equal(['/dev/wd0b']);
      // misc bounds the copy.
      expect((await ctl.swapctl(SWAP_STATS, null, 0)).retval).to.equal(0);
    } finally {
      ctl.release();
      await run;
    }
  });

  it('SWAP_OFF pages every page of the device back in, with the same bytes, and removes it', async () => {
    const m = swapMachine(
      [
        { path: '/dev/wd0b', device: 'md0', type: 'blk', blocks: 1024, swapon: true },
        { path: '/swapfile', device: 'md1', type: 'reg', bytes: 128 * 4096, bsize: 2048, maxRun: 3, swapon: true },
      ],
      { pages: 128 },
    );
    const ctl = ctlOf(m);
    const run = ctl.watch(m.run(
      [
        { role: 'swap:pager', args: { first: 0, count: 64, resident: 8, ops: 600, holdUntilRelease: true, faultAll: true } },
        { role: 'swap:pager', args: { first: 64, count: 64, resident: 8, ops: 600, holdUntilRelease: true, faultAll: true, seed: 7 } },
        ...daemons(2),
      ],
      { timeoutMs: 50_000 },
    ));
    let results;
    try {
      await phaseDone(m, 2);
      const sw = swapOf(m);
      expect(sw.checkInvariants()).to.deep.equal([]);
      for (const victim of ['/swapfile', '/dev/wd0b']) {
        const before = (await ctl.swapctl(SWAP_STATS, null, 4)).stats!;
        const v = before.find((s) => s.path === victim)!;
        expect(v.npginuse, `${victim} holds pages before SWAP_OFF`).to.be.greaterThan(0);
        const onlyBefore = sw.uvmexp('swpgonly');
        expect((await ctl.swapctl(SWAP_OFF, victim, 0, root)).error).to.equal(0);
        const after = (await ctl.swapctl(SWAP_STATS, null, 4)).stats!;
        expect(after.map((s) => s.path)).to.not.include(victim);
        expect(sw.uvmexp('swpgonly')).to.equal(onlyBefore - v.npginuse);
        expect(sw.checkInvariants()).to.deep.equal([]);
      }
      expect(sw.priorities()).to.deep.equal([]);
      expect(sw.uvmexp('swpginuse')).to.equal(0);
      const G = m.arena.view(SwapGlobalsLayout);
      expect(G.load(m.arena.pool('swap.globals', SwapGlobalsLayout).addr(0), 'sg_mismatch')).to.equal(0);
    } finally {
      ctl.release();
      results = await run;
    }
    for (const r of results.slice(0, 2)) expect((r.value as PagerResult).mismatches).to.equal(0);
  });

  it('SWAP_OFF without memory for the pages fails with ENOMEM and re-enables the device', async () => {
    const m = swapMachine([{ path: '/dev/wd0b', device: 'md0', type: 'blk', blocks: 1024, swapon: true }], { pages: 64, physmem: 20 });
    const ctl = ctlOf(m);
    const run = ctl.watch(m.run([{ role: 'swap:pager', args: { first: 0, count: 64, resident: 8, ops: 400, holdUntilRelease: true } }, ...daemons(1)], { timeoutMs: 50_000 }));
    try {
      await phaseDone(m, 1);
      const sw = swapOf(m);
      const inuse = sw.uvmexp('swpginuse');
      expect(inuse).to.be.greaterThan(12);
      expect((await ctl.swapctl(SWAP_OFF, '/dev/wd0b', 0, root)).error).to.equal(ENOMEM);
      const st = (await ctl.swapctl(SWAP_STATS, null, 1)).stats!;
      expect(st[0].flags).to.equal('SWF_INUSE|SWF_ENABLE');
      expect(st[0].npginuse).to.be.lessThan(inuse); // what fitted stayed paged in
      expect(sw.checkInvariants()).to.deep.equal([]);
      expect(sw.uvm_swap_alloc(1, false).slot).to.be.greaterThan(0); // usable again
    } finally {
      ctl.release();
      await run;
    }
  });

  it('adds, removes and re-prioritises devices while pagers push and pull pages; every page comes back intact', async () => {
    const m = swapMachine(
      [
        { path: 'A', device: 'md0', type: 'blk', blocks: 1024, swapon: true },
        { path: 'B', device: 'md1', type: 'reg', bytes: 96 * 4096, bsize: 2048, maxRun: 2, swapon: true },
        { path: 'C', device: 'md0', type: 'blk', firstBlock: 4096, blocks: 1024 },
      ],
      { pages: 96 },
    );
    const ctl = ctlOf(m);
    const run = ctl.watch(m.run(
      [
        { role: 'swap:pager', args: { first: 0, count: 48, resident: 10, until: 'released', faultAll: true } },
        { role: 'swap:pager', args: { first: 48, count: 48, resident: 10, until: 'released', faultAll: true, seed: 3 } },
        ...daemons(2),
      ],
      { timeoutMs: 50_000 },
    ));
    const errors: number[] = [];
    let results;
    try {
      await sleep(150);
      errors.push((await ctl.swapctl(SWAP_ON, 'C', 2, root)).error);
      errors.push((await ctl.swapctl(SWAP_OFF, 'A', 0, root)).error);
      await sleep(100);
      errors.push((await ctl.swapctl(SWAP_CTL, 'C', -5, root)).error);
      errors.push((await ctl.swapctl(SWAP_ON, 'A', 0, root)).error);
      errors.push((await ctl.swapctl(SWAP_OFF, 'B', 0, root)).error);
      await sleep(100);
      errors.push((await ctl.swapctl(SWAP_OFF, 'C', 0, root)).error);
    } finally {
      ctl.release();
      results = await run;
    }
    expect(errors).to.deep.equal([0, 0, 0, 0, 0, 0]);
    for (const r of results.slice(0, 2)) {
      const p = r.value as PagerResult;
      expect(p.mismatches).to.equal(0);
      expect(p.getErrors).to.equal(0);
      expect(p.ops).to.be.greaterThan(0);
    }
    const sw = swapOf(m);
    expect(sw.checkInvariants()).to.deep.equal([]);
    expect(sw.priorities()).to.deep.equal([{ priority: 0, devices: ['A'] }]);
    expect(sw.uvmexp('swpginuse')).to.equal(0);
  });
});
