/**
 * Turn the per-cpu trace rings of a finished machine into Chrome Trace Event JSON (the format
 * chrome://tracing and Perfetto open): one process per machine; per cpu, a track named after its
 * role with its lock waits and sleeps (complete events, "X") and its wakeups and named points
 * (instant events, "i"), and beside it a track of its I/O. Spans on one track never overlap
 * (Perfetto refuses spans that overlap without nesting): I/O that a cpu has in flight at once
 * (readahead, async writes) is spread over as many I/O tracks as it needs.
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
    const r = ring.read();
    dropped += r.dropped;
    total += r.events.length;
    const evs = r.events.map((e) => toChrome(m.sync, e, pid));
    // The cpu's own track (sync, its waits and points) and its I/O tracks, each split into lanes
    // in which no two spans overlap.
    const lanes = [
      ...assignLanes(evs.filter((e) => e.cat !== 'io'), ring.cpu, 0, `cpu ${ring.cpu} ${role}`),
      ...assignLanes(evs.filter((e) => e.cat === 'io'), ring.cpu, IO_LANE, `cpu ${ring.cpu} ${role}: I/O`),
    ];
    for (const [tid, name] of lanes) {
      out.push({ name: 'thread_name', ph: 'M', pid, tid, args: { name } });
      out.push({ name: 'thread_sort_index', ph: 'M', pid, tid, args: { sort_index: tid } });
    }
    if (lanes.length === 0) {
      const tid = ring.cpu * TIDS_PER_CPU;
      out.push({ name: 'thread_name', ph: 'M', pid, tid, args: { name: `cpu ${ring.cpu} ${role}` } });
      out.push({ name: 'thread_sort_index', ph: 'M', pid, tid, args: { sort_index: tid } });
    }
    out.push(...evs);
  }
  return { events: out, summary: { events: total, dropped, cpus: rs.length } };
}

/** Track ids per cpu: cpu c's tracks are c * TIDS_PER_CPU + lane (its own from 0, its I/O from IO_LANE). */
export const TIDS_PER_CPU = 100;
const IO_LANE = 50;

/** The cpu of a track id. */
export const cpuOfTid = (tid: number): number => Math.floor(tid / TIDS_PER_CPU);

/**
 * Give each event of `evs` (one cpu's, one kind) a track: spans go to the first lane whose last
 * span has ended (lanes from `first`), instants to the first lane. Sets `tid`; returns the lanes
 * used and their names.
 */
function assignLanes(evs: ChromeEvent[], cpu: number, first: number, name: string): [number, string][] {
  if (evs.length === 0) return [];
  const ends: number[] = [];
  const byStart = [...evs].sort((a, b) => (a.ts ?? 0) - (b.ts ?? 0));
  for (const e of byStart) {
    let lane = 0;
    if (e.ph === 'X') {
      const start = e.ts ?? 0;
      while (lane < ends.length && ends[lane] > start) lane++;
      if (lane >= IO_LANE - 1) lane = IO_LANE - 2; // a bound on tracks; never reached in practice
      ends[lane] = Math.max(ends[lane] ?? 0, start + (e.dur ?? 0));
    } else if (ends.length === 0) ends.push(0);
    e.tid = cpu * TIDS_PER_CPU + first + lane;
  }
  return ends.map((_, k) => [cpu * TIDS_PER_CPU + first + k, k === 0 ? name : `${name} (${k + 1})`]);
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
  // Spans of one track must nest: one that starts inside another ends inside it too.
  const byTrack = new Map<string, ChromeEvent[]>();
  for (const e of o.traceEvents) if (e.ph === 'X') byTrack.set(`${e.pid}/${e.tid}`, [...(byTrack.get(`${e.pid}/${e.tid}`) ?? []), e]);
  for (const [track, spans] of byTrack) {
    spans.sort((a, b) => (a.ts! - b.ts!) || (b.dur! - a.dur!));
    const open: number[] = [];
    let bad = 0;
    for (const sp of spans) {
      while (open.length && open[open.length - 1] <= sp.ts!) open.pop();
      if (open.length && sp.ts! + sp.dur! > open[open.length - 1]) bad++;
      open.push(sp.ts! + sp.dur!);
    }
    if (bad) problems.push(`track ${track}: ${bad} span(s) overlap another without nesting`);
  }
  return problems;
}
