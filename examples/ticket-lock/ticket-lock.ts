/**
 * A lock of your own design in the lab: a ticket lock whose waiters sleep, built on kiolab's
 * arena and sleep queues, with a subtle bug behind a switch, a race scenario that finds it, and
 * a bench scenario that measures it against kiolab's own sleep lock.
 *
 * The lock: `tk_next` hands out tickets, `tk_serving` names the ticket being served. `lock`
 * takes a ticket with one atomic fetch-and-add and sleeps on `tk_serving` until its turn comes;
 * `unlock` serves the next ticket and wakes the sleepers, each of which rechecks its own turn.
 * Tickets make it FIFO-fair, which a test-and-set lock is not.
 *
 * The bug, `ticket-take-nonatomic`: the ticket is taken as a load, then a store of one more.
 * Two cpus that load between each other's load and store hold the same ticket. Both may enter
 * the critical section at once (the lock asserts exclusion); more often one enters, its unlock
 * serves the next ticket, and the other holder sleeps forever, its ticket served while it was
 * not looking (the lab reports a hang: nobody can run, and who sleeps on "ticket"). It is the
 * kind of bug a lock designer writes when the "increment" is spread over two helpers.
 *
 * Until every shared access is a scheduling point by itself, the lock marks each of its shared
 * steps with `sync.point()`, the same in the correct and the buggy code: the lab may switch cpus
 * there, and nothing tells it where the bug is.
 *
 *   kiolab race  --module dist/examples/ticket-lock/ticket-lock.js ticket-lock --bug ticket-take-nonatomic
 *   kiolab bench --module dist/examples/ticket-lock/ticket-lock.js ticket-lock --cpus 2 --duration 2
 */
import {
  type Kernel,
  LK_MTX,
  LockLayout,
  Machine,
  OpRecorder,
  type RunReport,
  type StructView,
  type Sync,
  UsageError,
  bugs,
  buildRunReport,
  defineStruct,
  formatRunReport,
  registerBenchScenario,
  registerBugSwitch,
  registerInitializer,
  registerPlanner,
  registerRaceScenario,
  registerRoles,
  runMachine,
  withReport,
} from 'kiolab';

export const TicketLayout = defineStruct(
  'ticket',
  {
    /** The next ticket to hand out (atomic). */
    tk_next: { line: 'i32' },
    /** The ticket being served (written by the holder only; atomic); the waiters' channel. */
    tk_serving: { line: 'i32' },
    /** Cpus inside the critical section (atomic; must stay 0 or 1). */
    tk_inside: { line: 'i32' },
    /** A counter the critical section increments as a plain read, then write (the ticket lock). */
    tk_count: { line: 'i32' },
    /** kiolab's own sleep lock, for the bench's comparison. */
    tk_mtx: { struct: LockLayout },
  },
  { align: 64 },
);
type TicketView = StructView<keyof typeof TicketLayout.off>;

// One ticket lock per machine, in every machine built after this module is loaded.
registerPlanner('example.ticket', (plan) => plan.pool('example.ticket', TicketLayout, 1));
registerInitializer('example.ticket', (arena, sync) => {
  sync.lock_init(TicketLayout.addrOf(arena.pool('example.ticket', TicketLayout).addr(0), 'tk_mtx'), 'tk_mtx', LK_MTX);
});

registerBugSwitch({
  name: 'ticket-take-nonatomic',
  description: 'the ticket lock takes its ticket as a load and a store, not one fetch-and-add',
  reference: 'examples/ticket-lock',
  detection: 'two cpus in the critical section, or a lost increment of the counter it protects',
});

/** One cpu's handle on the ticket lock. */
export class TicketLock {
  readonly base: number;
  readonly V: TicketView;
  private readonly serving: number;
  private readonly pTake: number;
  private readonly pServe: number;

  constructor(readonly k: Kernel) {
    this.base = k.arena.pool('example.ticket', TicketLayout).addr(0);
    this.V = k.arena.view(TicketLayout);
    this.serving = TicketLayout.addrOf(this.base, 'tk_serving');
    this.pTake = k.sync.intern('ticket:take');
    this.pServe = k.sync.intern('ticket:serve');
  }

  /** Take a ticket and sleep until it is served. May sleep. */
  lock(): void {
    const { V, base } = this;
    const s: Sync = this.k.sync;
    let my: number;
    if (bugs.any && bugs.enabled('ticket-take-nonatomic')) {
      my = V.load(base, 'tk_next');
      s.point(this.pTake, base);
      V.store(base, 'tk_next', my + 1);
    } else {
      my = V.add(base, 'tk_next', 1);
    }
    s.point(this.pTake, base);
    s.tsleep_until(this.serving, 'ticket', () => V.load(base, 'tk_serving') === my);
  }

  /** Serve the next ticket and wake the waiters. Never sleeps. */
  unlock(): void {
    const { V, base } = this;
    V.store(base, 'tk_serving', V.load(base, 'tk_serving') + 1);
    this.k.sync.point(this.pServe, base);
    this.k.sync.wakeup(this.serving);
  }

