/**
 * The per-cpu trace ring and live counters, in shared memory.
 *
 * When a machine spec carries `report: { trace: N }`, the `report` planner reserves for each cpu
 * a 64-byte header line (event count, live op count) and a ring of N event records; with
 * `report: { live: true }` only the header lines. Every worker calls `traceAttach(k)` when it
 * attaches (an attach hook, see src/engine/roles.ts): that installs a tracing `Hook` on its `Sync` (lock waits,
 * sleeps with their wmesg, wakeups, named points) and points `OpRecorder` at the cpu's ring (I/O
 * spans) and live counter. Each ring has a single writer, its cpu; the main thread reads rings
 * after the run (`readTrace`, `chromeTrace` in trace-chrome.ts) and live counters while it runs.
 *
 * An event record is 32 bytes: f64 ts (µs since the arena epoch), f64 dur (µs), i32 kind<<16 |
 * name id, i32 addr (lock or channel), i32 arg (bytes of an I/O), i32 spare. The ring keeps the
 * newest N records; `count` keeps counting, so `count - N` records were dropped.
 */
import type { ArenaPlan, Arena } from '../shm/arena.js';
import { type Hook, Point } from '../sync/hooks.js';
import type { Sync } from '../sync/sync.js';
import { LockLayout } from '../sync/layouts.js';
import { onWorkerAttach, workerModule } from '../engine/roles.js';
import { type MachineSpec, registerPlanner } from '../engine/spec.js';

/** The spec part that turns on the report region. */
export interface ReportSpecPart {
  report?: {
    /** Event records per cpu ring (0 or absent: no trace). */
    trace?: number;
    /** Per-cpu live op counters for the progress line. */
    live?: boolean;
  };
}

export const enum TraceKind {
  LOCK_WAIT = 1,
  SLEEP = 2,
  WAKEUP = 3,
  IO_READ = 4,
  IO_WRITE = 5,
  POINT = 6,
}

export const TRACE_HEADER_BYTES = 64;
export const TRACE_RECORD_BYTES = 32;
/** Default ring size per cpu for `--trace` (2 MiB per cpu). */
export const DEFAULT_TRACE_EVENTS = 65536;
const MAX_TRACE_EVENTS = 1 << 22;

function reportPart(spec: MachineSpec): { trace: number; live: boolean } | null {
  const r = (spec as MachineSpec & ReportSpecPart).report;
  if (!r) return null;
  const trace = r.trace ?? 0;
  if (!Number.isInteger(trace) || trace < 0 || trace > MAX_TRACE_EVENTS) {
    throw new RangeError(`machine spec: report.trace must be an integer in [0, ${MAX_TRACE_EVENTS}], got ${JSON.stringify(r.trace)}`);
  }
  if (trace === 0 && !r.live) return null;
  return { trace, live: !!r.live };
}

function cpuBytes(events: number): number {
  return TRACE_HEADER_BYTES + events * TRACE_RECORD_BYTES;
}

workerModule(import.meta.url); // the report planner and the attach hook below, in every worker
onWorkerAttach('report', (k) => traceAttach(k));
registerPlanner('report', (plan: ArenaPlan, spec: MachineSpec) => {
  const r = reportPart(spec);
  if (r) plan.bytes('report.ring', spec.ncpu * cpuBytes(r.trace), 64);
});

/** One cpu's view of its header and ring. */
export class TraceRing {
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  /** Word index of the event count and of the live op count. */
  readonly countIdx: number;
  readonly liveIdx: number;
  private readonly rec0: number;

  constructor(
    arena: Arena,
    readonly cpu: number,
    readonly capacity: number,
  ) {
    const base = arena.region('report.ring').offset + cpu * cpuBytes(capacity);
    this.i32 = arena.i32;
    this.f64 = new Float64Array(arena.sab);
    this.countIdx = base >>> 2;
    this.liveIdx = (base >>> 2) + 1;
    this.rec0 = base + TRACE_HEADER_BYTES;
  }

  /** Append a record (the owning cpu only). */
  put(kind: TraceKind, name: number, ts: number, dur: number, addr: number, arg: number): void {
    if (this.capacity === 0) return;
    const n = this.i32[this.countIdx];
    const b = this.rec0 + (n % this.capacity) * TRACE_RECORD_BYTES;
    this.f64[b >>> 3] = ts;
    this.f64[(b >>> 3) + 1] = dur;
    const w = (b >>> 2) + 4;
    this.i32[w] = (kind << 16) | (name & 0xffff);
    this.i32[w + 1] = addr;
    this.i32[w + 2] = arg;
    Atomics.store(this.i32, this.countIdx, n + 1);
  }

  /** Records in order, oldest first, and how many were overwritten. */
  read(): { events: TraceRecord[]; dropped: number } {
    const n = Atomics.load(this.i32, this.countIdx);
    const kept = Math.min(n, this.capacity);
    const events: TraceRecord[] = [];
    for (let k = n - kept; k < n; k++) {
      const b = this.rec0 + (k % this.capacity) * TRACE_RECORD_BYTES;
      const w = (b >>> 2) + 4;
      events.push({
        cpu: this.cpu,
        ts: this.f64[b >>> 3],
        dur: this.f64[(b >>> 3) + 1],
        kind: this.i32[w] >>> 16,
        name: this.i32[w] & 0xffff,
        addr: this.i32[w + 1],
        arg: this.i32[w + 2],
      });
    }
    return { events, dropped: n - kept };
  }

  liveOps(): number {
    return Atomics.load(this.i32, this.liveIdx);
  }
}

