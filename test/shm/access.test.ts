/**
 * The instrumented arena (src/shm/access.ts): what each accessor reports to the access hook,
 * what it does not (quiet fields, internal layouts, an arena that is not instrumented).
 */
import { expect } from 'chai';
import { ACCESS_NAMES, setAccessHook } from '../../src/shm/access.js';
import { Arena, ArenaPlan } from '../../src/shm/arena.js';
import { defineStruct } from '../../src/shm/layout.js';

const Thing = defineStruct('thing', { t_flags: 'i32', t_count: 'i32', t_stat: 'i32' }, { quiet: ['t_stat'] });
const Inner = defineStruct('inner_word', { w: 'i32' }, { internal: true });
const plan = () => new ArenaPlan().pool('things', Thing, 2).pool('inner', Inner, 1).bytes('pages', 8192);

function recording(): { log: string[]; stop: () => void } {
  const log: string[] = [];
  setAccessHook({ access: (kind, addr, bytes) => log.push(`${ACCESS_NAMES[kind]}@${addr}/${bytes}`) });
  return { log, stop: () => setAccessHook(null) };
}

describe('shm: the instrumented arena reports every shared access', () => {
  it('names each kind: plain read and write, atomic load, store and read-modify-write, peek, byte ranges', () => {
    const a = Arena.create(plan());
    a.instrument();
    const T = a.view(Thing);
    const t = a.pool('things', Thing).addr(1);
    const flags = T.field('t_flags');
    const pages = a.region('pages').offset;
    const { log, stop } = recording();
    try {
      T.set(t, 't_count', 1);
      T.get(t, 't_count');
      flags.or(t, 4);
      flags.load(t);
      flags.peek(t);
      T.peek(t, 't_flags');
      T.store(t, 't_count', 2);
      a.copyBytes(pages + 4096, pages, 512);
    } finally {
      stop();
    }
    const f = t;
    const c = t + 4;
    expect(log).to.deep.equal([
      `write@${c}/4`,
      `read@${c}/4`,
      `atomic_rmw@${f}/4`,
      `atomic_read@${f}/4`,
      `peek@${f}/4`,
      `peek@${f}/4`,
      `atomic_write@${c}/4`,
      `read_range@${pages}/512`,
      `write_range@${pages + 4096}/512`,
    ]);
  });

  it('a peek is a plain load: it reads what the atomic write left', () => {
    const a = Arena.create(plan());
    const T = a.view(Thing);
    const t = a.pool('things', Thing).addr(0);
    T.or(t, 't_flags', 6);
    expect(T.peek(t, 't_flags')).to.equal(6);
    expect(T.field('t_flags').peek(t)).to.equal(6);
  });

  it('reports nothing for quiet fields, internal layouts, or an arena that is not instrumented', () => {
    const a = Arena.create(plan());
    a.instrument();
    const t = a.pool('things', Thing).addr(0);
    const { log, stop } = recording();
    try {
      a.view(Thing).set(t, 't_stat', 5);
      a.view(Thing).field('t_stat').set(t, 6);
      a.view(Inner).store(a.pool('inner', Inner).addr(0), 'w', 1);
    } finally {
      stop();
    }
    expect(log).to.deep.equal([]);
    const plain = Arena.create(plan());
    const r = recording();
    try {
      plain.view(Thing).set(plain.pool('things', Thing).addr(0), 't_count', 1);
      plain.fillBytes(plain.region('pages').offset, 0, 64);
    } finally {
      r.stop();
    }
    expect(r.log).to.deep.equal([]);
  });
});
