/**
 * The swapctl channel: the main thread's `Swapctl` (swap_syscall_lock as an async-mutex around the
 * whole call) and the swapctl executor, a daemon worker that runs the kernel side (swapctl.ts).
 *
 * Why a worker: SWAP_OFF pages everything in (biowait, page locks: sleeping), and every command
 * takes swap_data_lock, which pagers hold on other cpus; the main thread never waits on a
 * shared-memory word. So the main thread writes a request into the arena slot, bumps req_seq,
 * wakes the executor, and awaits resp_seq with a bound field's waitAsync (a promise, not a block).
 * One request at a time is guaranteed by the mutex, exactly as swap_syscall_lock does.
 */
import { Mutex } from 'async-mutex';
import type { Arena } from '../shm/arena.js';
import type { Field } from '../shm/view.js';
import { EIO, ETIMEDOUT } from '../sync/errno.js';
import { PINTERLOCKED, type Sync } from '../sync/sync.js';
import { SWAP_GETDUMPDEV, SWAP_STATS, SwapCtlLayout, SwapentLayout, type SwapSpec, swfToString } from './layout.js';
import { Pager } from './pager.js';
import type { SwapentInfo } from './swapdev.js';
import { ARG_NOENT, ARG_NULL, type SwapOffHook, sys_swapctl } from './swapctl.js';
import { resolveSwap } from './layout.js';

type SpecLike = { swap?: SwapSpec; devices?: { name: string; blocks: number; blockSize?: number }[] };

function slot(arena: Arena): number {
  return arena.pool('swap.ctl', SwapCtlLayout).addr(0);
}

/** What SWAP_OFF needs from the pager: its page-in pass and the drain of the device's child I/O. */
export function swapOffHook(pager: Pager): SwapOffHook {
  return {
    anon_swap_off: (a: number, b: number) => pager.anon_swap_off(a, b),
    drain: (sd: number) => pager.sio.reg.sw_reg_drain(sd),
  };
}

/**
 * The swapctl executor (daemon role): serve requests until the machine shuts down. Sleeps on
 * req_seq ("swapctl", 100 ms timeouts so it notices shutdown).
 */
export function swapctlExecutor(sync: Sync, spec: SpecLike, stop: () => boolean): { served: number } {
  const pager = Pager.of(sync, spec);
  const sw = pager.swap;
  const C = sync.arena.view(SwapCtlLayout);
  const c = slot(sync.arena);
  const ch = C.addrOf(c, 'req_seq');
  const resp_seq = C.field('resp_seq');
  const hook = swapOffHook(pager);
  let done = C.load(c, 'resp_seq');
  let served = 0;
  for (;;) {
    const seq = C.load(c, 'req_seq');
    if (seq !== done) {
      let error = 0;
      let retval = 0;
      try {
        const r = sys_swapctl(sw, C.load(c, 'req_cmd'), C.load(c, 'req_vp'), C.load(c, 'req_misc'), hook, { priv: C.load(c, 'req_priv') !== 0 });
        ({ error, retval } = r);
        C.store(c, 'resp_dumpdev', r.dumpdev === undefined ? 0 : r.dumpdev + 1);
      } catch (e) {
        error = EIO; // a broken contract (panic): the caller sees EIO, the machine sees the exception
        throw e;
      } finally {
        C.store(c, 'resp_error', error);
        C.store(c, 'resp_retval', retval);
        resp_seq.store(c, seq);
        resp_seq.notify(c);
      }
      done = seq;
      served++;
      continue;
    }
    if (stop()) return { served };
    sync.tsleep_interlock(ch);
    if (C.load(c, 'req_seq') !== done) {
      sync.tsleep_remove();
      continue;
    }
    sync.tsleep(ch, PINTERLOCKED, 'swapctl', 100);
  }
}

export interface SwapctlReply {
  error: number;
  retval: number;
  /** SWAP_STATS: the entries, in-use in DEV_BSIZE blocks. */
  stats?: SwapentInfo[];
  /** SWAP_GETDUMPDEV: the dump device's path, or null (NODEV). */
  dumpdev?: string | null;
}

/** The caller's credentials: a user process unless `priv` says it is the superuser. */
export interface SwapctlOptions {
  /** The caller is the superuser (suser succeeds). Default false: a user process. */
  priv?: boolean;
  /** ETIMEDOUT when the executor has not answered within this (ms; default 60 000). */
  timeoutMs?: number;
}

/** The main thread's swapctl(2). */
export class Swapctl {
  /** swap_syscall_lock. */
  readonly swap_syscall_lock = new Mutex();
  private readonly paths: string[];
  /** Set when the watched machine run failed: nobody will answer any more. */
  private failed: unknown = null;
  private readonly c: number;
  private readonly C;
  private readonly resp_seq: Field;

