/** `kiolab sysctl bootcache|bufcache|swap`: each subsystem's tunables as its kernel derives them, with the bench's limits. */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const kiolab = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('cli: help and lists tell the truth', () => {
  it('bugs --help prints its usage, not the list', () => {
    const r = kiolab('bugs', '--help');
    expect(r.status).to.equal(0);
    expect(r.stdout).to.match(/^Usage: kiolab bugs \[--verbose\] \[--json\]/);
    expect(r.stdout).to.not.contain('bc-drain-order');
  });

  it('list races shows every scenario kiolab race accepts, the synthetic ones marked', () => {
    const r = kiolab('list', 'races');
    expect(r.status).to.equal(0);
    for (const name of ['biowait', 'synthetic-deadlock', 'synthetic-lost-wakeup', 'torture-spin']) expect(r.stdout).to.match(new RegExp(`^ {2}${name} `, 'm'));
    expect(r.stdout).to.match(/synthetic-deadlock .*\(a test of the lab's detectors\)/);
  });
});

describe('cli: kiolab sysctl', () => {
  it('bufcache: the vfs.* tunables bufinit derives, with the bench limits on --nbuf', () => {
    const j = JSON.parse(kiolab('sysctl', 'bufcache', '--nbuf', '512', '--json').stdout) as Record<string, number>;
    expect(j['vfs.nbuf']).to.equal(512);
    expect(j['vfs.maxbufspace']).to.be.greaterThan(j['vfs.hibufspace']);
    for (const bad of ['8', '100000000', '-5']) {
      const r = kiolab('sysctl', 'bufcache', '--nbuf', bad);
      expect(r.status, bad).to.equal(2);
      expect(r.stderr).to.contain(`--nbuf: expected a whole number in [16, 16384], got "${bad}"`);
    }
  });

  it("bootcache: the kext's tunables and what it derives from mem_size", () => {
    const j = JSON.parse(kiolab('sysctl', 'bootcache', '--mem-mb', '128', '--json').stdout) as Record<string, number>;
    expect(j.mem_size).to.equal(128 * 1024 * 1024);
    expect(j['kiolab.bootcache.enabled'], 'below BC_minimum_mem_size').to.equal(0);
    expect(j['kiolab.bootcache.max_history_bytes']).to.equal(64 * 1024 * 1024);
    expect(j.BC_cache_timeout_ms).to.equal(120_000);
    expect(j.BC_chit_check_start).to.equal(500);
    expect(kiolab('sysctl', 'bootcache', '--mem-mb', '0').status).to.equal(2);
  });

  it("swap: the bench's devices as uvm_swap sizes them", () => {
    const j = JSON.parse(kiolab('sysctl', 'swap', '--json').stdout) as Record<string, number>;
    expect(j['/dev/wd0b.swd_npages']).to.equal(512);
    expect(j['/swapfile.swd_maxactive']).to.equal(8);
    expect(j['nfs:/swap.swd_maxactive'], 'a network file').to.equal(2);
    expect(j['kiolab.swap.pages_on_all_devices']).to.equal(512 + 256 + 256 + 128);
  });

  it('an unknown subsystem is one line and exit 2', () => {
    const r = kiolab('sysctl', 'nosuch');
    expect(r.status).to.equal(2);
    expect(r.stderr.trim()).to.match(/^kiolab: sysctl: unknown subsystem "nosuch"; one of: .*bootcache.*bufcache.*swap|^kiolab: sysctl: unknown subsystem "nosuch"; one of: /);
  });
});
