/**
 * Turn the per-cpu trace rings of a finished machine into Chrome Trace Event JSON (the format
 * chrome://tracing and Perfetto open): one process per machine, one thread per cpu named after
 * its role; complete events ("X") for lock waits, sleeps and I/O, instant events ("i") for
 * wakeups and named points.
 */
import type { Arena } from '../shm/arena.js';
import type { Sync } from '../sync/sync.js';
import type { MachineSpec } from '../engine/spec.js';
import { TraceKind, type TraceRecord, rings } from './trace.js';

export interface ChromeEvent {
  name: string;
  cat?: string;
  ph: 'X' | 'i' | 'M';
  ts?: number;
  dur?: number;
  pid: number;
  tid: number;
  s?: 't' | 'p' | 'g';
  args?: Record<string, unknown>;
}

export interface ChromeTrace {
  traceEvents: ChromeEvent[];
  displayTimeUnit: 'ms' | 'ns';
  otherData: Record<string, unknown>;
}

export interface TraceSummary {
  events: number;
  dropped: number;
  cpus: number;
}

function lockClass(sync: Sync, lk: number): string {
  try {
    return sync.nameOf(sync.L.load(lk, 'lk_class')) || 'lock';
  } catch {
    return 'lock';
  }
}

/** Chrome events of one machine's rings; `roles[cpu]` names each thread. */
export function chromeEvents(
  m: { arena: Arena; sync: Sync; spec: MachineSpec },
  roles: string[],
  pid = 1,
  label = 'kiolab machine',
): { events: ChromeEvent[]; summary: TraceSummary } {
  const out: ChromeEvent[] = [{ name: 'process_name', ph: 'M', pid, tid: 0, args: { name: label } }];
  let total = 0;
  let dropped = 0;
  const rs = rings(m.arena, m.spec);
  for (const ring of rs) {
    const role = roles[ring.cpu] ?? 'idle';
    out.push({ name: 'thread_name', ph: 'M', pid, tid: ring.cpu, args: { name: `cpu ${ring.cpu} ${role}` } });
    out.push({ name: 'thread_sort_index', ph: 'M', pid, tid: ring.cpu, args: { sort_index: ring.cpu } });
    const r = ring.read();
    dropped += r.dropped;
    total += r.events.length;
    for (const e of r.events) out.push(toChrome(m.sync, e, pid));
  }
  return { events: out, summary: { events: total, dropped, cpus: rs.length } };
}

function toChrome(sync: Sync, e: TraceRecord, pid: number): ChromeEvent {
  const base = { pid, tid: e.cpu, ts: round3(e.ts) };
  switch (e.kind) {
    case TraceKind.LOCK_WAIT:
      return { ...base, ph: 'X', dur: round3(e.dur), name: `lock wait ${lockClass(sync, e.addr)}`, cat: 'lock', args: { lock: e.addr } };
    case TraceKind.SLEEP:
      return { ...base, ph: 'X', dur: round3(e.dur), name: `tsleep ${sync.nameOf(e.name) || '?'}`, cat: 'sleep', args: { wmesg: sync.nameOf(e.name), ident: e.addr } };
    case TraceKind.WAKEUP:
      return { ...base, ph: 'i', s: 't', name: 'wakeup', cat: 'wakeup', args: { ident: e.addr } };
    case TraceKind.IO_READ:
    case TraceKind.IO_WRITE: {
      const dir = e.kind === TraceKind.IO_READ ? 'read' : 'write';
      return { ...base, ph: 'X', dur: round3(e.dur), name: dir, cat: 'io', args: { bytes: e.arg } };
    }
    default:
      return { ...base, ph: 'i', s: 't', name: sync.nameOf(e.name) || 'point', cat: 'point', args: { addr: e.addr } };
  }
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** A complete trace file from the events of one or more machines. */
export function chromeTrace(events: ChromeEvent[], otherData: Record<string, unknown> = {}): ChromeTrace {
  return { traceEvents: events, displayTimeUnit: 'ms', otherData: { producer: 'kiolab', ...otherData } };
}

/** Check the shape Chrome and Perfetto need; returns the problems found (empty when valid). */
export function validateChromeTrace(t: unknown): string[] {
  const problems: string[] = [];
  const o = t as ChromeTrace;
  if (typeof o !== 'object' || o === null || !Array.isArray(o.traceEvents)) return ['traceEvents: not an array'];
  o.traceEvents.forEach((e, i) => {
    if (typeof e.name !== 'string') problems.push(`traceEvents[${i}].name: not a string`);
    if (!['X', 'i', 'M', 'B', 'E'].includes(e.ph)) problems.push(`traceEvents[${i}].ph: ${JSON.stringify(e.ph)}`);
    if (!Number.isInteger(e.pid) || !Number.isInteger(e.tid)) problems.push(`traceEvents[${i}]: pid/tid not integers`);
    if (e.ph !== 'M' && !(typeof e.ts === 'number' && Number.isFinite(e.ts))) problems.push(`traceEvents[${i}].ts: ${e.ts}`);
    if (e.ph === 'X' && !(typeof e.dur === 'number' && e.dur >= 0)) problems.push(`traceEvents[${i}].dur: ${e.dur}`);
  });
  return problems;
}
