import { describe, expect, it } from 'vitest';
import { addressKey } from '../../src/server/auth-failure-limiter.js';
import { BACKENDS } from '../support/backends.js';
import { jwtFor, useServer } from '../support/server-fixture.js';
import { newUser } from '../support/store-fixture.js';

/**
 * Some reverse proxies write the client's address into X-Forwarded-For with
 * the client's source port (Azure Application Gateway: `203.0.113.7:51234`,
 * `[2001:db8::1]:51234`). Fastify's trustProxy takes that entry verbatim as
 * `request.ip`, so a failed-authentication count keyed by it started afresh
 * for every new connection: behind such a proxy the limit of docs/http.md
 * ("Failed authentication") never refused anyone. The client is the address,
 * not the address and port.
 */

/** A key of the right shape (so it is looked up) that chatkeep never issued. */
const badKey = (n: number) => `ck_0123abcd_${String(n).padStart(43, 'A')}`;

describe('addressKey with a port, as some proxies forward it', () => {
  it('is the key of the address alone', () => {
    expect(addressKey('203.0.113.7:51234')).toBe(addressKey('203.0.113.7'));
    expect(addressKey('[2001:db8::1]:443')).toBe(addressKey('2001:db8::1'));
    expect(addressKey('[2001:db8::1]')).toBe(addressKey('2001:db8::1'));
    expect(addressKey('[::ffff:203.0.113.7]:80')).toBe(addressKey('::ffff:203.0.113.7'));
  });
});

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: failed-authentication limit behind a proxy that forwards ports`, () => {
    const f = useServer(backend.name, { trustProxy: ['loopback'], authFailureLimit: { max: 3, windowMs: 60_000 } });

    it('three bad tokens from 203.0.113.7 on three connections refuse that address, whatever its next port', async () => {
      for (let i = 0; i < 3; i++) {
        const reply = await f.call('GET', '/v1/me', { token: badKey(i), headers: { 'x-forwarded-for': `203.0.113.7:${50_000 + i}` } });
        expect(reply.status).toBe(401);
      }
      const token = await jwtFor(newUser());
      const refused = await f.call('GET', '/v1/me', { token, headers: { 'x-forwarded-for': '203.0.113.7:50100' } });
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
      expect((await f.call('GET', '/v1/me', { token: badKey(9), headers: { 'x-forwarded-for': '203.0.113.7' } })).status).toBe(429);
      // Another client behind the same proxy is not refused.
      expect((await f.call('GET', '/v1/me', { token, headers: { 'x-forwarded-for': '203.0.113.8:50000' } })).status).toBe(200);
    });
  });
}
