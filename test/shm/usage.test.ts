import '../../workers/index.js'; // kiolab's own roles and planners
import { expect } from 'chai';
import { Machine } from '../../src/engine/machine.js';
import { formatRunReport } from '../../src/report/format.js';
import { runBench } from '../../src/cli/bench.js';
import type { RunReport } from '../../src/report/run-report.js';
import '../../src/cli/all.js';

describe('arena: what its bytes hold (page memory, device media, metadata)', () => {
  it('counts the regions planned as pages and media, and the rest as metadata', () => {
    const m = new Machine({ ncpu: 2, devices: [{ name: 'md0', blocks: 1024 }], swap: { files: [{ path: 'a', device: 'md0', type: 'blk', blocks: 512 }], pages: 64 } });
    const u = m.arena.usage();
    expect(u.pages, 'the swap frames').to.equal(64 * 4096);
    expect(u.media, "md0's store").to.equal(1024 * 512);
    expect(u.metadata).to.equal(u.bytes - u.pages - u.media);
    expect(u.metadata).to.be.greaterThan(0);
    expect(u.metadataShare).to.equal(u.metadata / u.pages);
  });

  it("a scenario's report carries the figures and prints them", async () => {
    const { report } = await runBench<RunReport>('swap', { duration: 0.2 });
    const a = report.machine.arena!;
    expect(a.pages).to.equal(2 * 128 * 4096); // 2 pagers x 128 pages
    expect(a.media).to.be.greaterThan(0);
    expect(formatRunReport(report)).to.match(/^arena: [\d.]+ MiB — page memory 1\.0 MiB, device media [\d.]+ MiB, metadata [\d.]+ MiB, [\d.]+% of the page memory$/m);
  });
});