  constructor(
    private readonly arena: Arena,
    private readonly sync: Sync,
    spec: SpecLike,
  ) {
    if (!spec.swap) throw new RangeError('swapctl: the machine spec has no swap section');
    this.paths = resolveSwap(spec.swap, spec.devices ?? []).files.map((f) => f.path);
    this.c = slot(arena);
    this.C = arena.view(SwapCtlLayout);
    this.resp_seq = this.C.field('resp_seq');
  }

  /** Watch the machine's run: once it fails, pending and later calls return EIO instead of waiting out their timeout. */
  watch<T>(run: Promise<T>): Promise<T> {
    run.catch((e: unknown) => {
      this.failed = e ?? 'machine failed';
    });
    return run;
  }

  /**
   * swapctl(cmd, path, misc) as a user process (or the superuser with `{ priv: true }`). The
   * kernel side answers in the seed's order (sys_swapctl): SWAP_NSWAP and SWAP_STATS for anyone,
   * EPERM for anything else unless privileged, then the path: null is the root device, an
   * unknown path ENOENT. Needs a running swapctl executor (role `swap:swapctl`); ETIMEDOUT if none
   * answers within `timeoutMs`. A non-integer `cmd` or `misc` is a RangeError.
   */
  async swapctl(cmd: number, path: string | null, misc: number, opts: SwapctlOptions = {}): Promise<SwapctlReply> {
    if (!Number.isInteger(cmd) || !Number.isInteger(misc) || Math.abs(misc) > 0x7fffffff) throw new RangeError(`swapctl: cmd and misc must be 32-bit integers, got ${JSON.stringify([cmd, misc])}`);
    if (path !== null && typeof path !== 'string') throw new RangeError(`swapctl: path must be a string or null, got ${JSON.stringify(path)}`);
    return this.swap_syscall_lock.runExclusive(async () => {
      // namei, on this thread (the paths are strings); its failure is answered in the kernel's order.
      const arg = path === null ? ARG_NULL : this.paths.indexOf(path) >= 0 ? this.paths.indexOf(path) : ARG_NOENT;
      if (this.failed) return { error: EIO, retval: 0 };
      const { C, c } = this;
      C.store(c, 'req_cmd', cmd);
      C.store(c, 'req_vp', arg);
      C.store(c, 'req_misc', misc);
      C.store(c, 'req_priv', opts.priv === true ? 1 : 0);
      const seq = C.load(c, 'req_seq') + 1;
      C.store(c, 'req_seq', seq);
      this.sync.wakeup(C.addrOf(c, 'req_seq'));
      const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
      for (;;) {
        const cur = this.resp_seq.load(c);
        if (cur === seq) break;
        const left = deadline - Date.now();
        if (left <= 0) return { error: ETIMEDOUT, retval: 0 };
        if (this.failed) return { error: EIO, retval: 0 };
        const w = this.resp_seq.waitAsync(c, cur, Math.min(left, 50));
        if (w.async) await w.value;
      }
      const reply: SwapctlReply = { error: C.load(c, 'resp_error'), retval: C.load(c, 'resp_retval') };
      if (cmd === SWAP_STATS && reply.error === 0) reply.stats = this.readStats(reply.retval);
      if (cmd === SWAP_GETDUMPDEV && reply.error === 0) {
        const d = C.load(c, 'resp_dumpdev');
        reply.dumpdev = d === 0 ? null : this.paths[d - 1];
      }
      return reply;
    });
  }

  private readStats(n: number): SwapentInfo[] {
    const E = this.arena.view(SwapentLayout);
    const out: SwapentInfo[] = [];
    for (let i = 0; i < n; i++) {
      const e = this.arena.pool('swap.swapent', SwapentLayout).addr(i);
      out.push({
        path: E.load(e, 'se_nullpath') ? 'miniroot' : this.paths[E.load(e, 'se_vp')],
        vp: E.load(e, 'se_vp'),
        flags: swfToString(E.load(e, 'se_flags')),
        priority: E.load(e, 'se_priority'),
        nblks: E.load(e, 'se_nblks'),
        inuse: E.load(e, 'se_inuse'),
        npages: E.load(e, 'se_npages'),
        npginuse: E.load(e, 'se_npginuse'),
        npgbad: E.load(e, 'se_npgbad'),
        drumoffset: E.load(e, 'se_drumoffset'),
        drumsize: E.load(e, 'se_drumsize'),
        puts: E.load(e, 'se_puts'),
        gets: E.load(e, 'se_gets'),
        errors: E.load(e, 'se_errors'),
        children: E.load(e, 'se_children'),
        maxactiveSeen: E.load(e, 'se_maxseen'),
        maxactive: E.load(e, 'se_maxactive'),
      });
    }
    return out;
  }

  /** Let the `swap:hold` and `until: 'released'` roles return (the machine's load is done). */
  release(): void {
    this.C.store(this.c, 'ctl_release', 1);
    this.sync.wakeup(this.C.addrOf(this.c, 'ctl_release'));
  }
}

/** True once the main thread released the load (atomic read). */
export function released(arena: Arena): boolean {
  return arena.view(SwapCtlLayout).load(slot(arena), 'ctl_release') !== 0;
}

