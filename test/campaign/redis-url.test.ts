/**
 * Queue URLs: redis:// and rediss:// (TLS), a password in the URL or in KIOLAB_REDIS_PASSWORD,
 * and the masked form every message uses: no password is ever in a message, even one about a
 * URL that does not parse.
 */
import { expect } from 'chai';
import { parseRedisUrl, redisOptions, scrub } from '../../src/campaign/redis-url.js';

const SECRET = 'pa:ss@w/rd%';
const enc = encodeURIComponent(SECRET);

describe('campaign: queue URLs and credentials', () => {
  it('parses redis:// with defaults and rediss:// with user, password and database', () => {
    const a = parseRedisUrl('redis://127.0.0.1', '--queue', undefined);
    expect(a).to.deep.equal({ tls: false, host: '127.0.0.1', port: 6379, db: 0, username: null, password: null, masked: 'redis://127.0.0.1:6379/0' });
    expect(redisOptions(a)).to.deep.equal({ host: '127.0.0.1', port: 6379, db: 0, maxRetriesPerRequest: null });
    const b = parseRedisUrl(`rediss://lab:${enc}@redis.example.org:6390/2`, '--queue', undefined);
    expect(b).to.deep.equal({ tls: true, host: 'redis.example.org', port: 6390, db: 2, username: 'lab', password: SECRET, masked: 'rediss://lab:***@redis.example.org:6390/2' });
    expect(redisOptions(b)).to.deep.equal({ host: 'redis.example.org', port: 6390, db: 2, username: 'lab', password: SECRET, tls: { servername: 'redis.example.org' }, maxRetriesPerRequest: null });
    // TLS to an address: the certificate is checked against it, no SNI name.
    expect(redisOptions(parseRedisUrl('rediss://[::1]:7000', '--queue', undefined))).to.deep.include({ host: '::1', port: 7000, tls: {} });
    expect(parseRedisUrl('rediss://[::1]:7000', '--queue', undefined).masked).to.equal('rediss://[::1]:7000/0');
  });

  it('takes the password from KIOLAB_REDIS_PASSWORD when the URL has none', () => {
    const t = parseRedisUrl('redis://10.0.0.5:6379', '--queue', SECRET);
    expect(t.password).to.equal(SECRET);
    expect(t.masked).to.equal('redis://:***@10.0.0.5:6379/0');
    expect(parseRedisUrl(`redis://:other@h`, '--queue', SECRET).password).to.equal('other');
  });

  it('no message about a bad URL shows its password', () => {
    for (const url of [`redis://:${enc}@host:99999`, `http://:${enc}@host`, `redis//:${enc}@host`, `redis://:${enc}@host/x`, `redis://:${enc}@host?tls=1`, `redis://:${enc}@/0`, `redis://:%E0%A4%A@host`]) {
      let msg = '';
      try {
        parseRedisUrl(url, '--queue', undefined);
      } catch (e) {
        msg = (e as Error).message;
      }
      expect(msg, url).to.match(/^--queue: /);
      expect(msg, url).to.not.contain(SECRET).and.not.contain(enc).and.not.contain('E0%A4');
    }
  });

  it('scrub takes the password, as given and percent-encoded, out of any text', () => {
    const t = parseRedisUrl(`redis://:${enc}@h:1`, '--queue', undefined);
    expect(scrub(`WRONGPASS for ${SECRET} at redis://:${enc}@h:1`, t)).to.equal('WRONGPASS for *** at redis://:***@h:1');
    expect(scrub('nothing to hide', null)).to.equal('nothing to hide');
  });
});
