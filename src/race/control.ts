/**
 * The race lab's shared state: the explore scheduler's turn word and per-cpu records, the
 * schedule (switches) and event log of the current iteration, the lock-order table, and the
 * failure record a detector fills in (first failure wins). Planned only when the spec has `race`.
 *
 * Who writes what:
 *  rc_turn      atomic; the cpu that may run (explore/replay), NOBODY between iterations. Written
 *               only by the cpu holding the turn (or the coordinator between iterations).
 *  rc_abort     atomic; set once a failure is recorded or the run is stopped: every hook bails out.
 *  rc_fail      atomic; 0 none, 1 being written, 2 written (JSON in region race.fail).
 *  switches/log written by the cpu holding the turn (one at a time), read after the run.
 *  rc_phase     atomic; 1 while the harness parts run an iteration (stress), 0 while the coordinator
 *               resets or checks: the checker cpu samples only in phase 1.
 *  rc_sampling  atomic; 1 while the checker cpu samples (it sets it, then re-reads rc_phase; the
 *               coordinator clears rc_phase, then waits for it to be 0: Dekker's handshake).
 *  rs_*         a cpu's own record: written by its owner (state also by nobody else), read by the
 *               cpu holding the turn when it schedules.
 *  rc_seq       atomic; stress with --detect race: the iteration's tag (high bits) and the next
 *               slot of race.slog (low SEQ_BITS bits). Every cpu takes its slot by one atomic add
 *               at the moment that orders the event (stressLog), so the slots are a total order
 *               that happens-before respects.
 *  rc_cap*      stress with --detect race: the two accesses whose code sites are wanted (armed by
 *               the coordinator after it found a data race; each cpu captures its own).
 */
import type { Arena } from '../shm/arena.js';
import { defineStruct } from '../shm/layout.js';
import type { Field, StructView } from '../shm/view.js';
import { onWorkerAttach, workerModule } from '../engine/roles.js';
import { registerInitializer, registerPlanner } from '../engine/spec.js';
import { bugs } from '../sync/switches.js';

export type RaceMode = 'stress' | 'explore' | 'bounded' | 'replay' | 'check';

/** Modes in which one cpu runs at a time between points, on a schedule the lab chooses. */
export const isSerial = (m: RaceMode): boolean => m === 'explore' || m === 'bounded' || m === 'replay';
export type Policy = 'random' | 'pct';

/** The race part of a machine spec (plain JSON; every worker gets it). */
declare module '../engine/spec.js' {
  interface MachineSpec {
    /** The race lab: bug switches, mode, seed, schedule (src/race/control.ts). */
    race?: RaceSpec;
  }
}

export interface RaceSpec {
  /** Bug switches on in this machine. */
  bugs?: string[];
  /** Race scenario whose planner reserves its arena space. */
  scenario?: string;
  mode: RaceMode;
  seed: number;
  policy?: Policy;
  /** PCT depth d (priority change points = d - 1). */
  depth?: number;
  /** PCT bound k on scheduling steps per iteration. */
  steps?: number;
  /** Replay: the recorded switches, flattened [decider cpu, its point count, chosen cpu]... */
  schedule?: number[];
  /** Explore: rounds of daemon timeouts with no other progress before a hang is declared. */
  idleLimit?: number;
  /** Check the lock order (default true). */
  lockOrder?: boolean;
  /** Run the happens-before data-race detector over every iteration (datarace.ts), in any mode but check. */
  detectRaces?: boolean;
  /** Bounded: explore every schedule with at most this many preemptions (default 2). */
  preemptions?: number;
  /**
   * Replays: the events (indices in iteration `iteration`'s event log) whose code site is wanted;
   * the hook records where each was made (sites.ts), read back with `RaceCtl.site`.
   */
  captureSites?: { iteration: number; events: number[] };
  /**
   * Stress: from the start, take the code site of each cpu's first access `point` to `addr` for
   * these [cpu, point, addr] (at most two), read back with `RaceCtl.site`: how a stress run names
   * the sides of a data race that another detector's failure ended.
   */
  captureTargets?: [number, number, number][];
  /** Stress: per-point probabilities of spinning, yielding, sleeping; the longest sleep in µs. */
  stress?: { spin?: number; yield?: number; sleep?: number; maxSleepUs?: number };
}