  /** The critical section: exclusion is asserted, and the counter is bumped non-atomically. */
  critical(): void {
    const { V, base } = this;
    const s = this.k.sync;
    if (V.add(base, 'tk_inside', 1) !== 0) throw new Error(`ticket lock: cpu ${this.k.cpu} entered the critical section while another cpu was inside`);
    const c = V.load(base, 'tk_count');
    s.point(this.pTake, base);
    V.store(base, 'tk_count', c + 1);
    V.add(base, 'tk_inside', -1);
  }
}

// ---- the race scenario ---------------------------------------------------------------------

const PARTS = ['a', 'b', 'c'];
const ROUNDS = 2;

registerRaceScenario<TicketLock>({
  name: 'ticket-lock',
  description: `${PARTS.length} cpus take the ticket lock ${ROUNDS} times each and bump a counter inside it`,
  bugs: ['ticket-take-nonatomic'],
  parts: PARTS,
  attach: (k) => new TicketLock(k),
  reset(t) {
    for (const f of ['tk_next', 'tk_serving', 'tk_inside', 'tk_count'] as const) t.V.store(t.base, f, 0);
  },
  run(t) {
    for (let i = 0; i < ROUNDS; i++) {
      t.lock();
      t.critical();
      t.unlock();
    }
  },
  check(t) {
    const count = t.V.load(t.base, 'tk_count');
    const next = t.V.load(t.base, 'tk_next');
    const want = PARTS.length * ROUNDS;
    if (count !== want) return `ticket lock: the counter is ${count} after ${want} critical sections (an increment was lost)`;
    if (next !== want) return `ticket lock: ${next} tickets handed out for ${want} lock calls`;
    return null;
  },
});

// ---- the bench scenario --------------------------------------------------------------------

interface LoadArgs {
  kind: 'ticket' | 'mtx';
  durationMs: number;
  /** Lock/unlock pairs of this worker (0: until the deadline). */
  ops: number;
}

registerRoles(import.meta.url, {
  'ticket:load': (k, a: LoadArgs) => {
    const t = new TicketLock(k);
    const mtx = TicketLayout.addrOf(t.base, 'tk_mtx');
    const start = performance.timeOrigin + performance.now();
    const rec = new OpRecorder({ startMs: start, rampMs: 0, binMs: 100 });
    const deadline = a.durationMs > 0 ? start + a.durationMs : Infinity;
    let done = 0;
    for (let i = 0; a.ops === 0 || i < a.ops; i++) {
      if ((i & 63) === 0 && (k.shuttingDown() || performance.timeOrigin + performance.now() >= deadline)) break;
      const t0 = performance.now();
      if (a.kind === 'ticket') t.lock();
      else k.sync.lock(mtx);
      t.critical();
      if (a.kind === 'ticket') t.unlock();
      else k.sync.unlock(mtx);
      const t1 = performance.now();
      rec.write((t1 - t0) * 1e6, 4, t1);
      done++;
    }
    return { io: rec.toJSON(), done };
  },
});

registerBenchScenario({
  name: 'ticket-lock',
  description: 'the example ticket lock (or kiolab\'s sleep lock, --lock mtx) under contention',
  options: { lock: { type: 'string', help: 'ticket or mtx (default ticket)' } },
  honours: ['duration', 'ops', 'cpus'],
  async run(o, _progress, ctx) {
    const kind = (o.lock as string | undefined) ?? 'ticket';
    if (kind !== 'ticket' && kind !== 'mtx') throw new UsageError(`--lock: expected ticket or mtx, got ${JSON.stringify(kind)}`);
    const cpus = ctx?.common.cpus ?? 2;
    const ops = ctx?.common.ops;
    const duration = ctx?.common.duration ?? (ops !== undefined ? 0 : 2);
    const machine = new Machine(withReport({ ncpu: cpus }, ctx));
    const share = (i: number) => (ops !== undefined ? Math.floor(ops / cpus) + (i < ops % cpus ? 1 : 0) : 0);
    const roles = Array.from({ length: cpus }, (_, i) => ({ role: 'ticket:load', args: { kind, durationMs: duration * 1000, ops: share(i) } satisfies LoadArgs }));
    const results = await runMachine(machine, roles, ctx, { label: 'ticket-lock', timeoutMs: duration * 1000 + 60_000 });
    const V = machine.arena.view(TicketLayout);
    const base = machine.arena.pool('example.ticket', TicketLayout).addr(0);
    const done = results.reduce((n, r) => n + (r.value as { done: number }).done, 0);
    const count = V.load(base, 'tk_count');
    return buildRunReport({
      scenario: 'ticket-lock',
      machine,
      results,
      ctx,
      options: { lock: kind, cpus, duration },
      jobName: () => `lock-unlock (${kind})`,
      checks: [{ name: 'no increment lost under the lock', ok: count === done, detail: `counter ${count}, critical sections ${done}` }],
    });
  },
  format: (r) => formatRunReport(r as RunReport),
});
