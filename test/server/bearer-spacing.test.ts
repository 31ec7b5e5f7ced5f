import { describe, expect, it } from 'vitest';
import { bearerToken } from '../../src/mcp/index.js';
import { BACKENDS } from '../support/backends.js';
import { ADMIN_TOKEN, jwtFor, useServer } from '../support/server-fixture.js';
import { newUser } from '../support/store-fixture.js';

/**
 * RFC 9110 section 11.4: `credentials = auth-scheme [ 1*SP ( token68 / … ) ]`,
 * so `Bearer` may be followed by more than one space. The MCP front door
 * reads such a header (bearerToken, "scheme case-insensitive, RFC 9110");
 * the HTTP API refused it as a bad token, 401 — and counted it as a failed
 * authentication of the client's address, so a client that formats its
 * header that way was locked out with 429 after `--auth-failure-limit`
 * requests with a valid token.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: Authorization with more than one space after Bearer`, () => {
    const f = useServer(backend.name);

    it('a valid JWT, an admin token: accepted as with one space, as the MCP front door does', async () => {
      const user = newUser('spaced');
      const token = await jwtFor(user);
      expect(bearerToken(`Bearer  ${token}`)).toBe(token);
      const me = await f.call('GET', '/v1/me', { headers: { authorization: `Bearer  ${token}` } });
      expect(me.status).toBe(200);
      expect(me.body).toEqual({ userId: user, authMethod: 'jwt' });
      const admin = await f.call('GET', '/v1/admin/flags', { headers: { authorization: `bearer   ${ADMIN_TOKEN}` } });
      expect(admin.status).toBe(200);
    });
  });
}