export const NOBODY = -1;
export const MAX_SWITCHES = 8192;
export const MAX_EVENTS = 65536;
/** Bounded mode: branching decisions of one iteration that can be enumerated. */
export const MAX_DECISIONS = 1 << 16;
export const RING = 12;
export const MAX_HELD = 16;
export const LOR_CLASSES = 64;
export const FAIL_BYTES = 16384;
/** Bytes kept of one captured code site (captureSites). */
export const SITE_BYTES = 2048;
/**
 * The grace the other cpus get after a failure before the run aborts (RaceCtl.recordFailure):
 * stress with --detect race only, so that the log holds the other side of a data race behind it.
 */
export function failureGraceMs(spec: RaceSpec | undefined): number {
  return spec?.mode === 'stress' && spec.detectRaces ? 20 : 0;
}

/** Stress event log: the low bits of rc_seq number the slot, the high bits tag the iteration. */
export const SEQ_BITS = 17;
const SEQ_MASK = (1 << SEQ_BITS) - 1;
/** Bytes of one slot of race.slog: [stamp, cpu, point, addr, name] (stamp = rc_seq value + 1, written last). */
const SLOT = 32;

/** rs_state */
export const S_OUT = 0; // not in the current iteration (or between iterations)
export const S_RUN = 1; // holds the turn
export const S_READY = 2; // at a point, waiting for the turn
export const S_MTX = 3; // blocked on sleep lock rs_addr
export const S_SPIN = 4; // spinning on spinlock rs_addr
export const S_SLEEP = 5; // asleep on channel rs_addr
export const S_SPIN_SHARED = 6; // spinning to take spinlock rs_addr shared
/** rs_futex: not waiting in a futex; waiting (no notify yet); notified (or its word had changed). */
export const FUTEX_NONE = 0;
export const FUTEX_WAITING = 1;
export const FUTEX_NOTIFIED = 2;
export const STATE_NAMES = ['out', 'run', 'ready', 'lock-wait', 'spin-wait', 'asleep', 'spin-wait-shared'];

export const RaceCtlLayout = defineStruct(
  'race_ctl',
  {
    rc_turn: { line: 'i32' },
    rc_abort: { line: 'i32' },
    rc_fail: { line: 'i32' },
    rc_fail_len: 'i32',
    rc_iter: { line: 'i32' },
    rc_steps: 'i32',
    /** The most steps (scheduling decisions) of any earlier iteration: PCT's k (harness.ts begin). */
    rc_maxsteps: 'i32',
    /** Steps of every iteration so far (for the report). */
    rc_allsteps: 'i32',
    rc_nswitch: 'i32',
    rc_npreempt: 'i32',
    rc_nevents: 'i32',
    rc_idle: 'i32',
    rc_decisions: 'i32',
    rc_daemons: 'i32',
    rb_count: { line: 'i32' },
    rb_gen: 'i32',
    rc_iters_done: { line: 'i32' },
    rc_go: 'i32',
    rc_phase: { line: 'i32' },
    rc_sampling: { line: 'i32' },
    /** Bounded: branching decisions taken in this iteration, entries of the choice vector, no schedule left. */
    rc_bdec: 'i32',
    rc_bvec: 'i32',
    rc_bdone: 'i32',
    /** Bounded: an iteration had more branching decisions than MAX_DECISIONS (the enumeration is not complete). */
    rc_btrunc: 'i32',
    rc_seq: { line: 'i32' },
    /**
     * Stress with --detect race: a failure is recorded, and the other cpus may run until this
     * arena time (ms) before the run aborts, so that the log holds the accesses of a data race
     * that caused it (0: no grace running).
     */
    rc_grace_until: 'i32',
    /** 1 while the code sites of two accesses are wanted: [cpu, point, addr] of each. */
    rc_cap: { line: 'i32' },
    rc_cap_cpu0: 'i32',
    rc_cap_point0: 'i32',
    rc_cap_addr0: 'i32',
    rc_cap_cpu1: 'i32',
    rc_cap_point1: 'i32',
    rc_cap_addr1: 'i32',
  },
  { align: 64, internal: true },
);
export type RaceCtlField = keyof typeof RaceCtlLayout.off;

