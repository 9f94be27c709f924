/**
 * `npm run bench`: every benchmark, each against its baseline measured in the same run.
 * Prints the figures and writes bench/results.json.
 */
import { writeFileSync } from 'node:fs';
import { benchPrimitives, formatPrimitives } from '../src/engine/bench-primitives.js';

const primitives = await benchPrimitives({}, (s) => process.stderr.write(`  ${s}\n`));
console.log(formatPrimitives(primitives));
const out = new URL('../../bench/results.json', import.meta.url);
writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), primitives }, null, 2) + '\n');
console.log(`\nwrote ${out.pathname}`);