export interface TraceRecord {
  cpu: number;
  ts: number;
  dur: number;
  kind: number;
  name: number;
  addr: number;
  arg: number;
}

/** Microseconds since the arena epoch (every worker computes the same clock). */
export function clockUs(arena: Arena): () => number {
  const origin = performance.timeOrigin - arena.epoch;
  return () => (origin + performance.now()) * 1000;
}

const CONTENDED_WORD = LockLayout.off.lk_contended_lo;

/**
 * The tracing hook: pairs lock attempts with acquisitions and sleeps with wakes. An acquisition
 * is recorded as a lock wait when it spun or blocked, or when the lock's contended counter moved
 * while this cpu was trying (a sleep lock won in its spin phase calls no hook of its own).
 */
export class TraceHook implements Hook {
  private attemptAt = 0;
  private attemptLock = 0;
  private attemptContended = 0;
  private waited = false;
  private sleepAt = 0;

  constructor(
    private readonly ring: TraceRing,
    private readonly now: () => number,
    private readonly next: Hook | null = null,
    private readonly i32: Int32Array = ring.i32,
  ) {}

  private contended(lk: number): number {
    return Atomics.load(this.i32, (lk >>> 2) + CONTENDED_WORD);
  }

  at(point: Point, addr: number, name: number): void {
    switch (point) {
      case Point.SPIN_LOCK:
      case Point.MTX_LOCK:
        // A new attempt (a failed trylock leaves no LOCKED: the next attempt replaces it).
        this.attemptAt = this.now();
        this.attemptLock = addr;
        this.attemptContended = this.contended(addr);
        this.waited = false;
        break;
      case Point.SPIN_WAIT:
      case Point.MTX_BLOCK:
        this.waited = true;
        break;
      case Point.SPIN_LOCKED:
      case Point.MTX_LOCKED:
        if (this.attemptLock === addr && (this.waited || this.contended(addr) !== this.attemptContended)) {
          const t = this.now();
          this.ring.put(TraceKind.LOCK_WAIT, 0, this.attemptAt, t - this.attemptAt, addr, 0);
        }
        this.waited = false;
        this.attemptLock = 0;
        break;
      case Point.SLEEP_BLOCK:
        this.sleepAt = this.now();
        break;
      case Point.SLEEP_WOKE: {
        const t = this.now();
        this.ring.put(TraceKind.SLEEP, name, this.sleepAt, t - this.sleepAt, addr, 0);
        break;
      }
      case Point.WAKEUP:
        this.ring.put(TraceKind.WAKEUP, 0, this.now(), 0, addr, 0);
        break;
      case Point.USER:
        this.ring.put(TraceKind.POINT, name, this.now(), 0, addr, 0);
        break;
      default:
        break;
    }
    if (this.next !== null) this.next.at(point, addr, name);
  }
}

/** What OpRecorder uses inside a worker (null on the main thread or when nothing is on). */
export interface WorkerTrace {
  ring: TraceRing;
  now: () => number;
  trace: boolean;
  live: boolean;
}

let current: WorkerTrace | null = null;

/** The worker's ring, for OpRecorder. */
export function workerTrace(): WorkerTrace | null {
  return current;
}

/** Called by every worker once attached: installs the hook and the ring when the spec asks. */
export function traceAttach(k: { arena: Arena; sync: Sync; spec: MachineSpec; cpu: number }): void {
  current = null;
  const r = reportPart(k.spec);
  if (!r || k.cpu < 0) return;
  const ring = new TraceRing(k.arena, k.cpu, r.trace);
  const now = clockUs(k.arena);
  current = { ring, now, trace: r.trace > 0, live: r.live };
  if (r.trace > 0) k.sync.hook = new TraceHook(ring, now, k.sync.hook);
}

/** Every cpu's ring of a machine (main thread), or [] when the spec has no report region. */
export function rings(arena: Arena, spec: MachineSpec): TraceRing[] {
  const r = reportPart(spec);
  if (!r) return [];
  return Array.from({ length: spec.ncpu }, (_, c) => new TraceRing(arena, c, r.trace));
}

/**
 * Ops done so far by every cpu, from the live counters (main thread, while the machine runs).
 * Each counter is a 32-bit word that wraps; call `read()` at least once per 2^32 ops of a cpu.
 */
export class LiveOps {
  private readonly rings: TraceRing[];
  private readonly prev: number[];
  private total = 0;

  constructor(arena: Arena, spec: MachineSpec) {
    this.rings = rings(arena, spec);
    this.prev = this.rings.map(() => 0);
  }

  read(): number {
    this.rings.forEach((r, i) => {
      const cur = r.liveOps() >>> 0;
      this.total += (cur - this.prev[i]) >>> 0;
      this.prev[i] = cur;
    });
    return this.total;
  }
}

/**
 * Record an I/O span in this worker's trace ring (a no-op unless the run is traced): for code
 * that does I/O without an OpRecorder, e.g. a device worker servicing a bio. `ns` is the span's
 * length, ending now (or at `perfNow`, a `performance.now()` value).
 */
export function traceIoSpan(dir: 'read' | 'write', ns: number, bytes: number, perfNow?: number): void {
  const wt = current;
  if (wt === null || !wt.trace) return;
  const end = perfNow === undefined ? wt.now() : wt.now() - (performance.now() - perfNow) * 1000;
  wt.ring.put(dir === 'read' ? TraceKind.IO_READ : TraceKind.IO_WRITE, 0, end - ns / 1000, ns / 1000, 0, bytes);
}