export const RaceCpuLayout = defineStruct(
  'race_cpu',
  {
    rs_state: { line: 'i32' },
    rs_addr: 'i32',
    rs_daemon: 'i32',
    rs_npoints: 'i32',
    rs_prio: 'i32',
    rs_harness: 'i32',
    // Serialized modes: the cpu's futex while it is blocked (FUTEX_* below).
    rs_futex: 'i32',
    rs_ringpos: { line: 'i32' },
    rs_ring: { i32: RING * 3 },
    rs_nheld: { line: 'i32' },
    rs_held: { i32: MAX_HELD },
  },
  { align: 64, internal: true },
);
export type RaceCpuField = keyof typeof RaceCpuLayout.off;

workerModule(import.meta.url); // the race planner resolves the switches in every worker
// Every worker of a race machine reports its shared accesses (src/shm/access.ts): with the race
// hook installed, each one is a scheduling point in explore and replay.
onWorkerAttach('race', (k) => {
  if (k.spec.race) k.arena.instrument();
});
registerPlanner('race', (plan, spec) => {
  // Every worker (and the main thread) plans the arena from the spec: the bug switches are
  // resolved here, once per worker.
  bugs.configure(spec.race?.bugs ?? spec.bugs);
  if (!spec.race) return;
  plan.pool('race.ctl', RaceCtlLayout, 1);
  plan.pool('race.cpus', RaceCpuLayout, spec.ncpu);
  plan.bytes('race.switches', 4 * 3 * MAX_SWITCHES, 64);
  plan.bytes('race.log', 4 * 4 * MAX_EVENTS, 64);
  plan.bytes('race.lor', 4 * 3 * LOR_CLASSES * LOR_CLASSES, 64);
  plan.bytes('race.fail', FAIL_BYTES, 64);
  const stressRaces = spec.race.mode === 'stress' && spec.race.detectRaces === true;
  if (spec.race.captureSites || stressRaces || spec.race.captureTargets) plan.bytes('race.sites', SITE_BYTES * (spec.race.captureSites?.events.length ?? 2), 64);
  if (stressRaces) plan.bytes('race.slog', SLOT * MAX_EVENTS, 64);
  if (spec.race.mode === 'bounded') {
    // The choice vector of the next schedule, and [candidates, running cpu could go on, choice] per decision.
    plan.bytes('race.bvec', 4 * MAX_DECISIONS, 64);
    plan.bytes('race.bdec', 4 * 3 * MAX_DECISIONS, 64);
  }
});

registerInitializer('race', (arena, _sync, spec) => {
  if (!spec.race) return;
  const c = new RaceCtl(arena);
  c.C.store(c.ctl, 'rc_turn', NOBODY);
  if (spec.race.captureTargets?.length) c.armCapture(spec.race.captureTargets);
});

const enc = new TextEncoder();
const dec = new TextDecoder();

/** One worker's (or the main thread's) handle on the race lab's shared state. */
export class RaceCtl {
  readonly C: StructView<RaceCtlField>;
  readonly R: StructView<RaceCpuField>;
  readonly ctl: number;
  readonly ncpu: number;
  /** Any word of the lab's own regions (switches, log, lock order), by byte address: never instrumented. */
  readonly W: Field;
  /** The turn word (explore), the barrier generation, the sampling word. */
  readonly turn: Field;
  readonly gen: Field;
  readonly sampling: Field;
  private readonly cpuBase: number;
  readonly sw: number;
  readonly log: number;
  readonly lor: number;
  /** Bounded mode: the choice vector and the decision record (byte addresses; 0 in other modes). */
  readonly bvec: number;
  readonly bdec: number;
  /** Stress with --detect race: the event log (byte address; 0 otherwise) and the capture word. */
  readonly slog: number;
  readonly cap: Field;
  private readonly seq: Field;
  private readonly fail: number;

