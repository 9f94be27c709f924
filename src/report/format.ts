/**
 * The human report of a run, in fio's manner: per role and direction IOPS and bandwidth with
 * human units, completion latency (min/avg/max/stdev and p50/p90/p99/p99.9), cache hit ratios;
 * then kiolab's tables: locks per class, sleeps per wmesg, devices, subsystem counters under
 * their kernel names, and the checks.
 */
import type { ClatNs, DirStats, JobStats } from './types.js';
import type { ReportTable, RoleTime, RunReport } from './run-report.js';
import type { DeviceStats } from '../device/disk.js';

/** 1234 → "1234", 123456 → "123k", 1.5e6 → "1.50M" (fio's IOPS style). */
export function humanCount(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a < 10_000) return a >= 100 || Number.isInteger(x) ? String(Math.round(x)) : x.toFixed(1);
  for (const [d, u] of [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ] as const) {
    if (a >= d) return `${sig3(x / d)}${u}`;
  }
  return String(Math.round(x));
}

/** Three significant digits, no exponent: 1.23, 12.3, 123, 1234. */
function sig3(x: number): string {
  const a = Math.abs(x);
  if (a >= 100) return String(Math.round(x));
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/** Bytes in binary units: 512 → "512B", 1536 → "1.50KiB". */
export function humanBytes(b: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let x = b;
  let u = 0;
  while (Math.abs(x) >= 1024 && u < units.length - 1) {
    x /= 1024;
    u++;
  }
  return u === 0 ? `${Math.round(x)}B` : `${sig3(x)}${units[u]}`;
}

/** Bytes in decimal units, as fio prints in parentheses: "129MB". */
export function humanBytesSI(b: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let x = b;
  let u = 0;
  while (Math.abs(x) >= 1000 && u < units.length - 1) {
    x /= 1000;
    u++;
  }
  return u === 0 ? `${Math.round(x)}B` : `${sig3(x)}${units[u]}`;
}

/** A latency unit for a set of nanosecond values (fio's nsec/usec/msec), chosen by the median. */
export function latencyUnit(ns: number): { name: 'nsec' | 'usec' | 'msec' | 'sec'; div: number } {
  if (ns < 10_000) return { name: 'nsec', div: 1 };
  if (ns < 10_000_000) return { name: 'usec', div: 1e3 };
  if (ns < 10_000_000_000) return { name: 'msec', div: 1e6 };
  return { name: 'sec', div: 1e9 };
}

/** A duration in µs for the tables: "850us", "12.3ms", "4.20s". */
export function humanUs(us: number): string {
  if (us < 1000) return `${sig3(us)}us`;
  if (us < 1_000_000) return `${sig3(us / 1000)}ms`;
  return `${sig3(us / 1e6)}s`;
}

const num = (x: number): string => Math.round(x).toLocaleString('en-US');
const pct = (x: number): string => `${(x * 100).toFixed(x >= 0.9995 || x === 0 ? 0 : 1)}%`;

const P_SHOWN: [string, string][] = [
  ['50.000000', 'p50'],
  ['90.000000', 'p90'],
  ['99.000000', 'p99'],
  ['99.900000', 'p99.9'],
];

function clatLines(c: ClatNs): string[] {
  const u = latencyUnit(c.percentile['50.000000'] ?? c.mean);
  // fio's style: min, max and percentiles whole in the unit (2 decimals below 10), avg and stdev with 2 decimals.
  const f = (ns: number) => {
    const v = ns / u.div;
    return v >= 10 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(2);
  };
  const f2 = (ns: number) => (ns / u.div).toFixed(2);
  return [
    `    clat (${u.name}): min=${f(c.min)}, max=${f(c.max)}, avg=${f2(c.mean)}, stdev=${f2(c.stddev)}, N=${num(c.N)}`,
    `     percentiles (${u.name}): ${P_SHOWN.map(([k, n]) => `${n}=${f(c.percentile[k] ?? 0)}`).join(', ')}`,
  ];
}

function dirLines(name: 'read' | 'write', d: DirStats): string[] {
  if (d.total_ios === 0) return [];
  // An operation of a machine word or two (a lock load's access of its shared word) moves no data
  // worth a bandwidth: its rate is the figure.
  const word = d.io_bytes / d.total_ios <= 8;
  const bw = word ? `(ops on a ${Math.round(d.io_bytes / d.total_ios)}-byte word, no bandwidth; ${Math.round(d.runtime)}msec)` : `BW=${humanBytes(d.bw_bytes)}/s (${humanBytesSI(d.bw_bytes)}/s)(${humanBytes(d.io_bytes)}/${Math.round(d.runtime)}msec)`;
  return [`  ${name}: IOPS=${humanCount(d.iops)}, ${bw}; ${num(d.total_ios)} ios`, ...clatLines(d.clat_ns)];
}

/** One job's block. */
export function formatJob(j: JobStats): string[] {
  const lines = [`${j.jobname}: (${j.workers} worker${j.workers === 1 ? '' : 's'})`];
  lines.push(...dirLines('read', j.read), ...dirLines('write', j.write));
  if (j.read.total_ios === 0 && j.write.total_ios === 0) lines.push('  no I/O recorded');
  for (const [cache, h] of Object.entries(j.hits ?? {})) {
    lines.push(`  ${cache}: hit ratio ${pct(h.ratio)} (${num(h.hits)} hits, ${num(h.misses)} misses)`);
  }
  const w = j.worker_ios ?? [];
  if (w.length > 1) {
    const lo = Math.min(...w);
    const hi = Math.max(...w);
    lines.push(`  per worker: ios min=${num(lo)}, max=${num(hi)}${hi > 0 ? ` (min/max ${(lo / hi).toFixed(2)})` : ''}`);
  }
  if (j.ramp_ios) lines.push(`  ramp: ${num(j.ramp_ios)} ios left out of the figures`);
  return lines;
}

const SPARK = '▁▂▃▄▅▆▇█';

/** A sparkline of `xs` in at most `width` characters (bins averaged), scaled to `max`. */
export function sparkline(xs: number[], width = 60, max = Math.max(0, ...xs)): string {
  if (xs.length === 0) return '';
  const per = Math.ceil(xs.length / width);
  let out = '';
  for (let i = 0; i < xs.length; i += per) {
    const chunk = xs.slice(i, i + per);
    const v = chunk.reduce((a, b) => a + b, 0) / chunk.length;
    out += max > 0 ? SPARK[Math.min(SPARK.length - 1, Math.floor((v / max) * SPARK.length))] : SPARK[0];
  }
  return out;
}

/** Throughput over time per role, as sparklines on one scale per role. */
export function timelineLines(r: RunReport): string[] {
  const roles = r.timeline.roles.filter((t) => t.iops.length > 1);
  if (roles.length === 0) return [];
  const per = Math.ceil(Math.max(...roles.map((t) => t.iops.length)) / 60);
  const w = Math.max(...roles.map((t) => t.role.length));
  const secs = (r.timeline.binMs * per) / 1000;
  return [
    `throughput over time (one mark per ${secs >= 1 ? `${secs.toFixed(1)} s` : `${Math.round(secs * 1000)} ms`}${r.timeline.rampMs ? `, ramp ${r.timeline.rampMs / 1000} s included` : ''}):`,
    ...roles.map((t) => `  ${t.role.padEnd(w)}  ${sparkline(t.iops)}  peak ${humanCount(Math.max(...t.iops))} IOPS`),
  ];
}

/** A fixed-width table: first column left-aligned, the rest right-aligned. */
export function table(head: string[], rows: string[][]): string[] {
  const w = head.map((h, k) => Math.max(h.length, ...rows.map((r) => r[k].length)));
  const line = (r: string[]) => r.map((c, k) => (k === 0 ? c.padEnd(w[k]) : c.padStart(w[k]))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)];
}

