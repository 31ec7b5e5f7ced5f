import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/index.js';
import { openStore, type Store } from '../../src/index.js';
import { createPgDatabase, PG_AVAILABLE, PG_ADMIN_URL } from '../support/backends.js';
import { newUser } from '../support/store-fixture.js';

/**
 * On PostgreSQL the store's hot statements (append a turn, a page of
 * history) go out as named prepared statements (`Database.hot`): parsed and
 * planned once per pooled connection, then only bound and executed. That is
 * ~0.15 ms per history read and +27 % append throughput at concurrency 8 in
 * the benchmark (bench/README.md). Speed itself is measured there; this
 * proves the mechanism, which no result of a call would reveal if it broke:
 * on a one-connection pool, the server's own list of that session's
 * prepared statements holds them, named after their text, once each.
 */
if (!PG_AVAILABLE) console.warn(`[chatkeep tests] SKIPPING hot-statement cases: no PostgreSQL answers at ${PG_ADMIN_URL}`);

describe.skipIf(!PG_AVAILABLE)('postgres: hot statements are prepared once per connection', () => {
  let drop: () => Promise<void>;
  let database: Database;
  let store: Store;

  beforeAll(async () => {
    const created = await createPgDatabase();
    drop = created.drop;
    // One connection, so the catalog query below runs in the session that prepared them.
    database = await openDatabase({ url: created.url, poolSize: 1 });
    store = await openStore({ database });
  });
  afterAll(async () => {
    await store?.close();
    await database?.close();
    await drop?.();
  });

  const prepared = async () =>
    (await sql<{ name: string; statement: string }>`select name, statement from pg_prepared_statements order by name`.execute(database.db)).rows;

  it('appending turns and reading pages prepares each statement once, named after its text, and reuses it', async () => {
    const user = newUser('hot');
    const { id } = await store.conversations.create(user, { title: 'hot' });
    const work = async () => {
      for (let i = 0; i < 3; i++) await store.turns.append(user, id, { user: `q${i}`, assistant: `a${i}` });
      const latest = await store.messages.list(user, id, { limit: 2 });
      const older = await store.messages.list(user, id, { limit: 2, before: latest.olderCursor! });
      await store.messages.list(user, id, { limit: 2, after: older.newerCursor! });
      return latest;
    };

    const latest = await work();
    expect(latest.messages.map((m) => m.content)).toEqual(['q2', 'a2']);
    const first = (await prepared()).filter((p) => p.name.startsWith('ck_'));
    const appends = first.filter((p) => p.statement.includes('.append_turn('));
    const pages = first.filter((p) => /from "?chatkeep"?\.messages/.test(p.statement) && p.statement.includes('order by seq'));
    expect(appends).toHaveLength(1);
    // latest, before a cursor, after a cursor
    expect(pages).toHaveLength(3);
    for (const p of first) expect(p.name).toMatch(/^ck_[0-9a-f]{24}$/);

    // The same work again sends the same names: nothing new is prepared.
    await work();
    expect((await prepared()).filter((p) => p.name.startsWith('ck_'))).toEqual(first);
  });
});