  constructor(readonly arena: Arena) {
    this.C = arena.view(RaceCtlLayout);
    this.R = arena.view(RaceCpuLayout);
    this.ctl = arena.pool('race.ctl', RaceCtlLayout).addr(0);
    const cpus = arena.pool('race.cpus', RaceCpuLayout);
    this.ncpu = cpus.count;
    this.cpuBase = cpus.addr(0);
    this.W = arena.labWord();
    this.turn = this.C.field('rc_turn');
    this.gen = this.C.field('rb_gen');
    this.sampling = this.C.field('rc_sampling');
    this.sw = arena.region('race.switches').offset;
    this.log = arena.region('race.log').offset;
    this.lor = arena.region('race.lor').offset;
    this.fail = arena.region('race.fail').offset;
    this.bvec = arena.hasRegion('race.bvec') ? arena.region('race.bvec').offset : 0;
    this.bdec = arena.hasRegion('race.bdec') ? arena.region('race.bdec').offset : 0;
    this.slog = arena.hasRegion('race.slog') ? arena.region('race.slog').offset : 0;
    this.cap = this.C.field('rc_cap');
    this.seq = this.C.field('rc_seq');
  }

  cpu(c: number): number {
    return this.cpuBase + c * RaceCpuLayout.bytes;
  }

  get aborted(): boolean {
    return this.C.load(this.ctl, 'rc_abort') !== 0;
  }

  /**
   * A failure's grace is over (recordFailure's `graceMs`): abort the run now. Called by whoever
   * waits anyway (the stress monitor's tick, the harness barrier), not on the hooks' fast path.
   * True when the run is aborted.
   */
  expireGrace(): boolean {
    if (this.aborted) return true;
    const g = this.C.load(this.ctl, 'rc_grace_until');
    if (g === 0 || this.arena.now() < g) return false;
    this.abort();
    return true;
  }

  /** Stop every hook: they throw RaceAbort (or free-run) from now on. Wakes turn waiters. */
  abort(): void {
    this.C.store(this.ctl, 'rc_abort', 1);
    this.turn.notify(this.ctl);
    this.gen.notify(this.ctl);
  }

  /**
   * Record a failure (first one wins) and abort the run, at once or after `graceMs` in which the
   * other cpus go on (stress with --detect race: the log then holds what they were about to do,
   * often the other side of a data race behind the failure). False if one was already recorded.
   */
  recordFailure(f: object, graceMs = 0): boolean {
    if (this.C.cas(this.ctl, 'rc_fail', 0, 1) !== 0) return false;
    let bytes = enc.encode(JSON.stringify(f));
    if (bytes.length > FAIL_BYTES) bytes = enc.encode(JSON.stringify({ ...f, truncated: true, events: undefined, lastEvents: undefined }).slice(0, FAIL_BYTES));
    this.arena.labWriteBytes(this.fail, bytes.subarray(0, FAIL_BYTES));
    this.C.store(this.ctl, 'rc_fail_len', Math.min(bytes.length, FAIL_BYTES));
    this.C.store(this.ctl, 'rc_fail', 2);
    if (graceMs > 0) this.C.store(this.ctl, 'rc_grace_until', Math.ceil(this.arena.now() + graceMs));
    else this.abort();
    return true;
  }

  /** The recorded failure, if any (main thread, after or during the run). */
  failure(): Record<string, unknown> | null {
    if (this.C.load(this.ctl, 'rc_fail') !== 2) return null;
    const n = this.C.load(this.ctl, 'rc_fail_len');
    return JSON.parse(dec.decode(this.arena.labReadBytes(this.fail, n))) as Record<string, unknown>;
  }

  /** Remember an event in cpu c's ring of last events (owner only). */
  ring(c: number, point: number, addr: number, name: number): void {
    const r = this.cpu(c);
    const pos = this.R.get(r, 'rs_ringpos');
    const k = (pos % RING) * 3;
    this.R.storeAt(r, 'rs_ring', k, point);
    this.R.storeAt(r, 'rs_ring', k + 1, addr);
    this.R.storeAt(r, 'rs_ring', k + 2, name);
    this.R.store(r, 'rs_ringpos', pos + 1);
  }

