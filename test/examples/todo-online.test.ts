import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { todoMigrator } from '../../examples/todo/migrations/index.js';
import { phase2View, type Phase2View } from '../../examples/todo/phase2-queries.js';
import { seedTodo } from '../../examples/todo/seed.js';
import { openStore } from '../../src/index.js';
import { fingerprint } from '../../src/migrate/index.js';
import {
  chatkeepMigrator,
  readInstalledSettings,
  resolveSchemaSettings,
} from '../../src/schema/index.js';
import { openAppDatabase } from '../support/app-database.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';
import { formatWriterReport, opsWithin, startSteadyLoop } from '../support/steady-writer.js';

const HOST = 'todo';
const USERS = 60;
/** The host writer works on the first half of the bulk users (and signs new ones up); the rest are never touched. */
const ACTIVE = 30;
const userId = (i: number) => `u${String(i).padStart(3, '0')}`;
const CHATKEEP_SETTINGS = {
  users: { table: 'todo.users', column: 'id', type: 'text' },
  maxContentLength: 1000,
} as const;

async function seedBulk(db: Kysely<any>): Promise<void> {
  await sql`insert into todo.users (id, email, name)
            select 'u' || lpad(g::text, 3, '0'), 'u' || g || '@example.com', 'User ' || g from generate_series(1, ${USERS}::int) g`.execute(
    db,
  );
  await sql`insert into todo.categories (user_id, name)
            select u.id, c.name from todo.users u, unnest(array['home', 'work', 'errands']) as c(name) where u.id like 'u%'`.execute(
    db,
  );
  await sql`insert into todo.tasks (user_id, title, completed, priority, due_date, category_id)
            select u.id, 'Task ' || g, g % 3 = 0, (array['low', 'medium', 'high'])[1 + g % 3],
                   case when g % 2 = 0 then date '2026-01-01' + (g % 60) end,
                   case when g % 5 = 0 then null else (select c.id from todo.categories c where c.user_id = u.id order by c.id offset g % 3 limit 1) end
              from todo.users u, generate_series(1, ${Math.ceil(2000 / USERS)}::int) g where u.id like 'u%'`.execute(
    db,
  );
  await sql`analyze todo.users, todo.categories, todo.tasks`.execute(db);
}

async function views(db: Kysely<any>, users: readonly string[]): Promise<Map<string, Phase2View>> {
  const out = new Map<string, Phase2View>();
  for (const user of users) out.set(user, await phase2View(db, HOST, user));
  return out;
}

async function allUsers(db: Kysely<any>): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`select id from todo.users order by id`.execute(db);
  return rows.map((r) => r.id);
}

