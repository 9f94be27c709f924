/**
 * Device configuration: options → resolved options → defaults, validated up front with errors
 * that name the option and show the bad value.
 */
export interface LatencyConfig {
  /** Fixed cost of every request (controller + rotational average), µs. */
  baseUs?: number;
  /** Full-stroke seek time, µs; a request pays seekUs × |Δblock| / blocks. */
  seekUs?: number;
  /** Media transfer rate, MB/s (10^6 bytes); 0 or absent: transfers take no time. */
  bandwidthMBps?: number;
}

export interface FaultConfig {
  /** Seed of the fault generator (decisions are a function of seed and request serial). */
  seed?: number;
  /** Persistent bad block ranges [first, last] (inclusive): any request touching one fails with EIO. */
  bad?: [number, number][];
  /** Probability that a request fails with a transient EIO. */
  transientRate?: number;
  /** Probability that a request transfers only part of its bytes (b_resid > 0). */
  shortRate?: number;
}

export interface DeviceConfig {
  name: string;
  /** Bytes per block (512 by default; a power of two from 512 to 65536). */
  blockSize?: number;
  /** Size in blocks. */
  blocks: number;
  /** Back the device with this file (real file I/O) instead of shared memory. */
  file?: string;
  /** Requests in flight at once on a file-backed device (p-queue concurrency). */
  queueDepth?: number;
  /**
   * A file-backed device: fdatasync after each write before it completes, as a disk whose
   * write cache is off (or flushed on every write) would; off, a write completes once it is in
   * the host's page cache.
   */
  syncWrites?: boolean;
  /** Serve the queue in elevator (C-LOOK) order by block number (disksort). */
  elevator?: boolean;
  latency?: LatencyConfig;
  faults?: FaultConfig;
  /** Keep the data oracle (the latest version of every block). */
  oracle?: boolean;
}

export type ResolvedDevice = Required<Omit<DeviceConfig, 'file' | 'latency' | 'faults'>> & {
  file: string | null;
  latency: Required<LatencyConfig>;
  faults: Required<FaultConfig>;
};

export interface DeviceSpecPart {
  devices?: DeviceConfig[];
  /** Physical I/O buffers (getpbuf) for nested and raw I/O. */
  npbuf?: number;
}

function check(cond: boolean, what: string, v: unknown): void {
  if (!cond) throw new RangeError(`device: ${what}, got ${JSON.stringify(v)}`);
}

export function resolveDevice(c: DeviceConfig, i: number): ResolvedDevice {
  const at = `devices[${i}]`;
  if (typeof c !== 'object' || c === null) throw new TypeError(`device: ${at} must be an object, got ${JSON.stringify(c)}`);
  check(typeof c.name === 'string' && c.name.length > 0, `${at}.name must be a non-empty string`, c.name);
  const blockSize = c.blockSize ?? 512;
  check(Number.isInteger(blockSize) && blockSize >= 512 && blockSize <= 65536 && (blockSize & (blockSize - 1)) === 0,
    `${at}.blockSize must be a power of two from 512 to 65536`, blockSize);
  check(Number.isInteger(c.blocks) && c.blocks > 0, `${at}.blocks must be a positive integer`, c.blocks);
  check(c.blocks * blockSize <= 2 ** 31 - 4096 || c.file !== undefined, `${at}: a memory-backed device is limited to 2 GiB (blocks × blockSize)`, c.blocks * blockSize);
  const queueDepth = c.queueDepth ?? 32;
  check(Number.isInteger(queueDepth) && queueDepth >= 1 && queueDepth <= 1024, `${at}.queueDepth must be an integer in [1, 1024]`, queueDepth);
  const l = c.latency ?? {};
  const latency = { baseUs: l.baseUs ?? 0, seekUs: l.seekUs ?? 0, bandwidthMBps: l.bandwidthMBps ?? 0 };
  for (const [k, v] of Object.entries(latency)) check(Number.isFinite(v) && v >= 0, `${at}.latency.${k} must be a number >= 0`, v);
  const f = c.faults ?? {};
  const faults = { seed: f.seed ?? 1, bad: f.bad ?? [], transientRate: f.transientRate ?? 0, shortRate: f.shortRate ?? 0 };
  check(Number.isInteger(faults.seed), `${at}.faults.seed must be an integer`, faults.seed);
  check(Array.isArray(faults.bad), `${at}.faults.bad must be a list of [first, last] block ranges`, faults.bad);
  faults.bad.forEach((r, k) =>
    check(Array.isArray(r) && r.length === 2 && Number.isInteger(r[0]) && Number.isInteger(r[1]) && r[0] >= 0 && r[0] <= r[1] && r[1] < c.blocks,
      `${at}.faults.bad[${k}] must be [first, last] with 0 <= first <= last < blocks`, r));
  for (const k of ['transientRate', 'shortRate'] as const) {
    check(typeof faults[k] === 'number' && faults[k] >= 0 && faults[k] <= 1, `${at}.faults.${k} must be a probability in [0, 1]`, faults[k]);
  }
  check(c.file === undefined || (typeof c.file === 'string' && c.file.length > 0), `${at}.file must be a path`, c.file);
  check(c.syncWrites === undefined || c.syncWrites === false || c.file !== undefined, `${at}.syncWrites needs a file (a memory device has no cache to flush)`, c.syncWrites);
  return {
    name: c.name,
    blockSize,
    blocks: c.blocks,
    file: c.file ?? null,
    queueDepth,
    syncWrites: c.syncWrites === true,
    elevator: c.elevator ?? false,
    latency,
    faults,
    oracle: c.oracle ?? false,
  };
}

/** Latency of one request in ms under the model, given the previous head position. */
export function serviceTimeMs(d: ResolvedDevice, lastBlock: number, block: number, bytes: number): number {
  const { baseUs, seekUs, bandwidthMBps } = d.latency;
  const seek = seekUs * Math.min(1, Math.abs(block - lastBlock) / d.blocks);
  const xfer = bandwidthMBps > 0 ? bytes / bandwidthMBps : 0; // bytes / (MB/s) = µs
  return (baseUs + seek + xfer) / 1000;
}

/** A 32-bit mix (splitmix-style) for seeded, reproducible decisions. */
export function mix32(a: number, b: number): number {
  let h = (Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uniform number in [0, 1) from (seed, n). */
export function rand01(seed: number, n: number): number {
  return mix32(seed, n) / 4294967296;
}
