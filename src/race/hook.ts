/**
 * The race lab's hook (src/sync/hooks.ts), one per worker, in one of four modes:
 *
 *  - `check`   records the last events of each cpu and the lock order; perturbs nothing.
 *  - `stress`  as check, and at every point the cpu, from its own seeded generator, may spin,
 *              yield or sleep a short random time. With --detect race, every point is also
 *              appended to the stress log at a moment that orders it (stressLog).
 *  - `explore` exactly one cpu runs between points. A cpu at a point publishes that it waits
 *              (rs_state) and waits for the turn word (Atomics.wait); the cpu holding the turn
 *              chooses the next one (uniform random or PCT), deterministic given the seed. A cpu
 *              about to block in the host (lock_block, spin_wait, tsleep) hands the turn on and
 *              is chosen again only once it can run: its lock word is free (for a shared spin,
 *              no exclusive holder), or a waker cleared
 *              its channel. When nobody can run, the quiescence detectors run (lost wakeup,
 *              deadlock); daemons' timed sleeps then let time pass, a bounded number of rounds.
 *  - `replay`  as explore for the iterations before the failing one, which follows the recorded
 *              switches ("when cpu X is at its n-th point, cpu Y runs next").
 *
 * Every switch of the turn is recorded as [decider cpu, its point count, chosen cpu]; the log
 * keeps every point passed, by cpu, for the report and the replay file.
 */
import { mix32 } from '../device/config.js';
import type { Arena } from '../shm/arena.js';
import { type AccessHook, setAccessHook, withoutAccessHook } from '../shm/access.js';
import { hostSleep } from '../shm/view.js';
import { type Hook, PT_SHARED, Point, accessPoint } from '../sync/hooks.js';
import { LK_SPIN, TOK_EXCLUSIVE } from '../sync/layouts.js';
import { snapshot } from '../sync/snapshot.js';
import type { Sync } from '../sync/sync.js';
import {
  MAX_DECISIONS,
  MAX_EVENTS,
  MAX_SWITCHES,
  NOBODY,
  RaceAbort,
  type RaceCtl,
  type RaceSpec,
  S_MTX,
  S_OUT,
  S_READY,
  S_RUN,
  S_SLEEP,
  S_SPIN,
  S_SPIN_SHARED,
  FUTEX_NONE,
  FUTEX_NOTIFIED,
  FUTEX_WAITING,
  isSerial,
  failureGraceMs,
} from './control.js';
import type { CheckerViolation } from './checker.js';
import { heldBy, lockState, lorAcquire, lostWakeups, waitForGraph } from './detect.js';
import { codeSite } from './sites.js';


export class RaceHook implements Hook, AccessHook {
  readonly mode: RaceSpec['mode'];
  /** Set when the machine shuts down: the hook lets everything run freely. */
  inert = false;
  private readonly held: number[] = [];
  private readonly me: number;
  private rng: number;
  private readonly replay: Map<number, number> | null;
  private readonly replayIter: number;
  private cpCache = { iter: -1, seed: 0, points: [] as number[] };
  private readonly lk_word;
  /** Stress with --detect race: log every point (stressLog). */
  private readonly stressRaces: boolean;
  /** Stress: code sites are wanted from the start (RaceSpec.captureTargets). */
  private readonly stressCapture: boolean;
  /** Stress log: an acquire this cpu made at its last point, logged at its next one (or at leave). */
  private pendPoint = 0;
  private pendAddr = -1;
  private pendBytes = 0;

  constructor(
    readonly spec: RaceSpec,
    readonly ctl: RaceCtl,
    readonly sync: Sync,
    private readonly stop: () => boolean,
    /** The iteration that replays `spec.schedule` (replay mode). */
    replayIter = -1,
    /** The scenario's instant invariant, checked at quiescent points. */
    private readonly invariant: ((arena: Arena) => string | null) | null = null,
    /** The subsystems' samplers (checker.ts), run at quiescent points with try-locks only. */
    private readonly sample: (() => CheckerViolation | null) | null = null,
  ) {
    this.mode = spec.mode;
    this.me = ctl.cpu(sync.cpu);
    this.rng = mix32(spec.seed, 0x51ed + sync.cpu) || 1;
    this.replayIter = replayIter;
    this.lk_word = sync.L.field('lk_word');
    this.stressRaces = spec.mode === 'stress' && spec.detectRaces === true;
    this.stressCapture = spec.mode === 'stress' && (spec.captureTargets?.length ?? 0) > 0;
    if (spec.mode === 'replay') {
      const s = spec.schedule ?? [];
      this.replay = new Map();
      for (let i = 0; i + 2 < s.length; i += 3) this.replay.set(s[i] * 1048576 + s[i + 1], s[i + 2]);
    } else this.replay = null;
  }

