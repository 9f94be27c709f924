/**
 * The repository stands on its own: docs/RACES.md is generated from the catalogue kiolab runs
 * (scripts/races-doc.mjs) and must be current, and no document points a fresh clone to a file
 * outside the repository.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const script = join(root, 'scripts', 'races-doc.mjs');

describe('docs: the repository stands on its own', () => {
  it('docs/RACES.md matches the catalogue and the race scenarios (regenerate it when they change)', () => {
    const r = spawnSync(process.execPath, [script, '--check'], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
  });

  it('no document links outside the repository', () => {
    const docs = ['README.md', 'HACKING.md', 'CHANGELOG.md', ...readdirSync(join(root, 'docs')).map((f) => join('docs', f)), 'src/race/README.md', 'src/bootcache/README.md'];
    for (const d of docs) {
      const text = readFileSync(join(root, d), 'utf8');
      // The changelog may tell history; it must not send a reader there.
      const links = d === 'CHANGELOG.md' ? [] : (text.match(/\.\.\/shared\/\S*/g) ?? []);
      expect(links, d).to.deep.equal([]);
    }
  });
});
