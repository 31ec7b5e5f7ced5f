import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type ChatkeepError } from '../../src/index.js';
import { adminQuery, createPgDatabase, PG_ADMIN_URL, PG_AVAILABLE } from '../support/backends.js';
import { newUser } from '../support/store-fixture.js';

/**
 * With `pooler: 'transaction'` chatkeep sets no session settings, so the
 * server's defaults must already be the ones it assumes (db/transaction-pooler.ts).
 * Each of the four is checked, not only the first: a database whose
 * IntervalStyle, standard_conforming_strings or default isolation was
 * changed is refused with CK_CONFIG naming that setting and the statement
 * that fixes it, and running that statement as printed is the fix.
 *
 * The check reads the defaults over the store's own connection, so it is
 * exercised here on PostgreSQL directly (a pooler in front changes nothing
 * about what `current_setting` returns; test/db/connection-pooler.test.ts
 * runs the DateStyle case through a real PgBouncer).
 */
if (!PG_AVAILABLE)
  console.warn(
    `[chatkeep tests] SKIPPING transaction-pooler default checks: no PostgreSQL answers at ${PG_ADMIN_URL}`,
  );


describe.skipIf(!PG_AVAILABLE)(
  "postgres: pooler: 'transaction' checks every server default chatkeep would otherwise set",
  () => {
    let database: { url: string; name: string; drop: () => Promise<void> };
    beforeAll(async () => {
      database = await createPgDatabase();
      // Migrated directly: a store declared behind a transaction pooler does not migrate.
      await (await openStore({ url: database.url })).close();
    });
    afterAll(async () => {
      await database?.drop();
    });

    it.each([
      ['IntervalStyle', 'iso_8601', 'postgres'],
      ['standard_conforming_strings', 'off', 'on'],
      ['default_transaction_isolation', 'serializable', 'read committed'],
    ] as const)(
      'a database whose %s defaults to %s is CK_CONFIG naming it; the printed ALTER DATABASE fixes it',
      async (setting, bad, good) => {
        await adminQuery(`alter database ${database.name} set ${setting} = '${bad}'`);
        const error = (await openStore({ url: database.url, pooler: 'transaction' }).catch(
          (e: unknown) => e,
        )) as ChatkeepError;
        expect(error).toBeInstanceOf(Error);
        expect([error.code, error.details['field'], error.details['setting']]).toEqual([
          'CK_CONFIG',
          'pooler',
          setting,
        ]);
        const fix = `ALTER DATABASE "${database.name}" SET ${setting} = '${good}'`;
        expect(error.message).toBe(
          `pooler: behind a transaction pooler chatkeep cannot set ${setting} on its sessions, and PostgreSQL at ${new URL(database.url).toString()} defaults to '${bad}'; set it for the database: ${fix}`,
        );
        await adminQuery(fix);
        const store = await openStore({ url: database.url, pooler: 'transaction' });
        await store.close();
      },
    );

    it('any ISO DateStyle is what chatkeep reads (ISO, DMY is accepted), and its timestamps come back right', async () => {
      await adminQuery(`alter database ${database.name} set datestyle = 'ISO, DMY'`);
      try {
        const store = await openStore({ url: database.url, pooler: 'transaction' });
        try {
          const user = newUser('iso-dmy');
          const before = Date.now();
          const { id } = await store.conversations.create(user, { title: 'day first' });
          await store.turns.append(user, id, { user: 'q', assistant: 'a' });
          const { messages } = await store.messages.list(user, id);
          for (const m of messages)
            expect(Math.abs(m.createdAt.getTime() - before)).toBeLessThan(60_000);
        } finally {
          await store.close();
        }
      } finally {
        await adminQuery(`alter database ${database.name} reset datestyle`);
      }
    });
  },
);
