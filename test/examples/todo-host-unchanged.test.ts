import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { todoMigrator } from '../../examples/todo/migrations/index.js';
import { seedTodo } from '../../examples/todo/seed.js';
import { fingerprint } from '../../src/migrate/index.js';
import { chatkeepMigrator, readInstalledSettings } from '../../src/schema/index.js';
import { openStore } from '../../src/store/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

const HOST = 'todo';

/** The host's schema objects, every row of every host table, and the host tables' privileges. */
async function hostState(db: Kysely<any>) {
  const { rows: tables } = await sql<{ name: string }>`
    select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${HOST} and c.relkind = 'r' order by 1`.execute(db);
  const rows: Record<string, string> = {};
  for (const { name } of tables) {
    const {
      rows: [row],
    } = await sql<{ n: string | number; sum: string | null }>`
      select count(*) as n, md5(string_agg(t::text, '|' order by t::text)) as sum from ${sql.id(HOST, name)} t`.execute(
      db,
    );
    rows[name] = `${row?.n}:${row?.sum ?? '-'}`;
  }
  const { rows: acl } = await sql<{ line: string }>`
    select c.relname || ' ' || coalesce(c.relacl::text, '-') as line from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${HOST} order by 1`.execute(db);
  return { fingerprint: (await fingerprint(db, [HOST])).hash, rows, acl: acl.map((a) => a.line) };
}

/**
 * Seed 002 SC-001 / FR-002: the Todo host app's tables and rows are exactly
 * the same after chatkeep's migrations run up beside them (with a real
 * foreign key to the host's users) and after they are reverted again.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(
    `${backend.name}: the Todo host app is unchanged by chatkeep's migrations`,
    () => {
      let scratch: ScratchDatabase;
      useScratchDatabase(backend.name, (s) => (scratch = s));

      it('schema fingerprint, rows and grants are identical before, after up and after down', async () => {
        const { db } = scratch.database;
        const { error } = await todoMigrator(db, { schema: HOST }).up();
        expect(error).toBeUndefined();
        await seedTodo(db, HOST);
        await sql`insert into todo.tasks (user_id, title, description, priority, due_date) values ('alice', 'Taxes', 'before April', 'high', '2026-04-15')`.execute(
          db,
        );
        const before = await hostState(db);
        expect(Object.keys(before.rows).sort()).toEqual([
          'categories',
          'schema_migrations',
          'schema_migrations_log',
          'tasks',
          'users',
        ]);

        const store = await openStore({
          database: scratch.database,
          users: { table: 'todo.users', column: 'id', type: 'text' },
          maxContentLength: 1000,
        });
        try {
          const conversation = await store.conversations.create('alice', { title: 'Plan my week' });
          await store.turns.append('alice', conversation.id, {
            user: 'Add a task to buy milk',
            assistant: 'Added "Buy milk".',
          });
        } finally {
          await store.close();
        }
        expect(await hostState(db)).toEqual(before);

        const settings = await readInstalledSettings(db, 'chatkeep');
        expect(settings?.users).toEqual({ table: 'todo.users', column: 'id', type: 'text' });
        const down = await chatkeepMigrator(db, { schema: 'chatkeep', settings: settings! }).down({
          to: 0,
        });
        expect(down.error).toBeUndefined();
        const { rows } = await sql<{
          n: number | string;
        }>`select count(*) as n from pg_namespace where nspname = 'chatkeep'`.execute(db);
        expect(Number(rows[0]?.n)).toBe(0);
        expect(await hostState(db)).toEqual(before);
      });
    },
  );
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: the Todo host's own migration`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    it('runs on chatkeep/migrate, and down is the exact inverse of up', async () => {
      const { db } = scratch.database;
      const empty = await fingerprint(db, [HOST]);
      const migrator = todoMigrator(db, { schema: HOST });
      expect((await migrator.up()).error).toBeUndefined();
      expect((await migrator.status()).pending).toEqual([]);
      expect(
        (await fingerprint(db, [HOST])).lines.filter((l) => l.startsWith('table ')).length,
      ).toBe(5);
      expect((await migrator.down({ to: 0 })).error).toBeUndefined();
      expect((await fingerprint(db, [HOST])).hash).toBe(empty.hash);
    });
  });
}
