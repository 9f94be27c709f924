import '../../workers/index.js'; // kiolab's own roles
import { Machine } from '../../src/engine/machine.js';
import type { MachineSpec } from '../../src/engine/spec.js';
import { Swapctl } from '../../src/swap/ctlchannel.js';
import { Swap } from '../../src/swap/swapdev.js';
import type { SwapFileSpec } from '../../src/swap/layout.js';

/** A machine with memory disks md0..md{n-1} and the given swap files. */
export function swapMachine(files: SwapFileSpec[], opts: { ndisks?: number; blocks?: number; ncpu?: number; pages?: number; physmem?: number; faults?: Record<number, [number, number][]>; latencyUs?: number; npbuf?: number; pagerMap?: number; nvndbuf?: number } = {}): Machine {
  const n = opts.ndisks ?? 2;
  const spec: MachineSpec = {
    ncpu: opts.ncpu ?? 8,
    devices: Array.from({ length: n }, (_, i) => ({
      name: `md${i}`,
      blocks: opts.blocks ?? 8192,
      faults: opts.faults?.[i] ? { bad: opts.faults[i] } : undefined,
      latency: opts.latencyUs ? { baseUs: opts.latencyUs } : undefined,
    })),
    swap: { files, pages: opts.pages ?? 128, physmem: opts.physmem, pagerMap: opts.pagerMap, nvndbuf: opts.nvndbuf },
    npbuf: opts.npbuf,
  };
  return new Machine(spec);
}

export function swapOf(m: Machine): Swap {
  return Swap.of(m.sync, m.spec);
}

export function ctlOf(m: Machine): Swapctl {
  return new Swapctl(m.arena, m.sync, m.spec);
}

/** Resolve after `ms` (main thread; never blocks). */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Wait until `n` pagers finished their ops phase (holdUntilRelease). */
export async function phaseDone(m: Machine, n: number, timeoutMs = 40_000): Promise<void> {
  const { SwapCtlLayout } = await import('../../src/swap/layout.js');
  const C = m.arena.view(SwapCtlLayout);
  const c = m.arena.pool('swap.ctl', SwapCtlLayout).addr(0);
  const end = Date.now() + timeoutMs;
  while (C.load(c, 'ctl_phase_done') < n) {
    if (Date.now() > end) throw new Error(`phaseDone: only ${C.load(c, 'ctl_phase_done')} of ${n} pagers finished`);
    await sleep(10);
  }
}
