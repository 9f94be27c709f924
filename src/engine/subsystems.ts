/** Importing this module registers every subsystem's arena planner and initializer (main thread and workers alike). */
import { closeSync, ftruncateSync, fstatSync, openSync } from 'node:fs';
import { resolveDevice } from '../device/config.js';
import { initDevices, planDevices } from '../device/disk.js';
import './lab.js';
import './roles-device.js';
import './roles-bootcache.js';
import './roles-bufcache.js';
import './roles-swap.js';
import './roles-race.js';
import { registerInitializer, registerPlanner } from './spec.js';

registerPlanner('device', (plan, spec) => planDevices(plan, spec));
registerInitializer('device', (arena, sync, spec) => {
  initDevices(arena, sync, spec);
  // A file-backed device's file exists and is at least the device's size before workers open it.
  for (const d of (spec.devices ?? []).map(resolveDevice)) {
    if (!d.file) continue;
    const fd = openSync(d.file, 'a+');
    try {
      if (fstatSync(fd).size < d.blocks * d.blockSize) ftruncateSync(fd, d.blocks * d.blockSize);
    } finally {
      closeSync(fd);
    }
  }
});
