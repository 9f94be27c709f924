/**
 * `npm run bench`: every registered benchmark (bench/registry.ts), each against its
 * baseline measured in the same run. Prints the figures and writes bench/results.json.
 *
 *   node dist/bench/run.js [--only a,b] [--quick] [--list]
 *
 * Subsystems add benchmarks with `registerBenchmark` in bench/<name>.ts (imported
 * here). Exit code 1 when a figure missed its target.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import '../workers/index.js';
import '../src/cli/all.js';
import './primitives.js';
import './hit.js';
import './instrumentation.js';
import './mutants.js';
import './memory.js';
import { benchmarks, formatFigures } from './registry.js';
import { tuneV8 } from '../src/engine/v8.js';

// As the command does: V8's inlining budget for the hot paths (src/engine/v8.ts).
tuneV8();

const { values } = parseArgs({ options: { only: { type: 'string' }, quick: { type: 'boolean' }, list: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
if (values.help) {
  console.log('Usage: node dist/bench/run.js [--only name,name] [--quick] [--list]\n\nRuns the benchmarks and writes bench/results.json.');
  process.exit(0);
}
const all = benchmarks();
if (values.list) {
  for (const b of all) console.log(`${b.name.padEnd(24)} ${b.description}`);
  process.exit(0);
}
const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean);
const unknown = only?.filter((n) => !all.some((b) => b.name === n)) ?? [];
if (unknown.length) {
  console.error(`bench: unknown benchmark ${unknown.map((n) => JSON.stringify(n)).join(', ')}; one of: ${all.map((b) => b.name).join(', ')}`);
  process.exit(2);
}
const chosen = only ? all.filter((b) => only.includes(b.name)) : all;
const opts = values.quick ? { scale: 0.1, reps: 3 } : { scale: 1, reps: 5 };
const results: Record<string, unknown> = {};
let missed = 0;
for (const b of chosen) {
  console.log(`\n== ${b.name}: ${b.description}`);
  const r = await b.run(opts, (s) => process.stderr.write(`  ${s}\n`));
  console.log(r.text ?? formatFigures(b.name, r.figures));
  missed += r.figures.filter((f) => f.ok === false).length;
  results[b.name] = { figures: r.figures, ...(r.details !== undefined ? { details: r.details } : {}) };
}
const out = new URL('../../bench/results.json', import.meta.url);
const doc = {
  date: new Date().toISOString(),
  machine: { node: process.version, hostCores: availableParallelism(), cpu: cpus()[0]?.model?.trim() ?? 'unknown' },
  options: opts,
  benchmarks: results,
  // Kept for readers of the first layout of this file.
  ...(results.primitives ? { primitives: (results.primitives as { details?: unknown }).details } : {}),
};
writeFileSync(out, JSON.stringify(doc, null, 2) + '\n');
console.log(`\nwrote ${out.pathname}${missed ? ` — ${missed} figure(s) missed their target` : ''}`);
process.exitCode = missed ? 1 : 0;
