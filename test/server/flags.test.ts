import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { ADMIN_TOKEN, jwtFor, useServer, type ServerFixture } from '../support/server-fixture.js';
import { newUser } from '../support/store-fixture.js';

/**
 * Issue 4: feature flags over HTTP — every user reads their own evaluations,
 * admins (and only admins) define, roll out, override and delete flags.
 */

type Reply = Awaited<ReturnType<ServerFixture['call']>>;

function ok(reply: Reply, status = 200): any {
  expect({ status: reply.status, body: reply.body }).toMatchObject({ status });
  return reply.body;
}

let counter = 0;
const newFlag = (prefix = 'http') => `${prefix}-${process.pid}-${++counter}`;

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: feature flags over HTTP`, () => {
    const f = useServer(backend.name);
    const admin = (method: string, path: string, body?: unknown) =>
      f.call(method, path, { token: ADMIN_TOKEN, ...(body !== undefined ? { body } : {}) });

    it('GET /v1/me/flags answers per user: at 50 % one user is in and another out; an override flips one', async () => {
      const name = newFlag('half');
      expect(
        ok(
          await admin('PUT', `/v1/admin/flags/${name}`, { enabled: true, rolloutPercent: 50 }),
          201,
        ),
      ).toMatchObject({
        name,
        enabled: true,
        rolloutPercent: 50,
        salt: name,
      });
      const flags = f.store().flags;
      const candidates = Array.from({ length: 50 }, () => newUser('flags'));
      const verdicts = await Promise.all(candidates.map((u) => flags.isEnabled(u, name)));
      const inside = candidates[verdicts.indexOf(true)]!;
      const outside = candidates[verdicts.indexOf(false)]!;

      const read = async (user: string) =>
        ok(await f.call('GET', '/v1/me/flags', { token: await jwtFor(user) })).flags;
      expect((await read(inside))[name]).toBe(true);
      expect((await read(outside))[name]).toBe(false);

      ok(await admin('PUT', `/v1/admin/flags/${name}/overrides/${outside}`, { enabled: true }));
      expect((await read(outside))[name]).toBe(true);
      expect(
        ok(await admin('DELETE', `/v1/admin/flags/${name}/overrides/${outside}`), 204),
      ).toBeUndefined();
      expect((await read(outside))[name]).toBe(false);

      ok(await admin('PUT', `/v1/admin/flags/${name}`, { enabled: false }));
      expect((await read(inside))[name]).toBe(false);
    });

    it('PUT creates (201) then updates (200) only the given fields; GET lists; DELETE removes (then 404)', async () => {
      const name = newFlag('crud');
      ok(await admin('PUT', `/v1/admin/flags/${name}`, { description: 'v2 reader' }), 201);
      const updated = ok(await admin('PUT', `/v1/admin/flags/${name}`, { rolloutPercent: 12.5 }));
      expect(updated).toMatchObject({
        name,
        description: 'v2 reader',
        enabled: false,
        rolloutPercent: 12.5,
      });
      const listed = ok(await admin('GET', '/v1/admin/flags')).flags as { name: string }[];
      expect(listed.find((flag) => flag.name === name)).toEqual(updated);
      ok(await admin('DELETE', `/v1/admin/flags/${name}`), 204);
      expect(ok(await admin('DELETE', `/v1/admin/flags/${name}`), 404).error.code).toBe(
        'CK_NOT_FOUND',
      );
      expect(
        ok(await admin('PUT', `/v1/admin/flags/${name}/overrides/someone`, { enabled: true }), 404)
          .error.code,
      ).toBe('CK_NOT_FOUND');
    });

    it('bad input is 400 naming the field, and nothing is written', async () => {
      const name = newFlag('bad');
      for (const [path, body, field] of [
        [`/v1/admin/flags/${name}`, { rolloutPercent: 150 }, 'rolloutPercent'],
        [`/v1/admin/flags/${name}`, { rolloutPercent: 33.333 }, 'rolloutPercent'],
        [`/v1/admin/flags/${name}`, { enabled: 'yes' }, 'enabled'],
        ['/v1/admin/flags/Bad_Name', {}, 'name'],
      ] as const) {
        const error = ok(await admin('PUT', path, body), 400).error;
        expect([error.code, error.details.field]).toEqual(['CK_VALIDATION', field]);
      }
      ok(await admin('PUT', `/v1/admin/flags/${name}x`, {}), 201);
      const error = ok(
        await admin('PUT', `/v1/admin/flags/${name}x/overrides/has%20space`, { enabled: true }),
        400,
      ).error;
      expect(error.details.field).toBe('userId');
      const names = (ok(await admin('GET', '/v1/admin/flags')).flags as { name: string }[]).map(
        (flag) => flag.name,
      );
      expect(names).not.toContain(name);
    });

    it('admin routes refuse no token and a user token (401), and change nothing', async () => {
      const name = newFlag('guarded');
      const userToken = await jwtFor(newUser('not-admin'));
      const routes: [string, string, unknown?][] = [
        ['GET', '/v1/admin/flags'],
        ['PUT', `/v1/admin/flags/${name}`, { enabled: true, rolloutPercent: 100 }],
        ['DELETE', `/v1/admin/flags/${name}`],
        ['PUT', `/v1/admin/flags/${name}/overrides/someone`, { enabled: true }],
        ['DELETE', `/v1/admin/flags/${name}/overrides/someone`],
      ];
      for (const [method, path, body] of routes) {
        for (const token of [undefined, userToken]) {
          const reply = await f.call(method, path, {
            ...(token !== undefined ? { token } : {}),
            ...(body !== undefined ? { body } : {}),
          });
          expect([method, path, reply.status, reply.body.error.code]).toEqual([
            method,
            path,
            401,
            'CK_UNAUTHENTICATED',
          ]);
        }
      }
      expect((await f.store().flags.list()).map((flag) => flag.name)).not.toContain(name);
      // And the user route needs a user, not the admin token.
      expect((await f.call('GET', '/v1/me/flags', { token: ADMIN_TOKEN })).status).toBe(401);
    });
  });
}