  /** cpu c's last events, oldest first, as [point, addr, name]. */
  lastEvents(c: number): [number, number, number][] {
    const r = this.cpu(c);
    const pos = this.R.load(r, 'rs_ringpos');
    const out: [number, number, number][] = [];
    for (let p = Math.max(0, pos - RING); p < pos; p++) {
      const k = (p % RING) * 3;
      out.push([this.R.loadAt(r, 'rs_ring', k), this.R.loadAt(r, 'rs_ring', k + 1), this.R.loadAt(r, 'rs_ring', k + 2)]);
    }
    return out;
  }

  /** Write `words` at byte address `at` of a lab region (the switch list, the event log). */
  /** Record the code site of captured event `j` (captureSites; the text is cut to SITE_BYTES). */
  putSite(j: number, text: string): void {
    const at = this.arena.region('race.sites').offset + j * SITE_BYTES;
    const bytes = enc.encode(text).subarray(0, SITE_BYTES - 4);
    this.arena.labWriteBytes(at + 4, bytes);
    this.W.store(at, bytes.length); // last: a reader that sees the length sees the text
  }

  /** A code site was recorded for captured event `j`. */
  siteTaken(j: number): boolean {
    return this.W.load(this.arena.region('race.sites').offset + j * SITE_BYTES) > 0;
  }

  /** The code site recorded for captured event `j`, or null (main thread, after the run). */
  site(j: number): string | null {
    if (!this.arena.hasRegion('race.sites')) return null;
    const at = this.arena.region('race.sites').offset + j * SITE_BYTES;
    const n = this.W.load(at);
    return n > 0 ? dec.decode(this.arena.labReadBytes(at + 4, n)) : null;
  }

  put(at: number, words: readonly number[]): void {
    for (let j = 0; j < words.length; j++) this.W.store(at + 4 * j, words[j]);
  }

  /** The switches recorded in the current iteration, flattened [decider, npoints, chosen]... */
  switches(): number[] {
    const n = Math.min(this.C.load(this.ctl, 'rc_nswitch'), MAX_SWITCHES);
    return Array.from({ length: 3 * n }, (_, j) => this.W.load(this.sw + 4 * j));
  }

  /** The events of the current iteration as [cpu, point, addr, name]. */
  events(): [number, number, number, number][] {
    const n = Math.min(this.C.load(this.ctl, 'rc_nevents'), MAX_EVENTS);
    const out: [number, number, number, number][] = [];
    for (let e = 0; e < n; e++) {
      const a = this.log + 16 * e;
      out.push([this.W.load(a), this.W.load(a + 4), this.W.load(a + 8), this.W.load(a + 12)]);
    }
    return out;
  }

  // ------------------------------------------------- stress: the event log of --detect race

  /** Coordinator, before iteration `iter` starts (stress): an empty log tagged for that iteration. */
  startStressLog(iter: number): void {
    this.seq.store(this.ctl, ((iter + 1) & 0x3fff) << SEQ_BITS);
  }

  /**
   * Append an event to the stress log. The slot is taken by one atomic add at the moment of the
   * call, so the caller places the call where it orders the event: before a release (an unlock,
   * a wakeup, an atomic write) and after an acquire (a lock taken, a wakeup returned, an atomic
   * read made). The stamp is written last, so a reader can tell a slot written for this iteration.
   */
  stressLog(cpu: number, point: number, addr: number, name: number): void {
    if ((this.seq.load(this.ctl) & SEQ_MASK) >= MAX_EVENTS) return;
    const v = this.seq.add(this.ctl, 1);
    const idx = v & SEQ_MASK;
    if (idx >= MAX_EVENTS) return;
    const a = this.slog + SLOT * idx;
    const W = this.W;
    W.store(a, 0);
    W.store(a + 4, cpu);
    W.store(a + 8, point);
    W.store(a + 12, addr);
    W.store(a + 16, name);
    W.store(a, v + 1);
  }

