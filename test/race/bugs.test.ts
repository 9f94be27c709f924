import { expect } from 'chai';
import { BUGS, bugInfo, bugTable } from '../../src/race/bugs.js';
import { bugs } from '../../src/sync/switches.js';
import { raceScenarios, scenariosFor } from '../../src/race/scenario.js';
import '../../src/race/scenarios/index.js';

describe('race: the bug-switch catalogue', () => {
  it('lists all 24 races of RACES.md once, with subsystem, reference and detection', () => {
    expect(BUGS).to.have.length(24);
    expect(new Set(BUGS.map((b) => b.name)).size).to.equal(24);
    for (const b of BUGS) {
      expect(b.description, b.name).to.not.equal('');
      expect(b.reference, b.name).to.match(/\[[ABC/]+\]/);
      expect(b.detection, b.name).to.not.equal('');
    }
    const table = bugTable({ verbose: true });
    for (const b of BUGS) expect(table).to.contain(b.name);
    expect(() => bugInfo('no-such-bug')).to.throw(RangeError, /unknown bug switch "no-such-bug"/);
  });

  it('has a race scenario for every implemented switch', () => {
    const impl = BUGS.filter((b) => b.implemented).map((b) => b.name);
    expect(impl).to.include.members(['vfs-biowait-no-interlock', 'vfs-biodone-early-done', 'vfs-bio-track-double-release']);
    for (const name of impl) expect(scenariosFor(name), name).to.not.be.empty;
    for (const s of raceScenarios()) for (const b of s.bugs) expect(bugInfo(b).implemented, b).to.equal(true);
  });

  it('resolves the switch table from a list, all off by default', () => {
    const saved = bugs.list();
    try {
      bugs.configure(undefined);
      expect(bugs.any).to.equal(false);
      bugs.configure(['vfs-biodone-early-done']);
      expect(bugs.any).to.equal(true);
      expect(bugs.enabled('vfs-biodone-early-done')).to.equal(true);
      expect(bugs.enabled('vfs-biowait-no-interlock')).to.equal(false);
    } finally {
      bugs.configure(saved);
    }
  });
});