/** Contended share of acquisitions: 2 decimals, or 2 significant digits below 0.01%. */
export function contendedPct(contended: number, acquisitions: number): string {
  const p = (100 * contended) / acquisitions;
  return `${p === 0 || p >= 0.01 ? p.toFixed(2) : p.toPrecision(2)}%`;
}

/** A lock or sleep row's name, with the run it came from when the report combines several (combineRuns). */
export function rowName(name: string, run?: string): string {
  return run === undefined ? name : `${name} (${run})`;
}

export function lockLines(r: RunReport): string[] {
  if (r.locks.length === 0) return [];
  const rows = r.locks.map((l) => [
    rowName(l.className, l.run),
    l.kind,
    num(l.locks),
    num(l.acquisitions),
    l.acquisitions ? contendedPct(l.contended, l.acquisitions) : '-',
    num(l.spins),
    num(l.sleeps),
    l.contended ? humanUs(l.waitUsTotal / l.contended) : '-',
    l.contended ? humanUs(l.waitUsMax) : '-',
  ]);
  return ['locks (per class; wait is per contended acquisition):', ...table(['class', 'kind', 'locks', 'acquisitions', 'contended', 'spins', 'sleeps', 'mean wait', 'max wait'], rows).map((l) => `  ${l}`)];
}

