import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { CHATKEEP_MIGRATIONS } from '../../src/schema/index.js';
import { BACKENDS } from '../support/backends.js';
import { ADMIN_TOKEN, jwtFor, useServer } from '../support/server-fixture.js';

/** GET /v1/admin/migrations: chatkeep's schema status for an operator or a dashboard. */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: GET /v1/admin/migrations`, () => {
    const f = useServer(backend.name);

    it('lists every applied migration with its checksum and time, nothing pending, nothing in flight', async () => {
      const { status, body } = await f.call('GET', '/v1/admin/migrations', { token: ADMIN_TOKEN });
      expect(status).toBe(200);
      const latest = CHATKEEP_MIGRATIONS.at(-1)!.version;
      expect(body.current).toBe(latest);
      expect(body.applied.map((m: { version: number; name: string }) => [m.version, m.name])).toEqual(CHATKEEP_MIGRATIONS.map((m) => [m.version, m.name]));
      expect(body.applied.every((m: { checksum: string; appliedAt: string }) => /^[0-9a-f]{64}$/.test(m.checksum) && !Number.isNaN(Date.parse(m.appliedAt)))).toBe(true);
      expect([body.pending, body.inFlight, body.problems]).toEqual([[], [], []]);
    });

    it('reports a changed checksum as a problem instead of failing', async () => {
      const db = f.scratch().database.db;
      const before = await f.call('GET', '/v1/admin/migrations', { token: ADMIN_TOKEN });
      await sql`update chatkeep.schema_migrations set checksum = repeat('0', 64) where version = 1`.execute(db);
      try {
        const { status, body } = await f.call('GET', '/v1/admin/migrations', { token: ADMIN_TOKEN });
        expect(status).toBe(200);
        expect(body.problems.map((p: { code: string }) => p.code)).toEqual(['CK_MIGRATION_CHECKSUM']);
        expect(body.problems[0].message).toContain('Migration 1 conversations was edited');
      } finally {
        await sql`update chatkeep.schema_migrations set checksum = ${before.body.applied[0].checksum} where version = 1`.execute(db);
      }
    });

    it('is for the admin credential only: a user token is 401', async () => {
      expect((await f.call('GET', '/v1/admin/migrations', { token: await jwtFor('someone') })).status).toBe(401);
    });
  });
}
