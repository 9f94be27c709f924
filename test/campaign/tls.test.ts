/**
 * rediss://: a campaign through a Redis that speaks only TLS (a throwaway CA and server
 * certificate made with openssl, trusted by the kiolab processes through NODE_EXTRA_CA_CERTS),
 * with a password; a server whose certificate is not trusted is refused in one line.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CampaignReport } from '../../src/campaign/report.js';
import { CLI, kiolab } from './helpers.js';
import { HAVE_REDIS, REQUIRED, SKIP_WHY, type TestRedis, startRedis } from './redis-helper.js';

const HAVE_OPENSSL = spawnSync('openssl', ['version'], { encoding: 'utf8' }).status === 0;
const PASSWORD = 'tls-S3cret';

/** A CA and a server certificate for 127.0.0.1 (EC P-256, valid two days). */
function makeCerts(dir: string): void {
  const ssl = (args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
  };
  ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=kiolab test CA']);
  ssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(join(dir, 'ext'), 'subjectAltName=IP:127.0.0.1\n');
  ssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext']);
}

const ok = (HAVE_REDIS && HAVE_OPENSSL) || REQUIRED;
(ok ? describe : describe.skip)(ok ? 'campaign: rediss:// (TLS)' : `campaign: rediss:// (TLS) — ${HAVE_REDIS ? 'SKIPPED: no openssl here' : SKIP_WHY}`, function () {
  this.timeout(60_000);
  let dir = '';
  let redis: TestRedis;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kiolab-campaign-tls-'));
    makeCerts(dir);
    redis = await startRedis({
      password: PASSWORD,
      scheme: 'rediss',
      extra: (port) => ['--port', '0', '--tls-port', String(port), '--tls-cert-file', join(dir, 'server.pem'), '--tls-key-file', join(dir, 'server.key'), '--tls-ca-cert-file', join(dir, 'ca.pem'), '--tls-auth-clients', 'no'],
      tls: { ca: readFileSync(join(dir, 'ca.pem')) },
    });
  });
  after(async () => {
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a campaign through TLS with a password; an untrusted server is refused', async () => {
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem') };
    writeFileSync(join(dir, 'one.json'), JSON.stringify({ name: 'tls', scenarios: [{ scenario: 'bc-history', switches: ['bc-history-no-recheck'] }], modes: ['explore'], seeds: [1], iterations: 20, replays: 0 }));
    const sub = await kiolab(['campaign', 'one.json', '--queue', redis.url, '--no-wait'], dir, env);
    expect(sub.code, sub.err).to.equal(0);
    expect(sub.err).to.contain(`at rediss://:***@127.0.0.1:${redis.port}/0`);
    const w = spawn(process.execPath, [CLI, 'campaign', 'worker', '--queue', redis.url, '--concurrency', '1'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    w.stdout.on('data', (d) => (log += d));
    w.stderr.on('data', (d) => (log += d));
    try {
      const coord = await kiolab(['campaign', 'one.json', '--queue', redis.url, '--out', 'out', '--json'], dir, env);
      expect(coord.code, `${coord.err}\n${log}`).to.equal(0);
      const rep = JSON.parse(coord.out) as CampaignReport;
      expect(rep.results.map((x) => [x.status, x.kind])).to.deep.equal([['detected', 'invariant']]);
    } finally {
      await new Promise((res) => {
        w.once('exit', res);
        w.kill('SIGTERM');
      });
    }
    expect(log).to.contain('done ').and.not.contain(PASSWORD);
    // Without the CA the server's certificate is not trusted: one line, exit 2, no password.
    const { NODE_EXTRA_CA_CERTS: _, ...noCa } = env;
    const bad = await kiolab(['campaign', 'report', '--queue', redis.url], dir, noCa);
    expect(bad.code).to.equal(2);
    expect(bad.err).to.match(/^kiolab: --queue: cannot use Redis at rediss:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0: .*certificate/);
    expect(bad.err).to.not.contain(PASSWORD);
  });
});
