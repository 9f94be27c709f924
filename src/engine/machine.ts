/**
 * A machine: one arena and the workers attached to it. The main thread only orchestrates,
 * collects and reports; it never waits on a shared-memory word.
 *
 * `run(roles)` starts one piscina worker per role instance (each is one cpu), waits until every
 * worker has attached (READY), opens the start barrier, and gathers the roles' results. A worker
 * that throws or exits ends the run with a `MachineError` naming its cpu and role; the other
 * workers are asked to stop, then terminated: no hang, no leaked worker.
 */
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { Arena } from '../shm/arena.js';
import { type SyncSnapshot, snapshot } from '../sync/snapshot.js';
import { Sync } from '../sync/sync.js';
import type { RoleResult, RoleTask, WorkerMessage } from './protocol.js';
import { workerModules } from './roles.js';
import { MachineLayout, type MachineSpec, initializers, plannerNames, planMachine } from './spec.js';

export interface RoleSpec {
  role: string;
  args?: unknown;
  /** How many cpus run this role (default 1). */
  count?: number;
  /**
   * A daemon (device worker, buf_daemon) runs until the load is done: when every non-daemon role
   * has returned, the machine asks all roles to stop and wakes every sleeper.
   */
  daemon?: boolean;
  /**
   * A device worker (with `daemon`): it stops only after every other role has returned, so the
   * disk is there for the last I/O of every other daemon (its role reads `k.ioStopping()`).
   */
  io?: boolean;
}

export interface RunOptions {
  /** Fail the run (and stop every worker) if it has not finished by then. */
  timeoutMs?: number;
  /** How long stopping workers get to return on their own before they are terminated. */
  graceMs?: number;
  onMessage?: (m: WorkerMessage) => void;
}

export class MachineError extends Error {
  constructor(
    message: string,
    readonly cpu: number,
    readonly role: string,
    override readonly cause?: unknown,
    readonly snapshot?: SyncSnapshot,
  ) {
    super(message);
    this.name = 'MachineError';
  }
}

const WORKER_URL = new URL('../../workers/role.js', import.meta.url).href;

/** The machines of this process that are running now, and whether the process was interrupted. */
const running = new Set<Machine>();
let interruptedAt: number | null = null;

/**
 * Stop the load of every running machine, and of every machine started from now on (Ctrl-C):
 * each is asked to shut down and its sleepers woken, as when its load ends, so its roles return
 * what they have done so far and the run ends normally, with partial results. Returns how many
 * machines were running.
 */
export function interruptMachines(): number {
  interruptedAt ??= performance.now();
  for (const m of running) m.interrupt();
  return running.size;
}

/** How long an interrupted machine's workers get to return on their own before they are terminated. */
export const INTERRUPT_GRACE_MS = 5000;

/** When this process was interrupted (performance.now()), or null. */
export function machinesInterrupted(): number | null {
  return interruptedAt;
}

export class Machine {
  readonly arena: Arena;
  readonly sync: Sync;
  private readonly M;
  private readonly m: number;
  private running = false;
  /** The worker modules and planners at construction: what every worker of this machine loads and checks. */
  private readonly modules: string[];
  private readonly planners: string[];

  constructor(readonly spec: MachineSpec) {
    validateSpec(spec);
    this.modules = workerModules();
    this.planners = plannerNames();
    this.arena = Arena.create(planMachine(spec));
    this.sync = Sync.init(this.arena);
    for (const f of initializers()) f(this.arena, this.sync, spec);
    this.M = this.arena.view(MachineLayout);
    this.m = this.arena.pool('machine', MachineLayout).addr(0);
  }

  /** True once every worker of the run has attached and been told to begin its role (the start word). */
  get started(): boolean {
    return this.M.load(this.m, 'm_go') !== 0;
  }

  /** Who sleeps on what, which locks are held: a sample of the running machine. */
  snapshot(): SyncSnapshot {
    return snapshot(this.sync);
  }

  /** Ask every role to stop (roles poll `k.shuttingDown()`). */
  requestShutdown(): void {
    this.M.store(this.m, 'm_shutdown', 1);
  }

  /** What Ctrl-C does to this machine while it runs (set by `run`). */
  private onInterrupt: (() => void) | null = null;

  /** Stop the load now (Ctrl-C): see `interruptMachines`. */
  interrupt(): void {
    if (this.onInterrupt) this.onInterrupt();
    else this.stopDaemons();
  }

  /** Let the device workers stop (every other role has returned, or the run failed) and wake them. */
  private stopIo(): void {
    this.M.store(this.m, 'm_io_stop', 1);
    this.sync.wakeup_all_cpus();
  }

  /** Ask every role to stop and wake every sleeper so daemons notice. */
  stopDaemons(): void {
    this.requestShutdown();
    // Daemons also sleep with short timeouts, so one that interlocks after this still sees the flag.
    this.sync.wakeup_all_cpus();
  }