  /** Install on this worker's Sync, and as its access hook (every shared access a point). */
  install(): this {
    this.sync.hook = this;
    setAccessHook(this);
    return this;
  }

  /**
   * Serialized modes model the host's futexes: a cpu blocked on a sleep lock or asleep on a
   * channel is waiting in its futex from its block point on, and runs again only once a notify
   * names it (or its word had already changed when it blocked). A wait that nobody notifies is
   * then a hang explore can see, as it would be on the host; a wakeup or unlock that forgets its
   * notify is no longer covered by the scheduler's own waiting.
   */
  get modelsFutex(): boolean {
    return isSerial(this.mode);
  }

  /** Unlock of a contended sleep lock: FUTEX_WAKE one waiter of `lk` (the lowest cpu). Holds the turn. */
  notifyLock(lk: number): void {
    if (!isSerial(this.mode) || this.inert) return;
    const R = this.ctl.R;
    for (let c = 0; c < this.ctl.ncpu; c++) {
      const r = this.ctl.cpu(c);
      if (R.load(r, 'rs_state') === S_MTX && R.load(r, 'rs_addr') === lk && R.load(r, 'rs_futex') === FUTEX_WAITING) {
        R.store(r, 'rs_futex', FUTEX_NOTIFIED);
        return;
      }
    }
  }

  /** A wakeup took cpu `cpu` off its channel and notifies its futex. Holds the turn. */
  notifyThread(cpu: number): void {
    if (!isSerial(this.mode) || this.inert || cpu < 0 || cpu >= this.ctl.ncpu) return;
    const r = this.ctl.cpu(cpu);
    if (this.ctl.R.load(r, 'rs_futex') === FUTEX_WAITING) this.ctl.R.store(r, 'rs_futex', FUTEX_NOTIFIED);
  }

  /** A shared access of an instrumented view (src/shm/access.ts): a point like any other. */
  access(kind: number, addr: number, bytes: number): void {
    this.at(accessPoint(kind), addr, bytes);
  }

  at(point: Point, addr: number, name: number): void {
    if (this.inert) return;
    const ctl = this.ctl;
    if (ctl.aborted) throw new RaceAbort();
    if (this.stop()) {
      this.inert = true;
      return;
    }
    const cpu = this.sync.cpu;
    ctl.ring(cpu, point, addr, name);
    if (point === Point.SPIN_LOCKED || point === Point.MTX_LOCKED) this.acquired(addr);
    else if (point === Point.SPIN_UNLOCK || point === Point.MTX_UNLOCK) {
      const i = this.held.lastIndexOf(addr);
      if (i >= 0) this.held.splice(i, 1);
    }
    if (this.mode === 'stress') {
      if (this.stressRaces) this.stressLog(cpu, point, addr, name);
      else if (this.stressCapture && ctl.cap.load(ctl.ctl) !== 0) this.capture(cpu, point, addr);
      // Accesses are many more points than the primitives: perturb them at an eighth of the rate.
      if (point > Point.USER && this.next() >= 0.125) return;
      return this.perturb();
    }
    if (this.mode === 'check') return;
    const R = ctl.R;
    let st = R.get(this.me, 'rs_state');
    if (st === S_OUT) return; // outside an iteration: runs freely
    if (st !== S_RUN) {
      this.waitTurn(); // a daemon's first point: wait to be scheduled
      R.store(this.me, 'rs_state', (st = S_RUN));
    }
    const n = R.get(this.me, 'rs_npoints') + 1;
    R.store(this.me, 'rs_npoints', n);
    switch (point) {
      case Point.MTX_BLOCK:
        this.log(point, addr, name);
        return this.handOff(S_MTX, addr);
      case Point.SPIN_WAIT:
        this.log(point, addr, name);
        return this.handOff(name === PT_SHARED ? S_SPIN_SHARED : S_SPIN, addr);
      case Point.SLEEP_BLOCK:
        this.log(point, addr, name);
        return this.handOff(S_SLEEP, addr);
      default:
        // Logged once this cpu holds the turn again, just before it makes the access (or the
        // unlock, the wakeup): the log is then the order in which things really happened, which
        // the data-race detector needs (a load logged before a switch would read a later value).
        this.handOff(S_READY, 0);
        if (!this.inert) this.log(point, addr, name);
    }
  }