/**
 * Seeds 002/003 (issue 4, scenario 2): chatkeep's chat tables are added
 * beside the Todo app's Phase 2 tables — with a real foreign key to its
 * users — while the app keeps signing users up and inserting, completing and
 * renaming tasks through plain SQL. The app sees zero errors, loses no
 * write, and every Phase 2 query returns the same results after chatkeep's
 * migrations, after reverting them, and after applying them again.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(
    `${backend.name}: Todo — chatkeep installed beside the Phase 2 tables, online`,
    () => {
      let scratch: ScratchDatabase;
      useScratchDatabase(backend.name, (s) => (scratch = s));

      it(
        'a host writer sees zero errors during chatkeep up; Phase 2 queries give the same results after',
        { timeout: 60_000 },
        async () => {
          const { db } = scratch.database;
          expect((await todoMigrator(db, { schema: HOST }).up()).error).toBeUndefined();
          await seedTodo(db, HOST);
          await seedBulk(db);
          const untouched = (await allUsers(db)).filter(
            (u) => !u.startsWith('u') || Number(u.slice(1)) > ACTIVE,
          );
          const before = await views(db, untouched);
          const hostShape = await fingerprint(db, [HOST]);

          // chatkeep's own migrations, judged against this populated host: nothing error-level.
          const lint = await chatkeepMigrator(db, {
            schema: 'chatkeep',
            settings: resolveSchemaSettings(CHATKEEP_SETTINGS),
          }).lint({ direction: 'up' });
          const errors = lint.flatMap((l) =>
            l.report.findings
              .filter((f) => f.severity === 'error')
              .map((f) => `${l.version} ${l.name}: ${f.rule} ${f.message}`),
          );
          expect(errors).toEqual([]);

          // The host app, on its own connections: the writer's model of every task it touched.
          const app = await openAppDatabase(scratch);
          const model = new Map<string, { user: string; title: string; completed: boolean }>();
          const host = startSteadyLoop(
            async (i) => {
              const user = userId(1 + (i % ACTIVE));
              if (i % 4 === 0) {
                const { rows } = await sql<{ id: string | number; title: string }>`
            insert into todo.tasks (user_id, title, priority, due_date, category_id)
            select ${user}, ${`New task ${i}`}, 'high', date '2026-02-01', c.id from todo.categories c where c.user_id = ${user} and c.name = 'work'
            returning id, title`.execute(app.db);
                model.set(String(rows[0]!.id), { user, title: rows[0]!.title, completed: false });
              } else if (i % 4 === 1 && model.size > 0) {
                const [id, task] = [...model.entries()][i % model.size]!;
                const { rows } = await sql<{ completed: boolean }>`
            update todo.tasks set completed = not completed, updated_at = now() where id = ${id} returning completed`.execute(
                  app.db,
                );
                model.set(id, { ...task, completed: rows[0]!.completed });
              } else if (i % 4 === 2) {
                // A sign-up: user, category and first task in one transaction, as the app does it.
                const signup = `signup-${i}`;
                const id = await app.db.transaction().execute(async (trx) => {
                  await sql`insert into todo.users (id, email, name) values (${signup}, ${`${signup}@example.com`}, 'New user')`.execute(
                    trx,
                  );
                  await sql`insert into todo.categories (user_id, name) values (${signup}, 'home')`.execute(
                    trx,
                  );
                  const { rows } = await sql<{ id: string | number }>`
              insert into todo.tasks (user_id, title, category_id) select ${signup}, 'Welcome', id from todo.categories where user_id = ${signup}
              returning id`.execute(trx);
                  return String(rows[0]!.id);
                });
                model.set(id, { user: signup, title: 'Welcome', completed: false });
              } else {
                const { rows } = await sql<{
                  id: string | number;
                  title: string;
                  completed: boolean;
                }>`
            update todo.tasks set title = left(title, 150) || ' (edited)', updated_at = now()
             where id = (select id from todo.tasks where user_id = ${user} order by id offset ${i % 7} limit 1)
            returning id, title, completed`.execute(app.db);
                if (rows[0] !== undefined)
                  model.set(String(rows[0].id), {
                    user,
                    title: rows[0].title,
                    completed: rows[0].completed,
                  });
              }
            },
            { intervalMs: 3 },
          );

          await new Promise((resolve) => setTimeout(resolve, 100));
          const upStarted = performance.now();
          const store = await openStore({ database: scratch.database, ...CHATKEEP_SETTINGS });
          const upEnded = performance.now();
          await new Promise((resolve) => setTimeout(resolve, 100));
          const report = await host.stop();
          const during = opsWithin(report, upStarted, upEnded);
          console.log(
            formatWriterReport(
              `todo ${backend.name} host writer during chatkeep up (${Math.round(upEnded - upStarted)} ms; ${during} writes finished inside it)`,
              report,
            ),
          );
          expect(report.errors).toEqual([]);
          expect(report.turns).toBeGreaterThan(10);
          // PGlite is one session in this process: the app's writes wait for the migration (serialised,
          // still zero errors). On PostgreSQL they must go on while it runs.
          if (backend.name === 'postgres') expect(during).toBeGreaterThan(0);

          // Nothing the writer did is lost; the untouched users' Phase 2 views are what they were.
          const { rows: stored } = await sql<{
            id: string | number;
            user_id: string;
            title: string;
            completed: boolean;
          }>`
        select id, user_id, title, completed from todo.tasks where id = any(${[...model.keys()]}::bigint[])`.execute(
            db,
          );
          expect(
            new Map(
              stored.map((t) => [
                String(t.id),
                { user: t.user_id, title: t.title, completed: t.completed },
              ]),
            ),
          ).toEqual(model);
          expect(await views(db, untouched)).toEqual(before);
          expect((await fingerprint(db, [HOST])).hash).toBe(hostShape.hash);

          // Chat works beside it, with the host's users.
          const conversation = await store.conversations.create('u001', { title: 'Plan my week' });
          await store.turns.append('u001', conversation.id, {
            user: 'What is due?',
            assistant: 'Your work tasks.',
          });
          await sql`delete from chatkeep.conversations`.execute(db);
          await store.close();

          // Every user's Phase 2 view, with chatkeep up, after reverting it, and after applying it again.
          const everyone = await allUsers(db);
          const withChatkeep = await views(db, everyone);
          const settings = await readInstalledSettings(db, 'chatkeep');
          const chatkeep = chatkeepMigrator(db, { schema: 'chatkeep', settings: settings! });
          expect((await chatkeep.down({ to: 0 })).error).toBeUndefined();
          expect(await views(db, everyone)).toEqual(withChatkeep);
          expect((await fingerprint(db, [HOST])).hash).toBe(hostShape.hash);
          expect((await chatkeep.up()).error).toBeUndefined();
          expect(await views(db, everyone)).toEqual(withChatkeep);

          await app.close();
        },
      );
    },
  );
}
