import { expect } from 'chai';
import { Arena, ArenaPlan } from '../../src/shm/arena.js';
import { CACHE_LINE, defineStruct } from '../../src/shm/layout.js';

const Small = defineStruct('small', { a: 'i32', b: 'i64', c: { i32: 3 } });
const Lined = defineStruct('lined', { x: 'i32', y: { line: 'i32' }, z: { line: 'i64' } });
const Outer = defineStruct('outer', { flags: 'i32', inner: { struct: Lined }, tail: 'i32' });

describe('shm: struct layouts', () => {
  it('places i64 slots on 8-byte boundaries and sizes structs to their alignment', () => {
    expect(Small.off.a).to.equal(0);
    expect(Small.off.b).to.equal(2); // word 1 is padding
    expect(Small.off.c).to.equal(4);
    expect(Small.words).to.equal(8);
    expect(Small.bytes).to.equal(32);
    expect(Small.align).to.equal(8);
  });

  it('starts line fields on their own 64-byte cache line', () => {
    expect(Lined.align).to.equal(CACHE_LINE);
    expect(Lined.off.y * 4).to.equal(64);
    expect(Lined.off.z * 4).to.equal(128);
    expect(Lined.bytes).to.equal(192);
  });

  it('embeds structs at their alignment', () => {
    expect(Outer.off.inner * 4 % 64).to.equal(0);
    expect(Outer.addrOf(1024, 'inner')).to.equal(1024 + 64);
    expect(Outer.bytes % 64).to.equal(0);
  });

  it('rejects bad array lengths with the field named', () => {
    expect(() => defineStruct('bad', { q: { i32: 0 } })).to.throw(/field q has a bad array length 0/);
  });
});

describe('shm: arena', () => {
  const plan = () => new ArenaPlan().pool('smalls', Small, 10).pool('lined', Lined, 3).bytes('pages', 8192);

  it('creates, attaches and addresses pools without call-site arithmetic', () => {
    const a = Arena.create(plan());
    const b = Arena.attach(a.sab, plan());
    const p = b.pool('smalls', Small);
    expect(p.count).to.equal(10);
    expect(p.addr(3) - p.addr(2)).to.equal(Small.bytes);
    expect(p.index(p.addr(7))).to.equal(7);
    expect(b.pool('lined', Lined).addr(0) % 64).to.equal(0);
    expect(b.region('pages').offset % 4096).to.equal(0);
    const v = b.view(Small);
    v.store(p.addr(4), 'a', 42);
    v.add64(p.addr(4), 'b', 2 ** 40);
    v.add64(p.addr(4), 'b', 5);
    expect(a.view(Small).load(p.addr(4), 'a')).to.equal(42);
    expect(a.view(Small).load64(p.addr(4), 'b')).to.equal(2 ** 40 + 5);
    expect(() => p.addr(10)).to.throw(/pool smalls: index 10 out of range/);
  });

  it('reads and writes a 64-bit field plainly as its lo/hi words, the same value load64 sees', () => {
    const a = Arena.create(plan());
    const p = a.pool('smalls', Small);
    const v = a.view(Small);
    for (const x of [0, 5, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 7, 2 ** 53 - 1, -1, -(2 ** 33) - 3]) {
      v.set64(p.addr(1), 'b', x);
      expect(v.get64(p.addr(1), 'b')).to.equal(x);
      expect(v.load64(p.addr(1), 'b')).to.equal(x);
    }
    v.store64(p.addr(2), 'b', 2 ** 45 + 9);
    expect(v.get64(p.addr(2), 'b')).to.equal(2 ** 45 + 9);
  });

  it('exchanges an array element and waits asynchronously on a bound field', async () => {
    const a = Arena.create(plan());
    const p = a.pool('smalls', Small);
    const v = a.view(Small);
    v.storeAt(p.addr(3), 'c', 2, 7);
    expect(v.exchangeAt(p.addr(3), 'c', 2, 9)).to.equal(7);
    expect(v.loadAt(p.addr(3), 'c', 2)).to.equal(9);
    expect(v.loadAt(p.addr(3), 'c', 1)).to.equal(0);
    const f = v.field('a');
    expect(f.waitAsync(p.addr(3), 1, 10)).to.deep.equal({ async: false, value: 'not-equal' });
    const w = f.waitAsync(p.addr(3), 0, 5000);
    expect(w.async).to.equal(true);
    f.store(p.addr(3), 1);
    expect(f.notify(p.addr(3))).to.equal(1);
    expect(await w.value).to.equal('ok');
  });

  it('rejects a wrong or short arena with a clear error', () => {
    const a = Arena.create(plan());
    expect(() => Arena.attach(new ArrayBuffer(64), plan())).to.throw(/not shared/);
    expect(() => Arena.attach(new SharedArrayBuffer(16), plan())).to.throw(/too short to hold a header/);
    expect(() => Arena.attach(new SharedArrayBuffer(4096), plan())).to.throw(/bad magic 0x0, not a kiolab arena/);
    const other = new ArenaPlan().pool('smalls', Small, 10).pool('lined', Lined, 3).bytes('pages', 16384);
    expect(() => Arena.attach(a.sab, other)).to.throw(/header says \d+ bytes but the configuration needs \d+/);
    const moreSmalls = new ArenaPlan().pool('smalls', Small, 11).pool('lined', Lined, 3).bytes('pages', 8192);
    expect(() => Arena.attach(a.sab, moreSmalls)).to.throw(/region smalls is at \d+ \(320 bytes\) but the configuration places it at \d+ \(352 bytes\)/);
    const short = new SharedArrayBuffer(a.size - 64);
    new Uint8Array(short).set(new Uint8Array(a.sab, 0, short.byteLength));
    expect(() => Arena.attach(short, plan())).to.throw(/short buffer/);
    const reordered = new ArenaPlan().pool('lined', Lined, 3).pool('smalls', Small, 10).bytes('pages', 8192);
    expect(() => Arena.attach(a.sab, reordered)).to.throw(/region lined is at/);
    new Int32Array(a.sab)[1] = 99;
    expect(() => Arena.attach(a.sab, plan())).to.throw(/layout version 99/);
  });

  it('refuses a region declared twice and a pool of the wrong layout', () => {
    expect(() => plan().bytes('pages', 1)).to.throw(/declared twice/);
    const a = Arena.create(plan());
    expect(() => a.pool('smalls', Lined)).to.throw(/holds small, not lined/);
    expect(() => a.pool('nope', Small)).to.throw(/no region named nope/);
  });
});

describe('shm: bound 64-bit fields (field64)', () => {
  it('reads and writes a value past 2^32 as its lo/hi words, and binds only 64-bit fields', () => {
    const L = defineStruct('f64test', { a: 'i32', big: 'i64' });
    const arena = Arena.create(new ArenaPlan().pool('p', L, 2));
    const V = arena.view(L);
    const at = arena.pool('p', L).addr(1);
    const big = V.field64('big');
    big.set64(at, 2 ** 40 + 12345);
    expect(big.get64(at)).to.equal(2 ** 40 + 12345);
    expect(V.load64(at, 'big'), 'the same words as the view sees').to.equal(2 ** 40 + 12345);
    big.set64(at, 7);
    expect(big.get64(at)).to.equal(7);
    expect(() => V.field64('a')).to.throw(TypeError, /not 64-bit/);
    expect(() => V.field('big')).to.throw(TypeError, /64-bit/);
  });
});
