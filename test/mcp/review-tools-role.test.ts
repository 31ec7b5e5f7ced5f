import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { checkToolsRole, ensureToolsRole } from '../../src/mcp/index.js';
import { BACKENDS } from '../support/backends.js';
import { HOST_SCHEMA } from './fixtures/todo-location.js';
import { useMcpSession } from './fixtures/use-mcp-session.js';

/**
 * Ways the tools' role could come to read chat data that a check of today's
 * grants in chatkeep's schema does not see: a role attribute that lets it
 * grant itself another role, and default privileges that hand it the tables
 * a later migration creates.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: the tools role, beyond today's grants`, () => {
    const fixture = useMcpSession(backend.name, 'http');

    it('a role with CREATEROLE is refused: it could grant itself a role that reads chat data', async () => {
      const { role } = fixture.location();
      await fixture.session().inspect(async ({ db }) => {
        await sql.raw(`alter role ${role} createrole`).execute(db);
        try {
          const problems = await checkToolsRole(db, { hostSchema: HOST_SCHEMA, role });
          expect(problems.join('\n')).toMatch(/CREATEROLE/);
          // What the attribute allows up to PostgreSQL 15 (which may grant any
          // role but a superuser): one statement, and the role reads every table.
          const version = (await sql<{ v: string }>`select current_setting('server_version_num') as v`.execute(db)).rows[0]?.v;
          if (Number(version) < 160000) {
            const messages = await db.transaction().execute(async (trx) => {
              await sql`set local role ${sql.id(role)}`.execute(trx);
              await sql.raw(`grant pg_read_all_data to ${role}`).execute(trx);
              return (await sql<{ n: unknown }>`select count(*) as n from chatkeep.messages`.execute(trx)).rows.length;
            });
            expect(messages).toBe(1);
          }
        } finally {
          await sql.raw(`revoke pg_read_all_data from ${role}`).execute(db).catch(() => undefined);
          await sql.raw(`alter role ${role} nocreaterole`).execute(db);
        }
        expect(await checkToolsRole(db, { hostSchema: HOST_SCHEMA, role })).toEqual([]);
      });
    });

    // `mcp role` creates or refreshes the role: refreshing takes the attributes back, not only reports them.
    it('ensureToolsRole (chatkeep mcp role) takes CREATEROLE and REPLICATION from an existing role', async () => {
      const { role } = fixture.location();
      await fixture.session().inspect(async ({ db }) => {
        await sql.raw(`alter role ${role} createrole replication`).execute(db);
        try {
          expect((await checkToolsRole(db, { hostSchema: HOST_SCHEMA, role })).join('\n')).toMatch(/CREATEROLE[\s\S]*REPLICATION/);
          await ensureToolsRole(db, { hostSchema: HOST_SCHEMA, role });
          const { rows } = await sql<{ rolcreaterole: boolean; rolreplication: boolean }>`
            select rolcreaterole, rolreplication from pg_catalog.pg_roles where rolname = ${role}`.execute(db);
          expect(rows[0]).toEqual({ rolcreaterole: false, rolreplication: false });
          expect(await checkToolsRole(db, { hostSchema: HOST_SCHEMA, role })).toEqual([]);
        } finally {
          // Whatever happened above, the next case starts from the role ensureToolsRole makes.
          await sql.raw(`alter role ${role} nocreaterole noreplication`).execute(db);
        }
      });
    });

    it('default privileges that give it the tables chatkeep creates later are refused', async () => {
      const { role } = fixture.location();
      await fixture.session().inspect(async ({ db }) => {
        await sql.raw(`alter default privileges in schema chatkeep grant select on tables to ${role}`).execute(db);
        try {
          const problems = await checkToolsRole(db, { hostSchema: HOST_SCHEMA, role });
          expect(problems.join('\n')).toMatch(/default privileges/);
          // In the host schema they are the host's business, and harmless to chat data.
          await sql.raw(`alter default privileges in schema chatkeep revoke select on tables from ${role}`).execute(db);
          await sql.raw(`alter default privileges in schema ${HOST_SCHEMA} grant select on tables to ${role}`).execute(db);
          expect(await checkToolsRole(db, { hostSchema: HOST_SCHEMA, role })).toEqual([]);
        } finally {
          await sql.raw(`alter default privileges in schema chatkeep revoke all on tables from ${role}`).execute(db);
          await sql.raw(`alter default privileges in schema ${HOST_SCHEMA} revoke all on tables from ${role}`).execute(db);
        }
        await ensureToolsRole(db, { hostSchema: HOST_SCHEMA, role });
        expect(await checkToolsRole(db, { hostSchema: HOST_SCHEMA, role })).toEqual([]);
      });
    });
  });
}
