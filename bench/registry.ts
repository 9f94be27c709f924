/**
 * The benchmarks `npm run bench` runs (bench/run.ts), each measured against a baseline in the
 * same run. A subsystem adds its own from its own module in bench/ (imported by bench/run.ts):
 *
 *   registerBenchmark({
 *     name: 'bootcache-hit',
 *     description: 'BootCache hit path against a raw copy out of shared memory',
 *     order: 20,
 *     run: async ({ scale, reps }, progress) => ({ figures: [{ name, unit: 'ns/op', baseline, value, ratio, target: '<= 10x raw', ok }] }),
 *   });
 *
 * The hit benchmarks (bench/hit.ts): `bootcache-hit` and `bufcache-hit` (hit paths
 * against raw lock+lookup / raw copy, target ≤ 10×), `bootcache-postmessage` (the shared-memory
 * design against a postMessage design, target ≥ 20×), `bootcache-scaling` and `bufcache-scaling`
 * (2 and 4 callers against caller 0 alone on the same machine, target 2 callers ≥ 1.6×).
 */
/** One figure of a benchmark: kiolab against its baseline, measured in the same run. */
export interface Figure {
  name: string;
  unit: string;
  baseline: number;
  value: number;
  /** value / baseline for costs, baseline / value inverted for rates: always "times the baseline's cost". */
  ratio: number;
  target?: string;
  ok?: boolean;
  /** The ratio's spread over the repetitions measured in the run (each paired with its own baseline), when there were several. */
  spread?: { min: number; max: number; reps: number };
}

/** The spread of per-repetition ratios (undefined for fewer than two). */
export function spreadOf(ratios: number[]): Figure['spread'] {
  const xs = ratios.filter((x) => Number.isFinite(x));
  if (xs.length < 2) return undefined;
  return { min: Math.min(...xs), max: Math.max(...xs), reps: xs.length };
}

export interface BenchmarkOptions {
  /** Multiplies the amount of work (1: the full run; bench/run.ts --quick uses 0.1). */
  scale: number;
  /** Repetitions per figure (the median is reported). */
  reps: number;
}

export interface BenchmarkResult {
  figures: Figure[];
  /** Anything else worth keeping in bench/results.json. */
  details?: unknown;
  /** A human rendering (default: the figures table). */
  text?: string;
}

export interface Benchmark {
  name: string;
  description: string;
  /** Run order (lower first; default 100). */
  order?: number;
  run(opts: BenchmarkOptions, progress: (line: string) => void): Promise<BenchmarkResult>;
}

const table = new Map<string, Benchmark>();

export function registerBenchmark(b: Benchmark): void {
  table.set(b.name, b);
}

export function benchmarks(): Benchmark[] {
  return [...table.values()].sort((a, b) => (a.order ?? 100) - (b.order ?? 100) || a.name.localeCompare(b.name));
}

/** The figures table of a benchmark (the same columns as the primitives report). */
export function formatFigures(title: string, figures: Figure[]): string {
  if (figures.length === 0) return `${title}: no figures`;
  const w = Math.max(6, ...figures.map((f) => f.name.length));
  const fmt = (x: number) => (x >= 1000 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1));
  const lines = [title, `${'figure'.padEnd(w)}  ${'baseline'.padStart(12)}  ${'kiolab'.padStart(12)}  ${'ratio'.padStart(7)}  target`];
  for (const f of figures) {
    const verdict = f.target ? `${f.target}: ${f.ok ? 'met' : 'MISSED'}` : '';
    const spread = f.spread ? `  [${f.spread.min.toFixed(2)}-${f.spread.max.toFixed(2)}x over ${f.spread.reps} reps]` : '';
    lines.push(`${f.name.padEnd(w)}  ${fmt(f.baseline).padStart(12)}  ${fmt(f.value).padStart(12)}  ${(f.ratio.toFixed(2) + 'x').padStart(7)}  ${verdict}   (${f.unit})${spread}`);
  }
  return lines.join('\n');
}