  /** Append to the iteration's event log (serial modes; the caller holds the turn). */
  private log(point: Point, addr: number, name: number): void {
    const ctl = this.ctl;
    const e = ctl.C.add(ctl.ctl, 'rc_nevents', 1);
    if (e < MAX_EVENTS) ctl.put(ctl.log + 16 * e, [this.sync.cpu, point, addr, name]);
    const cap = this.spec.captureSites;
    if (cap !== undefined && cap.events.includes(e) && ctl.C.load(ctl.ctl, 'rc_iter') === cap.iteration) {
      ctl.putSite(cap.events.indexOf(e), codeSite());
    }
  }

  private acquired(lk: number): void {
    if (this.held.length > 0 && this.spec.lockOrder !== false) {
      const lor = lorAcquire(this.ctl, this.sync, this.held, lk);
      if (lor) {
        this.fail({
          kind: 'lock-order',
          message: `lock order reversal: ${lor.first.from} -> ${lor.first.to} (cpu ${lor.first.cpu}) and ${lor.second.from} -> ${lor.second.to} (cpu ${lor.second.cpu})`,
          cpus: [...new Set([lor.first.cpu, lor.second.cpu])],
          lor,
        });
      }
    }
    if (this.held.length < 64) this.held.push(lk);
  }

  // ------------------------------------------------------------------ stress

  /**
   * Stress with --detect race: append this point to the iteration's log (RaceCtl.stressLog), in
   * an order happens-before respects although the cpus run at once. A point is reached before
   * its operation: that is the right moment for everything that releases or is plain (an
   * unlock, a wakeup, a write, an atomic store), and the hook's LOCKED and WOKE points already
   * come after theirs. An atomic read acquires only once it is made, so it is logged at this
   * cpu's next point; a read-modify-write is logged now (its release) and its acquire half
   * (ACQUIRE) at the next point. Nothing this cpu does in between is a shared access.
   */
  private stressLog(cpu: number, point: Point, addr: number, name: number): void {
    const ctl = this.ctl;
    if (this.pendAddr >= 0) {
      ctl.stressLog(cpu, this.pendPoint, this.pendAddr, this.pendBytes);
      this.pendAddr = -1;
    }
    if (ctl.cap.load(ctl.ctl) !== 0) this.capture(cpu, point, addr);
    if (point === Point.ATOMIC_READ) {
      this.pendPoint = point;
      this.pendAddr = addr;
      this.pendBytes = name;
      return;
    }
    ctl.stressLog(cpu, point, addr, name);
    if (point === Point.ATOMIC_RMW) {
      this.pendPoint = Point.ACQUIRE;
      this.pendAddr = addr;
      this.pendBytes = name;
    }
  }

  /** The acquire this cpu still owes the stress log (its last point's), logged now. */
  private flushStressLog(): void {
    if (this.pendAddr < 0) return;
    this.ctl.stressLog(this.sync.cpu, this.pendPoint, this.pendAddr, this.pendBytes);
    this.pendAddr = -1;
  }

  /**
   * A data race was found in stress, which cannot replay the iteration: the code site of each
   * side is taken at that cpu's next access of the same kind to the same word.
   */
  private capture(cpu: number, point: Point, addr: number): void {
    const j = this.ctl.captureSlot(cpu, point, addr);
    if (j >= 0) this.ctl.putSite(j, codeSite());
  }

  private next(): number {
    let x = this.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rng = x;
    return (x >>> 0) / 4294967296;
  }

  private perturb(): void {
    const p = this.spec.stress ?? {};
    const r = this.next();
    const spin = p.spin ?? 0.1;
    const yld = p.yield ?? 0.05;
    const slp = p.sleep ?? 0.05;
    if (r < spin) {
      const n = Math.floor(this.next() * 4000);
      for (let k = 0; k < n; k++) {
        // cpu_pause()
      }
    } else if (r < spin + yld) {
      hostSleep(0);
    } else if (r < spin + yld + slp) {
      hostSleep((this.next() * (p.maxSleepUs ?? 200)) / 1000);
    }
  }

  // ------------------------------------------------------------------ explore / replay

