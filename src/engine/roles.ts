/**
 * The role registry: a role is a named function a worker runs on one cpu. Subsystems register
 * their roles in their own `roles.ts`; this module lists those modules so that a worker can load
 * a role by name without loading every subsystem.
 */
import type { Kernel } from './spec.js';

export type RoleFn = (k: Kernel, args: any) => unknown | Promise<unknown>;

const loaders: Record<string, () => Promise<Record<string, RoleFn>>> = {
  lab: () => import('./lab.js').then((m) => m.roles),
  device: () => import('./roles-device.js').then((m) => m.roles),
  bootcache: () => import('./roles-bootcache.js').then((m) => m.roles),
  bufcache: () => import('./roles-bufcache.js').then((m) => m.roles),
  swap: () => import('./roles-swap.js').then((m) => m.roles),
  race: () => import('./roles-race.js').then((m) => m.roles),
  benchhit: () => import('./roles-benchhit.js').then((m) => m.roles),
  mixed: () => import('./roles-mixed.js').then((m) => m.roles),
};

/** Resolve `family:name` (e.g. `lab:counter`) to its function. */
export async function resolveRole(role: string): Promise<RoleFn> {
  const colon = role.indexOf(':');
  const family = colon < 0 ? role : role.slice(0, colon);
  const load = loaders[family];
  if (!load) throw new RangeError(`unknown role family ${JSON.stringify(family)} in role ${JSON.stringify(role)}`);
  const table = await load();
  const fn = table[role];
  if (!fn) {
    throw new RangeError(`unknown role ${JSON.stringify(role)}; ${family} has: ${Object.keys(table).join(', ')}`);
  }
  return fn;
}

export function registerRoleFamily(family: string, load: () => Promise<Record<string, RoleFn>>): void {
  loaders[family] = load;
}
