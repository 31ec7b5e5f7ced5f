import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { Migrator, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

/**
 * A migration's error goes to logs, to `onEvent` and to the migration log
 * table, which nothing erases. PostgreSQL's data errors (SQLSTATE class 22)
 * quote the value that failed — a row's content, such as a user's email —
 * so that value is cut out of the message; names (columns, constraints),
 * which other classes quote, are kept.
 */
const SECRET = 'alice@example.com';

const rows: Migration = {
  version: 1,
  name: 'rows',
  up: ({ schema: s }) => [`create table ${s}.contacts (id int primary key, phone text)`, `insert into ${s}.contacts values (1, '12345'), (2, '${SECRET}')`],
  down: ({ schema: s }) => [`drop table ${s}.contacts`],
};

const toInteger: Migration = {
  version: 2,
  name: 'phone-to-integer',
  up: ({ schema: s }) => [`alter table ${s}.contacts alter column phone type integer using phone::integer`],
  down: ({ schema: s }) => [`alter table ${s}.contacts alter column phone type text`],
};

/** The same failure in a non-transactional migration, reported by the phased runner. */
const toIntegerOutside: Migration = {
  version: 2,
  name: 'phone-number-outside',
  transactional: false,
  up: ({ schema: s }) => [`alter table ${s}.contacts add column if not exists n integer`, `update ${s}.contacts set n = phone::integer`],
  down: ({ schema: s }) => [`alter table ${s}.contacts drop column if exists n`],
};

const uniquePhone: Migration = {
  version: 2,
  name: 'unique-phone',
  up: ({ schema: s }) => [`update ${s}.contacts set phone = '${SECRET}'`, `alter table ${s}.contacts add constraint contacts_phone_key unique (phone)`],
  down: ({ schema: s }) => [`alter table ${s}.contacts drop constraint contacts_phone_key`],
};

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: a failed migration's message holds no row value`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    async function failWith(schema: string, second: Migration) {
      const db = scratch.database.db;
      const messages: string[] = [];
      const migrator = new Migrator({ db, schema, migrations: [rows, second], onEvent: (e) => e.error !== undefined && messages.push(e.error.message) });
      const result = await migrator.up();
      const logged = await sql<{ error: string | null }>`select error from ${sql.id(schema, 'schema_migrations_log')} where outcome = 'failed'`.execute(db);
      return { error: result.error, messages, logged: logged.rows.map((r) => r.error ?? '') };
    }

    it.each([
      ['in one transaction', 'fv_tx', toInteger, 'at statement 1 of 1'],
      ['in a phase of a non-transactional migration', 'fv_phased', toIntegerOutside, 'at statement 2 of 2'],
    ] as const)('%s: the value a cast refused (22P02) is cut out of the error, the events and the log table', async (_where, schema, second, where) => {
      const { error, messages, logged } = await failWith(schema, second);
      expect(error?.code).toBe('CK_MIGRATION_FAILED');
      expect(error?.details).toMatchObject({ sqlState: '22P02' });
      expect(error?.message).toContain(where);
      expect(error?.message).toContain('invalid input syntax for type integer: "…"');
      expect(logged.length).toBeGreaterThan(0);
      for (const text of [error!.message, ...messages, ...logged]) expect(text).not.toContain(SECRET);
    });

    it('a constraint violation (class 23) keeps the names it quotes; its DETAIL, which holds the values, was never copied', async () => {
      const { error, logged } = await failWith('fv_unique', uniquePhone);
      expect(error?.details).toMatchObject({ sqlState: '23505' });
      expect(error?.message).toContain('"contacts_phone_key"');
      for (const text of [error!.message, ...logged]) expect(text).not.toContain(SECRET);
    });
  });
}
