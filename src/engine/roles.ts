/**
 * The role registry. A role is a named function that a worker runs on one cpu. Role modules
 * register themselves (`registerRoles(import.meta.url, { 'family:name': fn })`); the engine
 * imports no role module. Instead, every module whose registrations a worker needs (its roles,
 * planners, bio callbacks, race scenarios) is a *worker module*: `registerRoles` records its URL,
 * and a module that registers only planners calls `workerModule(import.meta.url)`. Each worker of
 * a machine imports the worker modules the main thread had when the machine was built, in the
 * same order, before it plans and attaches; so the main thread and every worker see the same
 * roles and the same arena plan.
 */
import type { Kernel } from './spec.js';

export type RoleFn = (k: Kernel, args: any) => unknown | Promise<unknown>;

const roleTable = new Map<string, { fn: RoleFn; module: string }>();
const modules: string[] = [];

/** Every worker of machines built from now on imports `url` (a module URL: `import.meta.url`). */
export function workerModule(url: string): void {
  if (typeof url !== 'string' || !/^(file|data):/.test(url)) {
    throw new TypeError(`workerModule: expected a module URL (import.meta.url), got ${JSON.stringify(url)}`);
  }
  if (!modules.includes(url)) modules.push(url);
}

/** The worker modules registered so far, in registration order. */
export function workerModules(): string[] {
  return [...modules];
}

/**
 * Register the roles of the module at `moduleUrl` (pass `import.meta.url`). Role names are
 * `family:name`; a name that another module registered already is an error.
 */
export function registerRoles(moduleUrl: string, table: Record<string, RoleFn>): void {
  workerModule(moduleUrl);
  for (const [name, fn] of Object.entries(table)) {
    if (typeof fn !== 'function') throw new TypeError(`registerRoles: role ${JSON.stringify(name)} is not a function`);
    const had = roleTable.get(name);
    if (had && had.module !== moduleUrl) {
      throw new RangeError(`registerRoles: role ${JSON.stringify(name)} is registered twice, by ${had.module} and by ${moduleUrl}`);
    }
    roleTable.set(name, { fn, module: moduleUrl });
  }
}

/** The names of every registered role. */
export function roleNames(): string[] {
  return [...roleTable.keys()].sort();
}

/** Resolve a role name (e.g. `lab:counter`) to its function. */
export function resolveRole(role: string): RoleFn {
  const r = roleTable.get(role);
  if (r) return r.fn;
  const colon = role.indexOf(':');
  const family = colon < 0 ? role : role.slice(0, colon);
  const same = roleNames().filter((n) => n.startsWith(`${family}:`));
  throw new RangeError(
    same.length
      ? `unknown role ${JSON.stringify(role)}; ${family} has: ${same.join(', ')}`
      : `unknown role ${JSON.stringify(role)}: no module registered a role of family ${JSON.stringify(family)} (import the module that registers it before building the machine)`,
  );
}

/** Import worker modules in order (a worker, before it attaches). */
export async function importWorkerModules(urls: readonly string[]): Promise<void> {
  for (const u of urls) await import(u);
}

type AttachHook = (k: Kernel) => void;
const attachHooks = new Map<string, AttachHook>();

/**
 * Something every worker does right after it attaches, before its role runs (the report layer
 * installs its trace hook this way). Register it from a worker module.
 */
export function onWorkerAttach(name: string, f: AttachHook): void {
  attachHooks.set(name, f);
}

export function runAttachHooks(k: Kernel): void {
  for (const name of [...attachHooks.keys()].sort()) attachHooks.get(name)!(k);
}
