import { randomUUID } from 'node:crypto';
import { ConfigError } from '@ct/lib';
import { loadApiConfig, settingsFromConfig } from '@ct/api';
import { startTestApi, type TestApi } from '../api/harness';

/**
 * The client address behind a reverse proxy. The attack: a caller writes its own
 * X-Forwarded-For, a new made-up address on every request, to slip past the per-address rate
 * limit (password guessing) and to put any address it likes in the audit log. With a hop count
 * or the proxies' addresses, the address is the one the proxy appended; "true" is refused.
 */

/** What `ct serve api` makes of API_TRUST_PROXY, from the same environment it validates. */
function trustProxyFrom(value: string | undefined) {
  return settingsFromConfig(loadApiConfig({ ...process.env, API_TRUST_PROXY: value })).trustProxy;
}

/** An X-Forwarded-For as a single proxy forwards it: what the caller sent, then the caller's real address. */
const viaProxy = (spoofed: string, real: string) => ({ 'x-forwarded-for': `${spoofed}, ${real}` });
const randomAddress = () => `198.18.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}`;

describe('API_TRUST_PROXY', () => {
  it.each(['true', 'TRUE', 'false', 'yes', 'on', '0.0.0.0/0', '::/0', '10.0.0.0/33', 'proxy.internal', '1.2.3.4/8/9', '-1', '11', '*'])(
    'refuses %p at start, saying what to set',
    (value) => {
      let error: unknown;
      try {
        trustProxyFrom(value);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      expect(message).toContain('API_TRUST_PROXY');
      expect(message).toMatch(/number of reverse proxies in front of the API .* or their addresses\/subnets/);
    },
  );

  it('accepts a hop count or the proxies’ addresses and subnets; unset trusts no proxy', () => {
    expect(trustProxyFrom(undefined)).toBe(0);
    expect(trustProxyFrom('0')).toBe(0);
    expect(trustProxyFrom('1')).toBe(1);
    expect(trustProxyFrom('10.0.0.5, 172.18.0.0/16,fd00::/8')).toEqual(['10.0.0.5', '172.18.0.0/16', 'fd00::/8']);
    expect(trustProxyFrom('loopback,uniquelocal')).toEqual(['loopback', 'uniquelocal']);
  });
});

describe('a spoofed X-Forwarded-For, against the real API', () => {
  let base: TestApi;
  beforeAll(async () => {
    base = await startTestApi();
  });
  afterAll(() => base.close());

  /** An API configured as `ct serve api` would be with this API_TRUST_PROXY and 3 requests a minute per address. */
  const apiWith = (trustProxy: string) =>
    startTestApi({ db: base.db, settings: { trustProxy: trustProxyFrom(trustProxy), rateLimitPerIp: 3 } });

  const auditedAddress = async (api: TestApi, slug: string) =>
    (
      await api.pool.query<{ ip: string }>(
        "SELECT host(source_ip) AS ip FROM audit_logs WHERE action = 'client.create' AND details->>'slug' = $1",
        [slug],
      )
    ).rows.map((r) => r.ip);

  it('behind one proxy (API_TRUST_PROXY=1): password guesses each claiming a new address are limited all the same', async () => {
    const api = await apiWith('1');
    try {
      const guesses = [];
      for (let i = 0; i < 5; i++) {
        const res = await api.call('POST', '/api/auth/login', {
          key: null,
          body: { email: `guess${i}@agency.test`, password: `guess number ${i} ${randomUUID()}` },
          headers: viaProxy(randomAddress(), '203.0.113.7'),
        });
        guesses.push(res.status);
      }
      expect(guesses).toEqual([401, 401, 401, 429, 429]);
    } finally {
      await api.close();
    }
  });

  it.each(['1', '127.0.0.1', 'loopback'])(
    'behind one proxy (API_TRUST_PROXY=%s): the limiter and the audit row take the address the proxy appended',
    async (setting) => {
      const api = await apiWith(setting);
      try {
        // A new made-up address on each request: the fourth is limited all the same.
        const statuses = [];
        for (let i = 0; i < 5; i++)
          statuses.push((await api.call('GET', '/api/clients', { headers: viaProxy(randomAddress(), '203.0.113.7') })).status);
        expect(statuses).toEqual([200, 200, 200, 429, 429]);
        // Another real client behind the same proxy is not affected, and is the one audited.
        const slug = `addr-${setting.replace(/\W/g, '')}`.slice(0, 30);
        const created = await api.call('POST', '/api/clients', {
          body: { slug, name: 'Address test' },
          headers: viaProxy('6.6.6.6', '198.51.100.9'),
        });
        expect(created.status).toBe(201);
        expect(await auditedAddress(api, slug)).toEqual(['198.51.100.9']);
      } finally {
        await api.close();
      }
    },
  );

  it('with no proxy (API_TRUST_PROXY=0), or one that is not the peer, the header is ignored: the peer address counts', async () => {
    for (const setting of ['0', '10.9.9.9']) {
      const api = await apiWith(setting);
      try {
        const statuses = [];
        for (let i = 0; i < 4; i++) {
          statuses.push((await api.call('GET', '/api/clients', { headers: { 'x-forwarded-for': randomAddress() } })).status);
        }
        expect([setting, statuses]).toEqual([setting, [200, 200, 200, 429]]);
        const slug = `peer-${setting.replace(/\W/g, '')}`;
        const other = await startTestApi({ db: base.db, settings: { trustProxy: trustProxyFrom(setting) } });
        try {
          await other.call('POST', '/api/clients', { body: { slug, name: 'Peer test' }, headers: viaProxy('6.6.6.6', '203.0.113.7') });
        } finally {
          await other.close();
        }
        expect(await auditedAddress(api, slug)).toEqual(['127.0.0.1']);
      } finally {
        await api.close();
      }
    }
  });

  it('refuses a programmatic trustProxy of true too', async () => {
    await expect(startTestApi({ db: base.db, settings: { trustProxy: true as never } })).rejects.toThrow(/trustProxy must be a hop count/);
  });
});