  /**
   * The stress log of the current iteration as [cpu, point, addr, name], in slot order. Cpus that
   * are still running (daemons) may be writing the last slots: each is waited for up to `waitMs`
   * in all, and the log ends before the first slot not written by then (a prefix of a total
   * order is still one). The main thread, which may not wait, passes 0.
   */
  stressEvents(waitMs = 50): [number, number, number, number][] {
    const v0 = this.seq.load(this.ctl);
    const tag = v0 & ~SEQ_MASK;
    const n = Math.min(v0 & SEQ_MASK, MAX_EVENTS);
    const W = this.W;
    const out: [number, number, number, number][] = [];
    const deadline = performance.now() + waitMs;
    for (let e = 0; e < n; e++) {
      const a = this.slog + SLOT * e;
      const want = (tag | e) + 1;
      for (;;) {
        if (W.load(a) === want) {
          const ev: [number, number, number, number] = [W.load(a + 4), W.load(a + 8), W.load(a + 12), W.load(a + 16)];
          if (W.load(a) === want) {
            out.push(ev);
            break;
          }
        }
        if (waitMs <= 0 || performance.now() > deadline) return out;
        W.wait(a, W.load(a), 1);
      }
    }
    return out;
  }

  /** Coordinator: ask every cpu for the code site of its next access `point` to `addr` (two of them). */
  armCapture(targets: readonly [number, number, number][]): void {
    const C = this.C;
    const f = [
      ['rc_cap_cpu0', 'rc_cap_point0', 'rc_cap_addr0'],
      ['rc_cap_cpu1', 'rc_cap_point1', 'rc_cap_addr1'],
    ] as const;
    targets.forEach(([cpu, point, addr], j) => {
      C.store(this.ctl, f[j][0], cpu);
      C.store(this.ctl, f[j][1], point);
      C.store(this.ctl, f[j][2], addr);
    });
    this.cap.store(this.ctl, 1);
  }

  /** Which armed capture (0 or 1) this access is, or -1 (its site already taken, or no match). */
  captureSlot(cpu: number, point: number, addr: number): number {
    const C = this.C;
    if (C.load(this.ctl, 'rc_cap_addr0') === addr && C.load(this.ctl, 'rc_cap_cpu0') === cpu && C.load(this.ctl, 'rc_cap_point0') === point && !this.siteTaken(0)) return 0;
    if (C.load(this.ctl, 'rc_cap_addr1') === addr && C.load(this.ctl, 'rc_cap_cpu1') === cpu && C.load(this.ctl, 'rc_cap_point1') === point && !this.siteTaken(1)) return 1;
    return -1;
  }

  /** Simple sense-reversing barrier of `n` harness cpus (outside the scheduler). Throws RaceAbort on abort. */
  barrier(n: number, stop: () => boolean): void {
    const C = this.C;
    const gen = this.gen.load(this.ctl);
    if (C.add(this.ctl, 'rb_count', 1) === n - 1) {
      C.store(this.ctl, 'rb_count', 0);
      this.gen.add(this.ctl, 1);
      this.gen.notify(this.ctl);
      return;
    }
    while (this.gen.load(this.ctl) === gen) {
      if (this.expireGrace() || stop()) throw new RaceAbort();
      this.gen.wait(this.ctl, gen, 50);
    }
  }
}

/** Coordinator: end the sampling phase and wait until the checker cpu is out of its sample. */
export function pauseChecker(ctl: RaceCtl, stop: () => boolean): void {
  const { C } = ctl;
  C.store(ctl.ctl, 'rc_phase', 0);
  while (ctl.sampling.load(ctl.ctl) !== 0) {
    if (ctl.aborted || stop()) throw new RaceAbort();
    ctl.sampling.wait(ctl.ctl, 1, 5);
  }
}

/** Thrown in a worker when the run is being stopped because a failure was found elsewhere. */
export class RaceAbort extends Error {
  constructor() {
    super('race: run aborted (a failure was recorded)');
    this.name = 'RaceAbort';
  }
}