  async run(roles: RoleSpec[], opts: RunOptions = {}): Promise<RoleResult[]> {
    if (this.running) throw new Error('machine: already running');
    this.running = true;
    const instances: { role: string; args: unknown; daemon: boolean; io: boolean }[] = [];
    for (const r of roles) {
      const n = r.count ?? 1;
      if (!Number.isInteger(n) || n < 0) throw new RangeError(`machine: role ${r.role} has a bad count ${n}`);
      for (let i = 0; i < n; i++) instances.push({ role: r.role, args: r.args ?? {}, daemon: !!r.daemon, io: !!r.io });
    }
    if (instances.length === 0) throw new RangeError('machine: no roles to run');
    if (instances.length > this.spec.ncpu) {
      throw new RangeError(`machine: ${instances.length} role instances but the spec has only ${this.spec.ncpu} cpus`);
    }
    const n = instances.length;
    const { modules, planners } = this;
    const pool = new Piscina({
      filename: WORKER_URL,
      minThreads: n,
      maxThreads: n,
      concurrentTasksPerWorker: 1,
      idleTimeout: 60_000,
      atomics: 'disabled',
    });
    let failure: MachineError | null = null;
    let settle!: () => void;
    const failed = new Promise<void>((res) => (settle = res));
    const fail = (e: MachineError): void => {
      if (failure) return;
      failure = e;
      this.requestShutdown();
      this.stopIo();
      settle();
    };
    let ready = 0;
    let loadLeft = instances.filter((i) => !i.daemon).length;
    const loadDone = (): void => {
      if (--loadLeft === 0) this.stopDaemons();
    };
    // The devices outlive every other role (RoleSpec.io).
    let clientsLeft = instances.filter((i) => !i.io).length;
    if (instances.some((i) => i.io)) this.M.store(this.m, 'm_has_io', 1);
    const clientDone = (): void => {
      if (--clientsLeft === 0) this.stopIo();
    };
    const results: RoleResult[] = new Array(n);
    const ports: MessagePortLike[] = [];
    const tasks = instances.map((inst, cpu) => {
      const ch = new MessageChannel();
      ports.push(ch.port1);
      ch.port1.on('message', (m: WorkerMessage) => {
        if (m.type === 'ready' && ++ready === n) {
          const go = this.M.field('m_go');
          go.store(this.m, 1);
          go.notify(this.m);
        }
        opts.onMessage?.(m);
      });
      const task: RoleTask = { sab: this.arena.sab, spec: this.spec, cpu, role: inst.role, args: inst.args, port: ch.port2, modules, planners };
      return pool.run(task, { transferList: [ch.port2] as never }).then(
        (value) => {
          results[cpu] = { cpu, role: inst.role, value };
          if (!inst.daemon) loadDone();
          if (!inst.io) clientDone();
        },
        (err: unknown) => {
          const msg = err instanceof Error ? err.message : String(err);
          fail(new MachineError(`cpu ${cpu} (role ${inst.role}) failed: ${msg}`, cpu, inst.role, err, this.snapshot()));
        },
      );
    });
    const all = Promise.all(tasks);
    running.add(this);
    // Ctrl-C: ask every role to stop; a worker that has not returned INTERRUPT_GRACE_MS later
    // (stuck in a wait nobody will end) fails the run, which terminates the workers: bounded.
    let forceStop: NodeJS.Timeout | undefined;
    this.onInterrupt = () => {
      this.stopDaemons();
      forceStop ??= setTimeout(() => fail(new MachineError(`machine: interrupted, and its workers had not stopped ${INTERRUPT_GRACE_MS / 1000} s later`, -1, '', undefined, this.snapshot())), INTERRUPT_GRACE_MS);
    };
    // Interrupted before it began (a scenario that runs machines one after another): its roles
    // start, find the shutdown word set, and return at once.
    if (interruptedAt !== null) this.onInterrupt();
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        const snap = this.snapshot();
        const asleep = snap.sleepers.map((s) => `cpu ${s.cpu} (${s.role}) on "${s.wmesg}"`).join(', ') || 'nobody asleep';
        fail(new MachineError(`machine: run exceeded ${opts.timeoutMs} ms (${asleep})`, -1, '', undefined, snap));
      }, opts.timeoutMs);
    }
    try {
      await Promise.race([all, failed]);
      if (failure) {
        // Give the others a moment to notice m_shutdown, then terminate whoever is left.
        await Promise.race([all, delay(opts.graceMs ?? 300)]);
        throw failure;
      }
      return results;
    } finally {
      running.delete(this);
      this.onInterrupt = null;
      if (forceStop) clearTimeout(forceStop);
      if (timer) clearTimeout(timer);
      for (const p of ports) p.close();
      await pool.destroy();
      this.running = false;
    }
  }
}

interface MessagePortLike {
  close(): void;
}

function delay(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms).unref());
}

export function validateSpec(spec: MachineSpec): void {
  if (typeof spec !== 'object' || spec === null) throw new TypeError('machine spec must be an object');
  if (!Number.isInteger(spec.ncpu) || spec.ncpu < 1 || spec.ncpu > 256) {
    throw new RangeError(`machine spec: ncpu must be an integer in [1, 256], got ${JSON.stringify(spec.ncpu)}`);
  }
}
