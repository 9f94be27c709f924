/**
 * `memory`: how much of the arena each default scenario spends on metadata (structs, tables,
 * the header) against its page memory (the caches' and the pager's pages),
 * device media left aside. Each scenario runs briefly through `runBench`, as
 * `kiolab bench NAME` would, and its report's `machine.arena` is read. Target: metadata at most
 * 5% of the page memory (issue 20).
 */
import { runBench } from '../src/cli/bench.js';
import type { RunReport } from '../src/report/run-report.js';
import { type Figure, formatFigures, registerBenchmark } from './registry.js';

/** The default scenarios, each with the least load that still builds its whole machine. */
const SCENARIOS: [string, Record<string, number>][] = [
  ['mixed', { duration: 0.5 }],
  ['bufcache', { duration: 0.2 }],
  ['bootcache', { ops: 64 }],
  ['swap', { duration: 0.2 }],
];

registerBenchmark({
  name: 'memory',
  description: "the arena's metadata against its page memory, for each default scenario (target <= 5%)",
  order: 90,
  run: async (_opts, progress) => {
    const figures: Figure[] = [];
    const details: Record<string, unknown> = {};
    for (const [name, options] of SCENARIOS) {
      progress(`memory: bench ${name}`);
      const { report } = await runBench<RunReport>(name, options);
      const a = report.machine.arena;
      if (!a) throw new Error(`memory: bench ${name}'s report has no arena figures`);
      details[name] = a;
      figures.push({ name: `${name}: metadata vs page memory`, unit: 'bytes', baseline: a.pages, value: a.metadata, ratio: a.metadataShare, target: '<= 0.05x page memory', ok: a.metadataShare <= 0.05 });
    }
    const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
    const text = [
      ...Object.entries(details).map(([n, a]) => {
        const u = a as { bytes: number; pages: number; media: number; metadata: number };
        return `  ${n}: arena ${mib(u.bytes)}, page memory ${mib(u.pages)}, device media ${mib(u.media)}, metadata ${mib(u.metadata)}`;
      }),
      'metadata: every region that is neither page memory (BootCache\'s buffer and its callers\' I/O buffers, the buffer cache\'s pages and VM pages, the swap frames) nor a simulated device (its store and the oracle that shadows it): structs, tables, the header and alignment. The lock registry is threaded through the locks (no region); BootCache\'s history is reserved for what its boot can record.',
    ];
    return { figures, details, text: [formatFigures('memory', figures), ...text].join('\n') };
  },
});