/** The per-role time table (text and HTML reports): shares of each role's workers' time, and its ops per worker-second. */
export const TIME_HEAD = ['role', 'workers', 'ops/s/worker', 'own code', 'lock waits', 'device', 'other sleeps', 'largest sleeps'];
export function timeRows(r: RunReport): string[][] {
  const share = (us: number, t: RoleTime) => `${((100 * us) / t.wallUs).toFixed(1)}%`;
  return (r.timeByRole ?? []).filter((t) => t.wallUs > 0).map((t) => [
    t.role,
    num(t.workers),
    t.opsPerWorkerS !== undefined ? humanCount(t.opsPerWorkerS) : '-',
    share(t.ownUs, t),
    share(t.lockWaitUs, t),
    share(t.deviceUs, t),
    share(t.otherSleepUs, t),
    t.topSleeps.filter(([, us]) => us >= t.wallUs / 100).map(([w, us]) => `${w} ${share(us, t)}`).join(', ') || '-',
  ]);
}

export function timeLines(r: RunReport): string[] {
  const rows = timeRows(r);
  if (rows.length === 0) return [];
  return ["where the time goes (per role, shares of its workers' time; device: asleep for an I/O to complete, or a device worker serving one):", ...table(TIME_HEAD, rows).map((l) => `  ${l}`)];
}

export function sleepLines(r: RunReport): string[] {
  if (r.sleeps.length === 0) return [];
  const rows = r.sleeps.map((s) => [rowName(s.wmesg, s.run), num(s.sleeps), num(s.wakeups), num(s.timeouts), humanUs(s.totalUs), humanUs(s.maxUs), s.sleeps ? humanUs(s.totalUs / s.sleeps) : '-']);
  return ['sleeps (per wmesg):', ...table(['wmesg', 'sleeps', 'wakeups', 'timeouts', 'total asleep', 'max asleep', 'mean'], rows).map((l) => `  ${l}`)];
}

export function deviceLines(r: RunReport): string[] {
  if (r.devices.length === 0) return [];
  const rows = r.devices.map((d) => {
    const n = d.reads + d.writes;
    const errs = d.errors.badBlock + d.errors.transient + d.errors.short + d.errors.invalid;
    const p = (q: number) => (n ? `<${humanUs(serviceQuantileUs(d.serviceHistogram, q))}` : '-');
    return [d.name, num(d.reads), num(d.writes), humanBytes(d.bytesRead), humanBytes(d.bytesWritten), n ? humanUs(d.serviceUsTotal / n) : '-', p(0.5), p(0.99), num(errs), deviceBacking(d)];
  });
  return ['devices (service time from dequeue to completion; p50/p99 as histogram bucket bounds):', ...table(['device', 'reads', 'writes', 'read', 'written', 'mean service', 'p50', 'p99', 'errors', 'backing'], rows).map((l) => `  ${l}`)];
}

/** What stands behind a device: its real file, or memory with the simulated latency. */
export function deviceBacking(d: DeviceStats): string {
  if (d.file) return `file ${d.file}${d.syncWrites ? ', fdatasync per write' : ''}`;
  const l = d.latency;
  return `memory, ${l.baseUs}us${l.seekUs ? ` + seek ${l.seekUs}us` : ''}${l.bandwidthMBps ? `, ${l.bandwidthMBps} MB/s` : ''}`;
}

/**
 * The upper bound of the bucket holding quantile `q` of a service histogram (bucket k counts
 * requests with 2^(k-1) <= us < 2^k): the value is below it.
 */
export function serviceQuantileUs(hist: number[], q: number): number {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  let seen = 0;
  for (let k = 0; k < hist.length; k++) {
    seen += hist[k];
    if (seen >= q * total) return 2 ** k;
  }
  return 2 ** hist.length;
}

/** A subsystem table of the report (ReportTable). */
export function reportTableLines(t: ReportTable): string[] {
  const cell = (c: string | number) => (typeof c === 'number' ? num(c) : c);
  return [`${t.title}:`, ...table(t.head, t.rows.map((r) => r.map(cell))).map((l) => `  ${l}`)];
}

