/**
 * The primitives benchmark: kiolab's locks and sleep queues against raw Atomics baselines,
 * measured in the same run. Every figure is the median of `reps` runs.
 */
import '../workers/lab.js'; // the lab roles
import { Machine } from '../src/engine/machine.js';
import { type Figure, registerBenchmark } from './registry.js';

export interface PrimitivesOptions {
  /** Scale of the work: 1 is the default run (a few seconds). */
  scale?: number;
  reps?: number;
}

export interface PrimitivesReport {
  scenario: 'primitives';
  /** The effective configuration. */
  config: { scale: number; reps: number };
  machine: { node: string; hostCores: number };
  figures: Figure[];
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Span {
  t0: number;
  t1: number;
}

async function contended(kind: string, iters: number): Promise<number> {
  const m = new Machine({ ncpu: 2, lab: true });
  const res = await m.run([{ role: 'lab:bench-contended', args: { iters, kind }, count: 2 }], { timeoutMs: 120_000 });
  const spans = res.map((r) => r.value as Span);
  const ms = Math.max(...spans.map((s) => s.t1)) - Math.min(...spans.map((s) => s.t0));
  return (ms * 1e6) / (2 * iters); // ns per acquisition
}

async function pingpong(mode: 'raw' | 'tsleep', iters: number): Promise<number> {
  const m = new Machine({ ncpu: 2, lab: true });
  const res = await m.run(
    [0, 1].map((side) => ({ role: 'lab:pingpong', args: { iters, side, mode, timeoutMs: 0 } })),
    { timeoutMs: 120_000 },
  );
  const spans = res.map((r) => r.value as Span);
  const ms = Math.max(...spans.map((s) => s.t1)) - Math.min(...spans.map((s) => s.t0));
  return (iters / ms) * 1000; // round trips per second
}

export async function benchPrimitives(opts: PrimitivesOptions = {}, progress?: (s: string) => void): Promise<PrimitivesReport> {
  const scale = opts.scale ?? 1;
  const reps = opts.reps ?? 5;
  const figures: Figure[] = [];

  progress?.('uncontended lock + unlock pairs');
  const m = new Machine({ ncpu: 1, lab: true });
  const [u] = await m.run([{ role: 'lab:bench-uncontended', args: { iters: Math.round(2_000_000 * scale), reps } }], {
    timeoutMs: 120_000,
  });
  const un = u.value as { raw: number[]; spin: number[]; mtx: number[] };
  const raw = median(un.raw);
  figures.push({ name: 'uncontended spinlock pair', unit: 'ns', baseline: raw, value: median(un.spin), ratio: median(un.spin) / raw });
  const mtx = median(un.mtx);
  figures.push({
    name: 'uncontended sleep-lock pair',
    unit: 'ns',
    baseline: raw,
    value: mtx,
    ratio: mtx / raw,
    target: '<= 2x raw CAS+store',
    ok: mtx / raw <= 2,
  });

  const citers = Math.round(500_000 * scale);
  const c: Record<string, number[]> = { raw: [], spin: [], mtx: [] };
  for (let r = 0; r < Math.max(3, Math.ceil(reps / 2)); r++) {
    for (const kind of ['raw', 'spin', 'mtx']) {
      progress?.(`contended ${kind}, 2 workers (rep ${r + 1})`);
      c[kind].push(await contended(kind, citers));
    }
  }
  const craw = median(c.raw);
  figures.push({ name: 'contended spinlock, 2 workers', unit: 'ns/acq', baseline: craw, value: median(c.spin), ratio: median(c.spin) / craw });
  figures.push({ name: 'contended sleep lock, 2 workers', unit: 'ns/acq', baseline: craw, value: median(c.mtx), ratio: median(c.mtx) / craw });

  const piters = Math.round(30_000 * scale);
  const p: Record<string, number[]> = { raw: [], tsleep: [] };
  for (let r = 0; r < reps; r++) {
    for (const mode of ['raw', 'tsleep'] as const) {
      progress?.(`sleep/wakeup ping-pong ${mode} (rep ${r + 1})`);
      p[mode].push(await pingpong(mode, piters));
    }
  }
  const praw = median(p.raw);
  const pk = median(p.tsleep);
  figures.push({
    name: 'tsleep/wakeup ping-pong, 2 workers',
    unit: 'round trips/s',
    baseline: praw,
    value: pk,
    ratio: pk / praw,
    target: '>= 0.8x raw Atomics.wait/notify',
    ok: pk / praw >= 0.8,
  });
  const os = await import('node:os');
  return { scenario: 'primitives', config: { scale, reps }, machine: { node: process.version, hostCores: os.availableParallelism() }, figures };
}

export function formatPrimitives(r: PrimitivesReport): string {
  const lines = [`kiolab bench primitives — node ${r.machine.node}, ${r.machine.hostCores} host cores`, ''];
  const w = Math.max(...r.figures.map((f) => f.name.length));
  lines.push(`${'figure'.padEnd(w)}  ${'baseline'.padStart(12)}  ${'kiolab'.padStart(12)}  ${'ratio'.padStart(7)}  target`);
  for (const f of r.figures) {
    const fmt = (x: number) => (x >= 1000 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1));
    const verdict = f.target ? `${f.target}: ${f.ok ? 'met' : 'MISSED'}` : '';
    lines.push(
      `${f.name.padEnd(w)}  ${fmt(f.baseline).padStart(12)}  ${fmt(f.value).padStart(12)}  ${(f.ratio.toFixed(2) + 'x').padStart(7)}  ${verdict}   (${f.unit})`,
    );
  }
  lines.push('', 'baseline: raw Atomics (CAS+store lock; Atomics.wait/notify ping-pong), measured in this run.');
  return lines.join('\n');
}

registerBenchmark({
  name: 'primitives',
  description: 'spinlock, sleep lock and tsleep/wakeup against raw Atomics',
  order: 10,
  run: async ({ scale, reps }, progress) => {
    const r = await benchPrimitives({ scale, reps }, progress);
    return { figures: r.figures, details: r, text: formatPrimitives(r) };
  },
});
