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
import { defineStruct } from '../shm/layout.js';
import type { Field, StructView } from '../shm/view.js';
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

/**
 * A cpu's header line. th_count: records written (its cpu reads it plainly and stores it
 * atomically once the record is in; readers load it). th_live: ops done, a word that wraps (its
 * cpu adds to it plainly; the main thread loads it). The lab's own words: never instrumented.
 */
export const TraceHeaderLayout = defineStruct('trace_header', { th_count: 'i32', th_live: 'i32' }, { align: 64, internal: true });
/** An event record (written plainly by its cpu, before th_count publishes it); tr_ts and tr_dur are f64s kept as their two words. */
export const TraceRecordLayout = defineStruct(
  'trace_record',
  { tr_ts: { i32: 2 }, tr_dur: { i32: 2 }, tr_kindname: 'i32', tr_addr: 'i32', tr_arg: 'i32', tr_spare: 'i32' },
  { internal: true },
);
type TraceHeaderField = keyof typeof TraceHeaderLayout.off;
type TraceRecordField = keyof typeof TraceRecordLayout.off;

export const TRACE_HEADER_BYTES = TraceHeaderLayout.bytes;
export const TRACE_RECORD_BYTES = TraceRecordLayout.bytes;

/** A double and its two words (this thread's scratch), to keep f64s in i32 fields. */
const f64 = new Float64Array(1);
const f64w = new Int32Array(f64.buffer);
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
  /** Address of the cpu's header line (TraceHeaderLayout). */
  readonly hdr: number;
  private readonly rec0: number;
  private readonly H: StructView<TraceHeaderField>;
  private readonly R: StructView<TraceRecordField>;

  constructor(
    readonly arena: Arena,
    readonly cpu: number,
    readonly capacity: number,
  ) {
    this.hdr = arena.region('report.ring').offset + cpu * cpuBytes(capacity);
    this.rec0 = this.hdr + TRACE_HEADER_BYTES;
    this.H = arena.view(TraceHeaderLayout);
    this.R = arena.view(TraceRecordLayout);
  }

  /** Append a record (the owning cpu only). */
  put(kind: TraceKind, name: number, ts: number, dur: number, addr: number, arg: number): void {
    if (this.capacity === 0) return;
    const R = this.R;
    const n = this.H.get(this.hdr, 'th_count');
    const b = this.rec0 + (n % this.capacity) * TRACE_RECORD_BYTES;
    f64[0] = ts;
    R.setAt(b, 'tr_ts', 0, f64w[0]);
    R.setAt(b, 'tr_ts', 1, f64w[1]);
    f64[0] = dur;
    R.setAt(b, 'tr_dur', 0, f64w[0]);
    R.setAt(b, 'tr_dur', 1, f64w[1]);
    R.set(b, 'tr_kindname', (kind << 16) | (name & 0xffff));
    R.set(b, 'tr_addr', addr);
    R.set(b, 'tr_arg', arg);
    this.H.store(this.hdr, 'th_count', n + 1);
  }

  /** Records in order, oldest first, and how many were overwritten. */
  read(): { events: TraceRecord[]; dropped: number } {
    const R = this.R;
    const n = this.H.load(this.hdr, 'th_count');
    const kept = Math.min(n, this.capacity);
    const events: TraceRecord[] = [];
    const double = (b: number, f: 'tr_ts' | 'tr_dur'): number => {
      f64w[0] = R.getAt(b, f, 0);
      f64w[1] = R.getAt(b, f, 1);
      return f64[0];
    };
    for (let k = n - kept; k < n; k++) {
      const b = this.rec0 + (k % this.capacity) * TRACE_RECORD_BYTES;
      const kn = R.get(b, 'tr_kindname');
      events.push({
        cpu: this.cpu,
        ts: double(b, 'tr_ts'),
        dur: double(b, 'tr_dur'),
        kind: kn >>> 16,
        name: kn & 0xffff,
        addr: R.get(b, 'tr_addr'),
        arg: R.get(b, 'tr_arg'),
      });
    }
    return { events, dropped: n - kept };
  }

  liveOps(): number {
    return this.H.load(this.hdr, 'th_live');
  }

  /** Count an op in the live counter (the owning cpu only: a plain add that wraps; LiveOps reads it modulo 2^32). */
  countOp(): void {
    this.H.set(this.hdr, 'th_live', (this.H.get(this.hdr, 'th_live') + 1) | 0);
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
    /** The low word of a lock's contended counter (the sync layer's; read atomically). */
    private readonly lk_contended: Field = ring.arena.view(LockLayout).field('lk_contended_lo'),
  ) {}

  private contended(lk: number): number {
    return this.lk_contended.load(lk);
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
