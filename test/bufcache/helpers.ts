import '../../workers/index.js'; // kiolab's own roles
import { resolveDevice } from '../../src/device/config.js';
import { Oracle } from '../../src/device/oracle.js';
import { Machine } from '../../src/engine/machine.js';
import type { MachineSpec } from '../../src/engine/spec.js';
import type { BufCacheSpec } from '../../src/bufcache/tunables.js';
import type { DeviceConfig } from '../../src/device/config.js';

/** A machine with one oracle-checked memory device formatted as version 1, and a buffer cache on it. */
export function bufMachine(ncpu: number, bufcache: BufCacheSpec, dev: Partial<DeviceConfig> = {}): Machine {
  const d: DeviceConfig = { name: 'md0', blocks: 4096, blockSize: 4096, oracle: true, ...dev };
  const spec: MachineSpec = { ncpu, devices: [d], bufcache };
  const m = new Machine(spec);
  const o = new Oracle(m.arena, 0, resolveDevice(d, 0));
  o.format(m.arena.region('dev.0.store').offset);
  // Every block starts as version 1 on the device; that is also what the cache must return.
  const exp = new Int32Array(m.arena.sab, m.arena.region('bufcache.expect').offset, d.blocks);
  exp.fill(1);
  return m;
}
