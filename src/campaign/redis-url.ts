/**
 * The queue's address: `redis://[[user]:password@]host[:port][/db]` or `rediss://...` (TLS).
 * A password may also come from `KIOLAB_REDIS_PASSWORD` (so that it is not on a command line
 * others can read with ps). The password is never printed, logged or stored: every message
 * uses the masked form (`redis://:***@host:6379/0`), and `scrub` takes it out of any text
 * (a client library's error message, say) before it is shown.
 */
import { isIP } from 'node:net';

export interface RedisTarget {
  tls: boolean;
  host: string;
  port: number;
  db: number;
  username: string | null;
  password: string | null;
  /** The address with the password masked: safe to print. */
  masked: string;
}

const SAY = '(the value is not shown: it may hold a password)';

/** Parse a queue URL; `envPassword` fills the password the URL does not give. Throws a RangeError naming `opt`. */
export function parseRedisUrl(url: string, opt = '--queue', envPassword: string | undefined = process.env.KIOLAB_REDIS_PASSWORD): RedisTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new RangeError(`${opt}: expected redis://[user:password@]host[:port][/db] or rediss://... for TLS, got something that is not a URL ${SAY}`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new RangeError(`${opt}: expected a redis:// or rediss:// URL, got a ${u.protocol.replace(/:$/, '')}: URL`);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new RangeError(`${opt}: the URL names no host`);
  const port = u.port === '' ? 6379 : Number(u.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`${opt}: bad port ${JSON.stringify(u.port)}`);
  const path = u.pathname.replace(/^\//, '');
  const db = path === '' ? 0 : Number(path);
  if (!/^\d*$/.test(path) || !Number.isInteger(db) || db < 0 || db > 1_000_000) throw new RangeError(`${opt}: the path must be a database number (/0, /1, ...), got ${JSON.stringify(`/${path}`)}`);
  if (u.search !== '' || u.hash !== '') throw new RangeError(`${opt}: the URL takes no query or fragment ${SAY}`);
  let username: string | null = null;
  let password: string | null = null;
  try {
    username = u.username === '' ? null : decodeURIComponent(u.username);
    password = u.password === '' ? null : decodeURIComponent(u.password);
  } catch {
    throw new RangeError(`${opt}: the URL's user or password is not valid percent-encoding ${SAY}`);
  }
  if (password === null && envPassword) password = envPassword;
  const tls = u.protocol === 'rediss:';
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const cred = username !== null || password !== null ? `${username ?? ''}${password !== null ? ':***' : ''}@` : '';
  return { tls, host, port, db, username, password, masked: `${u.protocol}//${cred}${hostPart}:${port}/${db}` };
}

/** The ioredis options of a target (TLS verifies the server's certificate against the system's and NODE_EXTRA_CA_CERTS). */
export function redisOptions(t: RedisTarget): {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls?: { servername?: string };
  maxRetriesPerRequest: null;
} {
  return {
    host: t.host,
    port: t.port,
    db: t.db,
    ...(t.username !== null ? { username: t.username } : {}),
    ...(t.password !== null ? { password: t.password } : {}),
    // The certificate is checked against the host; SNI names a host, never an address.
    ...(t.tls ? { tls: isIP(t.host) ? {} : { servername: t.host } } : {}),
    // BullMQ's workers wait on blocking commands; they must not give up after N retries.
    maxRetriesPerRequest: null,
  };
}

/** `text` with the target's password (as given, and percent-encoded) replaced by ***. */
export function scrub(text: string, t: Pick<RedisTarget, 'password'> | null): string {
  if (!t?.password) return text;
  let s = text;
  for (const p of new Set([t.password, encodeURIComponent(t.password)])) s = s.split(p).join('***');
  return s;
}
