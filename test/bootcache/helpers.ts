/** Shared helpers of the BootCache tests: a machine with one oracle-checked device and the command interface. */
import '../../workers/index.js'; // kiolab's own roles
import { BootCacheControl } from '../../src/bootcache/control.js';
import { type BootCacheSpec, PH_MAGIC } from '../../src/bootcache/defs.js';
import type { Playlist } from '../../src/bootcache/playlist.js';
import { type DeviceConfig, resolveDevice } from '../../src/device/config.js';
import { Oracle } from '../../src/device/oracle.js';
import { Machine } from '../../src/engine/machine.js';
import type { BCRequest, CallerResult } from '../../workers/bootcache.js';
import type { RoleSpec } from '../../src/engine/machine.js';

export const BS = 512;
export const KB = 1024;

/** Short timeouts everywhere, so tests never wait the reference's seconds. */
export const FAST: BootCacheSpec = {
  waitForReadaheadMs: 2000,
  strategySliceMs: 20,
  terminateReadaheadMs: 3000,
  drainSliceMs: 10,
  drainRetries: 100,
  cacheTimeoutMs: 60_000,
  bufferBytes: 2 * 1024 * 1024,
  maxExtents: 256,
  callerSliceBytes: 64 * 1024,
};

export function makeMachine(opts: { ncpu: number; bootcache?: BootCacheSpec; device?: Partial<DeviceConfig> }): { m: Machine; ctl: BootCacheControl } {
  const dev: DeviceConfig = { name: 'disk0', blocks: 8192, oracle: true, ...opts.device };
  const m = new Machine({ ncpu: opts.ncpu, devices: [dev], bootcache: { ...FAST, ...opts.bootcache } });
  new Oracle(m.arena, 0, resolveDevice(dev, 0)).format(m.arena.region('dev.0.store').offset);
  return { m, ctl: new BootCacheControl(m) };
}

/** A playlist from [offset, length, batch] triples (bytes). */
export function playlist(entries: [number, number, number][], blocksize = BS): Playlist {
  return { ph_magic: PH_MAGIC, ph_blocksize: blocksize, entries: entries.map(([o, l, b]) => ({ pce_offset: o, pce_length: l, pce_batch: b })) };
}

export const R = (offset: number, length: number): BCRequest => ({ op: 'R', offset, length });
export const W = (offset: number, length: number): BCRequest => ({ op: 'W', offset, length });
export const T = (param: number): BCRequest => ({ op: 'T', offset: param, length: 0 });

export const reader: RoleSpec = { role: 'bootcache:reader', daemon: true };
export const disk: RoleSpec = { role: 'device:worker', args: { unit: 0 }, daemon: true };
export const caller = (requests: BCRequest[], extra: Record<string, unknown> = {}, count = 1): RoleSpec => ({ role: 'bootcache:caller', args: { requests, ...extra }, count });

export function callers(res: { role: string; value: unknown }[]): CallerResult[] {
  return res.filter((r) => r.role === 'bootcache:caller').map((r) => r.value as CallerResult);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Wait until `n` cpus sleep on `wmesg` (the machine's snapshot), or fail after `ms`. */
export async function untilAsleep(m: Machine, wmesg: string, n: number, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (m.snapshot().sleepers.filter((s) => s.wmesg === wmesg).length < n) {
    if (Date.now() - t0 > ms) throw new Error(`untilAsleep: fewer than ${n} cpus asleep on "${wmesg}" after ${ms} ms`);
    await sleep(5);
  }
}