/** `name = value` lines of a counter section, aligned. */
/** The unit of a kernel counter, by its name (sysctl, BootCache's ss_*, uvmexp); '' for a plain count. */
export function counterUnit(name: string): string {
  const exact: Record<string, string> = {
    'vfs.nbuf': 'buffers',
    'vfs.flushperqueue': 'buffers',
    'vfs.bufcache_bw': 'bytes/s',
    'vfs.vm_cycle_point': 'of 64',
    ss_blocksize: 'bytes',
    ss_batch_size: 'blocks',
    ss_total_extents: 'extents',
    ss_history_clusters: 'clusters',
    nswapdev: 'devices',
    swpages: 'pages',
    swpginuse: 'pages',
    swpgonly: 'pages',
  };
  if (exact[name] !== undefined) return exact[name];
  if (/space$|bytes/.test(name)) return 'bytes';
  if (/_blocks$|blkmissing$/.test(name)) return 'blocks';
  if (/_(ms|time)$/.test(name)) return 'ms';
  if (/_us$/.test(name)) return 'µs';
  return '';
}

export function counterLines(title: string, c: Record<string, number | string> | undefined): string[] {
  if (!c || Object.keys(c).length === 0) return [];
  const w = Math.max(...Object.keys(c).map((k) => k.length));
  return [`${title}:`, ...Object.entries(c).map(([k, v]) => `  ${k.padEnd(w)} = ${typeof v === 'number' ? num(v) : v}${typeof v === 'number' && counterUnit(k) ? ` ${counterUnit(k)}` : ''}`)];
}

/** The arena's memory in one line: page memory, device media, and the metadata beside the pages. */
export function arenaLine(a: NonNullable<RunReport['machine']['arena']>): string {
  const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
  const share = a.pages > 0 ? `, ${(a.metadataShare * 100).toFixed(1)}% of the page memory` : '';
  return `arena: ${mib(a.bytes)} — page memory ${mib(a.pages)}, device media ${mib(a.media)}, metadata ${mib(a.metadata)}${share}`;
}

export function formatRunReport(r: RunReport): string {
  const m = r.machine;
  const out: string[] = [];
  if (r.summary?.length) out.push(...r.summary, '');
  out.push(`kiolab bench ${r.scenario} — ${r.kiolab_version}, node ${m.node}, ${m.cpus} cpus on ${m.hostCores} host cores, ${r.time}`);
  const opts = Object.entries(r.options).filter(([, v]) => v !== undefined && v !== false && typeof v !== 'object');
  if (opts.length) out.push(`options: ${opts.map(([k, v]) => (v === true ? k : `${k}=${v}`)).join(' ')}`);
  if (r.switches?.length) out.push(`bug switches on: ${r.switches.join(', ')}${r.options['as-seed'] ? " (--as-seed: the seed's own variants)" : ''}`);
  else if (r.options['as-seed']) out.push("bug switches on: none (--as-seed: for every catalogued race of these subsystems kiolab's default is the seed's code)");
  if (m.arena) out.push(arenaLine(m.arena));
  out.push('');
  for (const j of r.jobs) out.push(...formatJob(j), '');
  if (r.jobs.length === 0 && !r.tables?.length) out.push('no job recorded any I/O', '');
  for (const block of [
    ...(r.tables ?? []).map(reportTableLines),
    timelineLines(r),
    timeLines(r),
    lockLines(r),
    sleepLines(r),
    deviceLines(r),
    counterLines('sysctl', r.sysctl),
    counterLines('bootcache', r.bootcache),
    counterLines('uvmexp', r.uvmexp),
    ...Object.entries(r.counters ?? {}).map(([k, c]) => counterLines(k, c)),
  ]) {
    if (block.length) out.push(...block, '');
  }
  if (r.checks?.length) {
    out.push('checks:', ...r.checks.map((c) => `  ${c.ok ? 'ok    ' : 'FAILED'} ${c.name}${c.detail ? `: ${c.detail}` : ''}`), '');
  }
  if (r.trace) out.push(`trace: ${r.trace.file} (${num(r.trace.events)} events${r.trace.dropped ? `, ${num(r.trace.dropped)} dropped by full rings` : ''})`);
  while (out[out.length - 1] === '') out.pop();
  return out.join('\n');
}