  /** Wait until this cpu holds the turn (or the run stops). */
  private waitTurn(): void {
    const { turn, ctl } = this.ctl;
    const me = this.sync.cpu;
    for (;;) {
      const t = turn.load(ctl);
      if (t === me) return;
      if (this.ctl.aborted) throw new RaceAbort();
      if (this.stop()) {
        this.inert = true;
        return;
      }
      turn.wait(ctl, t, 50);
    }
  }

  private setTurn(c: number): void {
    this.ctl.turn.store(this.ctl.ctl, c);
    this.ctl.turn.notify(this.ctl.ctl);
  }

  private handOff(state: number, addr: number): void {
    const R = this.ctl.R;
    R.store(this.me, 'rs_addr', addr);
    R.store(this.me, 'rs_state', state);
    // Into the futex: a sleep lock's word still 2 (marked contended by this cpu), or this cpu
    // still on its channel, means a real wait that only a notify ends.
    if (state === S_MTX) R.store(this.me, 'rs_futex', this.lk_word.load(addr) === 2 ? FUTEX_WAITING : FUTEX_NOTIFIED);
    else if (state === S_SLEEP) R.store(this.me, 'rs_futex', this.sync.T.load(this.sync.threads.addr(this.sync.cpu), 'td_wchan') === addr ? FUTEX_WAITING : FUTEX_NOTIFIED);
    this.decide();
    this.waitTurn();
    // Out of the futex (only a blocked cpu was in one: every other point skips the store).
    if (state === S_MTX || state === S_SLEEP) R.store(this.me, 'rs_futex', FUTEX_NONE);
    if (!this.inert) R.store(this.me, 'rs_state', S_RUN);
  }

  /** This harness cpu enters the iteration the coordinator began (its state is READY). */
  enter(): void {
    if (!isSerial(this.mode)) return;
    this.waitTurn();
    this.ctl.R.store(this.me, 'rs_state', S_RUN);
  }

  /** This harness cpu is done with the iteration: it leaves the schedule and hands the turn on. */
  leave(): void {
    if (this.stressRaces) this.flushStressLog();
    if (!isSerial(this.mode)) return;
    if (this.inert || this.ctl.aborted) return;
    const R = this.ctl.R;
    R.store(this.me, 'rs_npoints', R.get(this.me, 'rs_npoints') + 1);
    R.store(this.me, 'rs_state', S_OUT);
    this.decide();
  }

  /** A daemon joins the schedule (it waits for the turn at its first point). */
  registerDaemon(): void {
    const { R, C, ctl } = this.ctl;
    R.store(this.me, 'rs_daemon', 1);
    if (!isSerial(this.mode)) return;
    R.store(this.me, 'rs_state', S_READY);
    C.add(ctl, 'rc_daemons', 1);
  }

  private iterSeed(): number {
    return mix32(this.spec.seed, this.ctl.C.load(this.ctl.ctl, 'rc_iter'));
  }

  private changePoints(): number[] {
    const iter = this.ctl.C.load(this.ctl.ctl, 'rc_iter');
    if (this.cpCache.iter !== iter) {
      const seed = this.iterSeed();
      const d = this.spec.depth ?? 3;
      // k: the scenario's bound, or more once an earlier iteration took more steps.
      const k = Math.max(this.spec.steps ?? 200, this.ctl.C.load(this.ctl.ctl, 'rc_maxsteps'));
      this.cpCache = { iter, seed, points: Array.from({ length: Math.max(0, d - 1) }, (_, j) => 1 + (mix32(seed, 2000 + j) % k)) };
    }
    return this.cpCache.points;
  }

