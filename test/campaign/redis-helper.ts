/**
 * A real Redis for the campaign tests: Debian's `redis-server` on 127.0.0.1 at a free port, no
 * persistence, started as a child process and stopped after the tests. Where redis-server is
 * absent the Redis tests skip, saying why; CI (.ci/run installs it and sets
 * KIOLAB_REQUIRE_REDIS=1) fails them instead.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server';
export const REQUIRED = process.env.KIOLAB_REQUIRE_REDIS === '1';
export const HAVE_REDIS = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' }).status === 0;
export const SKIP_WHY = `SKIPPED: no ${REDIS_SERVER} here (apt-get install -y redis-server; CI requires it)`;

/** A free TCP port on 127.0.0.1 (the kernel's pick). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? res(a.port) : rej(new Error('no port'))));
    });
  });
}

export interface TestRedis {
  port: number;
  /** The URL of this server, with the password when it has one. */
  url: string;
  client(): Redis;
  stop(): Promise<void>;
}

/** Start a redis-server (with `requirepass` when `password` is given; `extra` args, e.g. TLS). Throws when it does not answer within 10 s. */
export async function startRedis(o: { password?: string; extra?: (port: number) => string[]; scheme?: string; tls?: object } = {}): Promise<TestRedis> {
  if (!HAVE_REDIS) throw new Error(`${REDIS_SERVER} is not installed (apt-get install -y redis-server)`);
  const port = await freePort();
  const args = o.extra ? o.extra(port) : ['--port', String(port)];
  const child: ChildProcess = spawn(REDIS_SERVER, [...args, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...(o.password ? ['--requirepass', o.password] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d) => (log = (log + d).slice(-4000)));
  child.stderr!.on('data', (d) => (log = (log + d).slice(-4000)));
  const client = () => new Redis({ host: '127.0.0.1', port, password: o.password, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null, ...(o.tls ? { tls: o.tls } : {}) });
  const t0 = Date.now();
  for (;;) {
    const c = client();
    c.on('error', () => {});
    try {
      await c.connect();
      await c.ping();
      c.disconnect();
      break;
    } catch {
      c.disconnect();
      if (child.exitCode !== null || Date.now() - t0 > 10_000) {
        child.kill('SIGKILL');
        throw new Error(`redis-server on port ${port} did not answer: ${log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const auth = o.password ? `:${encodeURIComponent(o.password)}@` : '';
  return {
    port,
    url: `${o.scheme ?? 'redis'}://${auth}127.0.0.1:${port}`,
    client,
    stop: () =>
      new Promise<void>((res) => {
        if (child.exitCode !== null) return res();
        child.once('exit', () => res());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
  };
}
