/**
 * The mutant table of the mutation benchmark (bench/mutants.ts), checked without running every
 * mutant: each patch applies exactly once, type-checks, touches no catalogued switch, names
 * scenarios that exist; and one mutant applied to a scratch build is found by a short race.
 */
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import '../../workers/index.js';
import { MUTANTS, Scratch, occurrences, patchedSource, runRace, staleMutants, typecheckMutants } from '../../bench/mutants.js';
import { REPO_ROOT } from '../../bench/noinst.js';
import { BUGS } from '../../src/race/bugs.js';
import { raceScenarios } from '../../src/race/scenario.js';

const switchChecks = (s: string): string[] => (s.match(/bugs\.enabled\('[^']+'\)/g) ?? []).sort();

describe('bench: the mutant table (bench/mutants.ts)', function () {
  this.timeout(180_000);

  it('has at least 12 mutants with unique names, none a catalogue switch, spread over sync, device and the three subsystems', () => {
    expect(MUTANTS.length).to.be.at.least(12);
    const names = MUTANTS.map((m) => m.name);
    expect(new Set(names).size, 'unique names').to.equal(names.length);
    for (const m of MUTANTS) {
      expect(m.name).to.match(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(BUGS.map((b) => b.name), m.name).to.not.include(m.name);
      expect(m.bug, m.name).to.be.a('string').and.not.contain('\n');
      expect(m.bug.length, m.name).to.be.greaterThan(20);
    }
    const dirs = new Set(MUTANTS.map((m) => m.file.split('/').slice(0, 2).join('/')));
    for (const d of ['src/sync', 'src/device', 'src/bufcache', 'src/bootcache', 'src/swap']) expect([...dirs], d).to.include(d);
  });

  it("each search string occurs exactly once in its source file, and the patch changes it", () => {
    expect(staleMutants()).to.deep.equal([]);
    for (const m of MUTANTS) {
      expect(m.file, m.name).to.match(/^src\/.+\.ts$/);
      expect(existsSync(join(REPO_ROOT, m.file)), m.file).to.equal(true);
      const src = readFileSync(join(REPO_ROOT, m.file), 'utf8');
      expect(occurrences(src, m.search), m.name).to.equal(1);
      expect(m.replace, m.name).to.not.equal(m.search);
      expect(patchedSource(m), m.name).to.not.equal(src);
    }
  });

  it('no mutant is a catalogued switch: a patch keeps every bugs.enabled(...) check it spans, and adds none', () => {
    for (const m of MUTANTS) expect(switchChecks(m.replace), m.name).to.deep.equal(switchChecks(m.search));
  });

  it('every mutant names scenarios that exist (and no synthetic one)', () => {
    const known = new Map(raceScenarios().map((s) => [s.name, s]));
    for (const m of MUTANTS) {
      expect(m.scenarios.length, m.name).to.be.greaterThan(0);
      for (const sc of m.scenarios) {
        expect(known.has(sc), `${m.name}: scenario ${sc}`).to.equal(true);
        expect(known.get(sc)!.synthetic ?? false, `${m.name}: scenario ${sc}`).to.equal(false);
      }
    }
  });

  it('a stale mutant is named: a search string found twice or not at all', () => {
    const base = MUTANTS.find((x) => x.file === 'src/sync/locks.ts')!;
    const twice = { ...base, name: 'test-twice', search: 'this.lk_owner.set(lk, this.cpu + 1);' };
    const gone = { ...base, name: 'test-gone', search: 'no such text in locks.ts' };
    expect(staleMutants([base, twice, gone])).to.deep.equal([
      { name: 'test-twice', file: base.file, count: occurrences(readFileSync(join(REPO_ROOT, base.file), 'utf8'), twice.search) },
      { name: 'test-gone', file: base.file, count: 0 },
    ]);
    expect(() => patchedSource(gone)).to.throw(/mutant test-gone is stale: its search string occurs 0 times in src\/sync\/locks\.ts/);
  });

  it('every patched file type-checks in the whole program (a crash is never a typo), and a broken patch would not', () => {
    const base = MUTANTS.find((x) => x.file === 'src/sync/locks.ts')!;
    const typo = { ...base, name: 'test-typo', replace: base.replace.replace('this.lk_word', 'this.lk_wrod') };
    const r = typecheckMutants([...MUTANTS, typo]);
    expect(r.filter((x) => x.errors.length).map((x) => x.name)).to.deep.equal(['test-typo']);
    expect(r.find((x) => x.name === 'test-typo')!.errors.join(' ')).to.contain('lk_wrod');
  });

  it('a mutant applied to a scratch build is found by a short stress run, and the scratch build runs clean without it', async () => {
    // bio-track-release-drops-want: the tracker, asleep in bio_track_wait, is never woken by the
    // last release. Stress finds it in the first iterations (the lost-wakeup watchdog).
    const m = MUTANTS.find((x) => x.name === 'bio-track-release-drops-want')!;
    const scratch = new Scratch();
    try {
      const clean = await runRace(scratch, 'bio-track', 'stress', 1);
      expect(clean.failure, 'clean run').to.equal(null);
      expect(clean.iterations).to.be.greaterThan(0);
      scratch.apply(m);
      const js = readFileSync(join(scratch.root, 'dist', 'src', 'device', 'bio.js'), 'utf8');
      expect(js).to.contain('(active & BK_COUNT) === 1');
      const r = await runRace(scratch, 'bio-track', 'stress', 30);
      expect(r.failure, 'the mutant is caught').to.not.equal(null);
      expect(r.failure!.kind).to.equal('lost-wakeup');
      expect(r.failure!.message).to.contain('trwait');
      scratch.restore();
      expect(readFileSync(join(scratch.root, 'dist', 'src', 'device', 'bio.js'), 'utf8')).to.not.contain('(active & BK_COUNT) === 1');
    } finally {
      scratch.dispose();
    }
    expect(existsSync(scratch.root)).to.equal(false);
  });

  it('explore catches an unlock and a wakeup that forget their futex notify, naming the lost notify (torture scenarios)', async () => {
    const scratch = new Scratch();
    try {
      for (const [name, scenario, what] of [
        ['sync-unlock-no-notify', 'torture-mtx', /waits in the futex of torture_mtx@\d+, which is free.*the unlock did not notify it/],
        ['sync-wakeup-no-kick', 'torture-sleep', /still sleeps on "tttoken\d" .*took it off the channel.*the wakeup did not notify it/],
      ] as const) {
        scratch.apply(MUTANTS.find((x) => x.name === name)!);
        const r = await runRace(scratch, scenario, 'explore', 30);
        expect(r.failure?.kind, `${name}: ${r.failure?.message}`).to.equal('lost-wakeup');
        expect(r.failure!.message).to.match(what);
        scratch.restore();
      }
    } finally {
      scratch.dispose();
    }
  });
});