  /** Choose who runs next; the caller holds the turn. */
  private decide(): void {
    const { R, C, ctl } = this.ctl;
    const s = this.sync;
    const me = s.cpu;
    const step = C.add(ctl, 'rc_steps', 1) + 1;
    const replaying = this.replay !== null && C.load(ctl, 'rc_iter') === this.replayIter;
    if (!replaying && this.spec.policy === 'pct') {
      const j = this.changePoints().indexOf(step);
      if (j >= 0) R.store(this.me, 'rs_prio', (this.spec.depth ?? 3) - 2 - j);
    }
    const cands: number[] = [];
    const timed: number[] = [];
    let harnessIn = false;
    let harnessCand = false;
    for (let c = 0; c < this.ctl.ncpu; c++) {
      const r = this.ctl.cpu(c);
      const st = R.load(r, 'rs_state');
      if (st === S_OUT) continue;
      const daemon = R.load(r, 'rs_daemon') !== 0;
      if (!daemon) harnessIn = true;
      const a = R.load(r, 'rs_addr');
      const ok =
        st === S_READY ||
        st === S_RUN ||
        (st === S_SPIN && this.lk_word.load(a) === 0) ||
        (st === S_SPIN_SHARED && (this.lk_word.load(a) & TOK_EXCLUSIVE) === 0) ||
        ((st === S_MTX || st === S_SLEEP) && R.load(r, 'rs_futex') === FUTEX_NOTIFIED);
      if (ok) {
        cands.push(c);
        if (!daemon) harnessCand = true;
      } else if (st === S_SLEEP && daemon) timed.push(c);
    }
    let chosen: number;
    if (cands.length === 0) {
      if (!harnessIn) return this.setTurn(NOBODY);
      const idle = C.add(ctl, 'rc_idle', 1) + 1;
      if (idle === 1) this.quiescent();
      if (timed.length > 0 && idle <= (this.spec.idleLimit ?? 4)) chosen = timed[0];
      else return this.hang();
    } else {
      if (harnessCand) C.store(ctl, 'rc_idle', 0);
      chosen = replaying ? this.replayChoice(cands) : this.mode === 'bounded' ? this.boundedChoice(cands) : this.choose(cands, step);
    }
    if (chosen !== me) {
      const k = C.add(ctl, 'rc_nswitch', 1);
      if (k < MAX_SWITCHES) this.ctl.put(this.ctl.sw + 12 * k, [me, R.get(this.me, 'rs_npoints'), chosen]);
      if (cands.includes(me)) C.add(ctl, 'rc_npreempt', 1);
    }
    this.setTurn(chosen);
  }

  private choose(cands: number[], step: number): number {
    if (cands.length === 1) return cands[0];
    if (this.spec.policy === 'pct') {
      let best = cands[0];
      for (const c of cands) if (this.ctl.R.load(this.ctl.cpu(c), 'rs_prio') > this.ctl.R.load(this.ctl.cpu(best), 'rs_prio')) best = c;
      return best;
    }
    return cands[mix32(this.iterSeed(), step) % cands.length];
  }

  /**
   * Bounded: the default is to let the running cpu go on (or, when it cannot, the lowest
   * runnable cpu); each decision with more than one candidate takes the next entry of the choice
   * vector (0: the default, then the others in cpu order) and is recorded for the coordinator,
   * which enumerates the vectors depth first (nextSchedule in harness.ts).
   */
  private boundedChoice(cands: number[]): number {
    const me = this.sync.cpu;
    const dflt = cands.includes(me) ? me : cands[0];
    if (cands.length < 2) return dflt;
    const { C, ctl, W } = this.ctl;
    const d = C.add(ctl, 'rc_bdec', 1);
    if (d >= MAX_DECISIONS) {
      C.store(ctl, 'rc_btrunc', 1);
      return dflt;
    }
    const choice = d < C.load(ctl, 'rc_bvec') ? W.load(this.ctl.bvec + 4 * d) : 0;
    const order = [dflt, ...cands.filter((c) => c !== dflt)];
    this.ctl.put(this.ctl.bdec + 12 * d, [cands.length, cands.includes(me) ? 1 : 0, choice]);
    return order[Math.min(choice, order.length - 1)];
  }

  /**
   * Follow the recorded switch for (this cpu, its point count); without one the running cpu goes
   * on (or, when it cannot, the lowest runnable cpu). A shrunk schedule may name a cpu that
   * cannot run here: the switch is skipped.
   */
  private replayChoice(cands: number[]): number {
    const me = this.sync.cpu;
    const want = this.replay!.get(me * 1048576 + this.ctl.R.get(this.me, 'rs_npoints'));
    if (want !== undefined && cands.includes(want)) return want;
    return cands.includes(me) ? me : cands[0];
  }

  /** Nobody can run: look for a lost wakeup or a deadlock now, while the state is frozen. */
  private quiescent(): void {
    withoutAccessHook(() => this.detectQuiescent());
  }

