import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { jwtFor, useServer } from '../support/server-fixture.js';
import { newUser } from '../support/store-fixture.js';

/** Onboarding over HTTP at its limits: what the store refuses is a 400 naming the field, and nothing changes. */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: onboarding sessions over HTTP, at the limits`, () => {
    const f = useServer(backend.name);

    it('PATCH cannot merge context or steps past 64 KiB; the session is unchanged', async () => {
      const token = await jwtFor(newUser('onb'));
      const started = await f.call('POST', '/v1/onboarding-sessions', { token, body: { flow: 'coach', phase: 'welcome' } });
      expect(started.status).toBe(201);
      const path = `/v1/onboarding-sessions/${started.body.session.id}`;
      const chunk = 'x'.repeat(40_000);
      expect((await f.call('PATCH', path, { token, body: { context: { a: chunk } } })).status).toBe(200);
      const refused = await f.call('PATCH', path, { token, body: { context: { b: chunk }, phase: 'later' } });
      expect([refused.status, refused.body.error.code, refused.body.error.details.field]).toEqual([400, 'CK_VALIDATION', 'context']);
      const read = await f.call('GET', path, { token });
      expect([read.body.phase, Object.keys(read.body.context)]).toEqual(['welcome', ['a']]);
    });

    it('JSON nested too deeply is a 400 naming the field; what is accepted can be read back', async () => {
      const token = await jwtFor(newUser('onb'));
      const nested = (depth: number) => `${'{"a":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`;
      for (const [field, value] of [
        ['context', nested(100_000)],
        ['context', nested(1001)],
        ['goals', `[${nested(1000)}]`],
      ] as const) {
        const refused = await f.call('POST', '/v1/onboarding-sessions', { token, body: `{"flow":"deep","phase":"p","${field}":${value}}` });
        expect([refused.status, refused.body.error.details.field, refused.body.error.message]).toEqual([400, field, `${field}: must be nested at most 1000 levels deep`]);
      }
      expect((await f.call('GET', '/v1/onboarding-sessions', { token })).body.sessions).toEqual([]);
      const accepted = await f.call('POST', '/v1/onboarding-sessions', { token, body: `{"flow":"deep","phase":"p","context":${nested(1000)}}` });
      expect(accepted.status).toBe(201);
      expect((await f.call('GET', '/v1/onboarding-sessions', { token })).body.sessions).toHaveLength(1);
    });
  });
}
