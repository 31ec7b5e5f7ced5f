import { sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  TaskStore,
  assertToolsRole,
  checkToolsRole,
  ensureToolsRole,
} from '../../src/mcp/index.js';
import { BACKENDS } from '../support/backends.js';
import { caught } from '../support/store-fixture.js';
import { HOST_SCHEMA, withDatabase, withStore } from './fixtures/todo-location.js';
import { useMcpSession } from './fixtures/use-mcp-session.js';

/**
 * The database half of R-SEC-2: the tools' role has its grants on the host's
 * task tables and nothing in chatkeep's schema, so even SQL the tools never
 * meant to send is refused with "permission denied". In code, TaskStore has
 * task methods and nothing else.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: the task tools' database role`, () => {
    const fixture = useMcpSession(backend.name, 'http');

    it('is exactly as ensureToolsRole leaves it, and ensureToolsRole is idempotent', async () => {
      const { role } = fixture.location();
      await fixture.session().inspect(async ({ db }) => {
        await ensureToolsRole(db, { hostSchema: HOST_SCHEMA, role });
        await ensureToolsRole(db, { hostSchema: HOST_SCHEMA, role });
        expect(await checkToolsRole(db, { hostSchema: HOST_SCHEMA, role })).toEqual([]);
      });
    });

    it('gets "permission denied" for chatkeep’s tables and the host’s users, inside a transaction switched to it', async () => {
      const { role } = fixture.location();
      await fixture.session().inspect(async (database) => {
        await withStore(database, (store) =>
          store.conversations.create('alice', { title: 'private' }),
        );
        for (const statement of [
          'select content from chatkeep.messages',
          'select * from chatkeep.conversations',
          "insert into chatkeep.conversations (user_id) values ('alice')",
          'select * from todo.users',
          'select * from chatkeep.install',
        ]) {
          const error = await caught(() =>
            database.db.transaction().execute(async (trx) => {
              await sql`set local role ${sql.id(role)}`.execute(trx);
              await sql.raw(statement).execute(trx);
            }),
          );
          expect(error.code, statement).toBe('42501');
          expect(error.message, statement).toMatch(/permission denied/);
        }
      });
    });

    it('refuses to serve through a role that has been granted chat access', async () => {
      const { role } = fixture.location();
      await fixture.session().inspect(async ({ db }) => {
        await sql.raw(`grant usage on schema chatkeep to ${role}`).execute(db);
        await sql.raw(`grant select on chatkeep.messages to ${role}`).execute(db);
        const problems = await checkToolsRole(db, { hostSchema: HOST_SCHEMA, role });
        expect(problems.join('\n')).toMatch(/privileges on chatkeep's schema/);
        expect(problems.join('\n')).toMatch(/1 table\(s\) in "chatkeep"/);
        expect(
          (await caught(() => assertToolsRole(db, { hostSchema: HOST_SCHEMA, role }))).code,
        ).toBe('CK_CONFIG');
        // Refreshing the role takes the grants back.
        await ensureToolsRole(db, { hostSchema: HOST_SCHEMA, role });
        expect(await checkToolsRole(db, { hostSchema: HOST_SCHEMA, role })).toEqual([]);
      });
    });

    it('TaskStore has task methods only: no chat method, no store', () => {
      expect(Object.getOwnPropertyNames(TaskStore.prototype).sort()).toEqual([
        'add',
        'complete',
        'constructor',
        'delete',
        'list',
        'listPage',
        'update',
      ]);
    });

    it('TaskStore names the field of bad input when called directly, and writes nothing', async () => {
      const { role } = fixture.location();
      await fixture.session().inspect(async ({ db }) => {
        const tasks = new TaskStore(db, { hostSchema: HOST_SCHEMA, role });
        const error = await caught(() => tasks.add('alice', { title: '' }));
        expect({ code: error.code, field: error.details?.['field'] }).toEqual({
          code: 'CK_VALIDATION',
          field: 'title',
        });
        const stranger = await caught(() => tasks.add('not-a-host-user', { title: 'x' }));
        expect(stranger.code).toBe('CK_FORBIDDEN');
      });
    });

    it.skipIf(backend.name !== 'postgres')(
      'PostgreSQL: logged in as the role itself, chat tables are "permission denied"',
      async () => {
        const { role, url } = fixture.location();
        const password = `pw-${Math.random().toString(36).slice(2)}-long-enough`;
        await withDatabase(fixture.location(), (database) =>
          ensureToolsRole(database.db, { hostSchema: HOST_SCHEMA, role, password }),
        );
        const asRole = new URL(url ?? '');
        asRole.username = role;
        asRole.password = password;
        const client = new pg.Client({ connectionString: asRole.toString() });
        await client.connect();
        try {
          expect((await client.query('select current_user as me')).rows[0]).toEqual({ me: role });
          for (const statement of [
            'select * from chatkeep.messages',
            'select * from chatkeep.conversations',
            'select * from todo.users',
          ]) {
            const error = await caught(() => client.query(statement));
            expect(error.code, statement).toBe('42501');
          }
          await expect(client.query('select count(*) from todo.tasks')).resolves.toBeDefined();
          // The role cannot take a privileged role back: it is a member of none.
          expect((await caught(() => client.query('set role postgres'))).code).toBe('42501');
        } finally {
          await client.end();
        }
      },
    );
  });
}