  private detectQuiescent(): void {
    this.lostNotify();
    const bad = this.invariant?.(this.sync.arena) ?? null;
    if (bad !== null) this.fail({ kind: 'invariant', message: bad, cpus: [] });
    const v = this.sample?.() ?? null;
    if (v !== null) this.fail({ kind: 'invariant', message: `checker (${v.checker}) at a quiescent point: ${v.message}`, checker: v.checker, cpus: [] });
    const snap = snapshot(this.sync);
    const lost = lostWakeups(this.sync.arena, snap);
    if (lost.length > 0) {
      const l = lost[0];
      this.fail({
        kind: 'lost-wakeup',
        message: `lost wakeup: cpu ${l.cpu} (${l.role}) sleeps on "${l.wmesg}" (channel ${l.ident}) although its wake condition already holds, and no cpu can run to wake it`,
        cpus: lost.map((x) => x.cpu),
        lost,
      });
    }
    const g = waitForGraph(this.sync, snap, this.spinners());
    if (g.cycle) {
      this.fail({
        kind: 'deadlock',
        message: `deadlock: ${g.cycle.map((c) => { const e = g.edges.find((x) => x.cpu === c)!; return `cpu ${c} (${e.role}) waits for ${e.lock} held by cpu ${e.owner}`; }).join('; ')}`,
        cpus: g.cycle,
        waitFor: g.edges,
      });
    }
  }

  /**
   * A cpu still waiting in its futex although what it waits for is over (its sleep lock free, or
   * a wakeup took it off its channel), while nobody can run: the unlock or the wakeup did not
   * notify it. The host would leave it asleep for good.
   */
  private lostNotify(): void {
    const { R } = this.ctl;
    const s = this.sync;
    for (let c = 0; c < this.ctl.ncpu; c++) {
      const r = this.ctl.cpu(c);
      if (R.load(r, 'rs_futex') !== FUTEX_WAITING) continue;
      const st = R.load(r, 'rs_state');
      const a = R.load(r, 'rs_addr');
      const role = s.nameOf(s.T.load(s.threads.addr(c), 'td_role'));
      if (st === S_MTX && this.lk_word.load(a) === 0) {
        this.fail({ kind: 'lost-wakeup', message: `lost wakeup: cpu ${c} (${role}) waits in the futex of ${s.lockName(a)}, which is free, and no cpu can run: the unlock did not notify it`, cpus: [c] });
      }
      if (st === S_SLEEP && s.T.load(s.threads.addr(c), 'td_wchan') !== a) {
        const wmesg = s.nameOf(s.T.load(s.threads.addr(c), 'td_wmesg'));
        this.fail({ kind: 'lost-wakeup', message: `lost wakeup: cpu ${c} (${role}) still sleeps on "${wmesg}" (channel ${a}) although a wakeup took it off the channel, and no cpu can run: the wakeup did not notify it`, cpus: [c] });
      }
    }
  }

  private spinners(): { cpu: number; lock: number; kind: 'spin' | 'mutex' }[] {
    const out: { cpu: number; lock: number; kind: 'spin' | 'mutex' }[] = [];
    for (let c = 0; c < this.ctl.ncpu; c++) {
      const r = this.ctl.cpu(c);
      const st = this.ctl.R.load(r, 'rs_state');
      if (st === S_MTX || st === S_SPIN || st === S_SPIN_SHARED) {
        const lk = this.ctl.R.load(r, 'rs_addr');
        out.push({ cpu: c, lock: lk, kind: this.sync.L.load(lk, 'lk_kind') === LK_SPIN ? 'spin' : 'mutex' });
      }
    }
    return out;
  }

  private hang(): never {
    const snap = snapshot(this.sync);
    const asleep = snap.sleepers.map((x) => `cpu ${x.cpu} (${x.role}) on "${x.wmesg}"`).join(', ') || 'nobody asleep';
    const blocked = this.spinners().map((x) => `cpu ${x.cpu} on ${this.sync.lockName(x.lock)} (${lockState(this.sync, x.lock)})`).join(', ') || 'no lock waits';
    this.fail({
      kind: 'hang',
      message: `hang: no cpu can run and the daemons' timeouts changed nothing (${asleep}; ${blocked})`,
      cpus: [...snap.sleepers.map((x) => x.cpu), ...this.spinners().map((x) => x.cpu)],
    });
  }

  /** Record a failure with the machine's state now, and stop the run. */
  fail(f: { kind: string; message: string; cpus: number[]; [k: string]: unknown }): never {
    setAccessHook(null); // the run is over for this cpu: what it reads now is no scheduling point
    const snap = snapshot(this.sync);
    this.ctl.recordFailure({
      ...f,
      detectedBy: this.sync.cpu,
      iteration: this.ctl.C.load(this.ctl.ctl, 'rc_iter'),
      sleepers: snap.sleepers,
      held: snap.held,
      heldByDetector: heldBy(snap, this.sync.cpu),
    }, failureGraceMs(this.spec));
    throw new RaceAbort();
  }
}
