/**
 * bufcache roles (registered with registerRoles, src/engine/roles.ts), and the planner/initializer registration of its arena regions.
 *  bufcache:load           a caller: file reads and writes through the cache, oracle-checked
 *  bufcache:buf_daemon     buf_daemon (flushes DIRTY)       — run as a daemon
 *  bufcache:buf_daemon_hw  buf_daemon_hw (flushes DIRTY_HW) — run as a daemon
 *  bufcache:probe          one deterministic probe (src/bufcache/probes.ts), for the tests
 */
import { BufCache } from '../src/bufcache/core.js';
import { BUF_DAEMON, BUF_DAEMON_HW, buf_daemon1 } from '../src/bufcache/daemon.js';
import '../src/bufcache/io.js';
import { bufinit, planBufCache } from '../src/bufcache/layout.js';
import { type LoadArgs, runLoad } from '../src/bufcache/load.js';
import { runProbe } from '../src/bufcache/probes.js';
import { Devices } from '../src/device/disk.js';
import { registerRoles } from '../src/engine/roles.js';
import { registerInitializer, registerPlanner } from '../src/engine/spec.js';

registerPlanner('bufcache', (plan, spec) => planBufCache(plan, spec));
registerInitializer('bufcache', (arena, sync, spec) => bufinit(arena, sync, spec));

registerRoles(import.meta.url, {
  'bufcache:load': (k, a: LoadArgs) => runLoad(k.sync, k.spec, k.cpu, a),
  'bufcache:buf_daemon': (k) => {
    Devices.of(k.sync, k.spec);
    return buf_daemon1(BufCache.of(k.sync), BUF_DAEMON, () => k.shuttingDown());
  },
  'bufcache:buf_daemon_hw': (k) => {
    Devices.of(k.sync, k.spec);
    return buf_daemon1(BufCache.of(k.sync), BUF_DAEMON_HW, () => k.shuttingDown());
  },
  'bufcache:probe': (k, a: { name: string }) => runProbe(k.sync, k.spec, a.name),
});
