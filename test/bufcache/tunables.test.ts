import { expect } from 'chai';
import { MAXBSIZE, NBUFCALCSIZE, bufinitTunables, resolveBufCache } from '../../src/bufcache/tunables.js';
import { sysctlTunables } from '../../src/bufcache/sysctl.js';

describe('bufcache: the tunables bufinit derives from nbuf', () => {
  it('matches the reference arithmetic for several nbuf values', () => {
    // nbuf 64: maxbufspace 1 MiB; hibufspace = max(768K, 1M - 640K) = 768K; lobufspace = 7/8 → 672K,
    // capped at hibufspace - MAXBSIZE = 704K (not binding); hidirty = 384K; hirunning floors at 1 MiB.
    expect(bufinitTunables(64)).to.deep.include({
      maxbufspace: 1048576, hibufspace: 786432, lobufspace: 688128, hidirtybufspace: 393216,
      lodirtybufspace: 196608, hirunningspace: 1048576, lorunningspace: 524288, flushperqueue: 1024,
    });
    // nbuf 1024: maxbufspace 16 MiB; hibufspace = max(12M, 16M - 640K) = 16M - 640K.
    const t1k = bufinitTunables(1024);
    expect(t1k.maxbufspace).to.equal(1024 * NBUFCALCSIZE);
    expect(t1k.hibufspace).to.equal(16777216 - 10 * MAXBSIZE);
    expect(t1k.lobufspace).to.equal(Math.trunc((t1k.hibufspace * 7) / 8));
    expect(t1k.hidirtybufspace).to.equal(Math.trunc(t1k.hibufspace / 2));
    expect(t1k.hirunningspace).to.equal(1048576); // 16M/16 = 1,007,616 → floored to 1 MiB
    // nbuf 65536: lobufspace is hibufspace - 64 MiB (the 7/8 gap would exceed 64 MiB).
    const t64k = bufinitTunables(65536);
    expect(t64k.hibufspace).to.equal(65536 * 16384 - 655360);
    expect(t64k.lobufspace).to.equal(t64k.hibufspace - 64 * 1024 * 1024);
    expect(t64k.hirunningspace).to.equal(Math.trunc(t64k.hibufspace / 16));
    expect(t64k.lodirtybufspace).to.equal(Math.trunc(t64k.hidirtybufspace / 2));
    // nbuf 16: the MAXBSIZE cap on lobufspace binds.
    const t16 = bufinitTunables(16);
    expect(t16.hibufspace).to.equal(196608);
    expect(t16.lobufspace).to.equal(196608 - 65536);
  });

  it('names them as sysctl vfs does', () => {
    const s = sysctlTunables(1024);
    expect(s['vfs.nbuf']).to.equal(1024);
    expect(s['vfs.hidirtybufspace']).to.equal(bufinitTunables(1024).hidirtybufspace);
    for (const k of ['vfs.maxbufspace', 'vfs.hibufspace', 'vfs.lobufspace', 'vfs.lodirtybufspace', 'vfs.hirunningspace', 'vfs.lorunningspace', 'vfs.flushperqueue']) {
      expect(s).to.have.property(k);
    }
  });

  it('validates the spec with messages naming the option and value', () => {
    expect(() => resolveBufCache({ nbuf: 3 }, 4096, 4096)).to.throw(/nbuf must be an integer in \[16, 16384\], got 3/);
    expect(() => resolveBufCache({ nbuf: 64, bsize: 1000 }, 4096, 4096)).to.throw(/bsize must be a multiple/);
    expect(() => resolveBufCache({ nbuf: 64, files: 4, fileBlocks: 10_000 }, 4096, 4096)).to.throw(/must fit on the device/);
    expect(() => resolveBufCache({ nbuf: 64, sysctl: { nbuf: 5 } as never }, 4096, 4096)).to.throw(/sysctl\.nbuf is not a writable vfs sysctl/);
    expect(resolveBufCache({ nbuf: 64, sysctl: { hirunningspace: 65536 } }, 4096, 4096).tunables.hirunningspace).to.equal(65536);
  });
});
