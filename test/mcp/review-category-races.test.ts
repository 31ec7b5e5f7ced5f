import { sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { waitingLocks } from '../support/pg-locks.js';
import { add, type TaskJson } from './fixtures/task-calls.js';
import { useMcpSession } from './fixtures/use-mcp-session.js';

/**
 * Category names are one category whatever their case or Unicode
 * normalization (docs/mcp.md): a name that differs only in how it is
 * spelled must never become a second category, neither in a race between
 * two calls nor when the model sends a decomposed accent.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: category names, one per spelling`, () => {
    const fixture = useMcpSession(backend.name, 'http');

    const categoriesOf = (user: string) =>
      fixture.session().inspect(async ({ db }) =>
        (
          await sql<{
            name: string;
          }>`select name from todo.categories where user_id = ${user} order by id`.execute(db)
        ).rows.map((r) => r.name),
      );

    it('a name in decomposed form (NFD) is the category the user has in composed form (NFC)', async () => {
      const session = fixture.session();
      await session.withClient('bob', async (bob) => {
        const composed = await add(bob, { title: 'espresso', category: 'Caf\u00e9' });
        const decomposed = await add(bob, { title: 'croissant', category: 'CAFE\u0301' });
        expect(decomposed.category).toBe(composed.category);
        const listed = (await bob.call('list_tasks', { category: 'cafe\u0301' })).structured as {
          tasks: TaskJson[];
        };
        expect(listed.tasks.map((t) => t.id)).toEqual([composed.id, decomposed.id]);
      });
      expect((await categoriesOf('bob')).filter((n) => n.normalize('NFC').toLowerCase() === 'caf\u00e9')).toHaveLength(1);
    });

    it('list_tasks by a name the user has in two cases lists the exact one, as add_task files under it', async () => {
      const session = fixture.session();
      // The host app lets a user have both spellings (its unique key is the exact name).
      await session.inspect(({ db }) =>
        sql`insert into todo.categories (user_id, name) values ('bob', 'work'), ('bob', 'Work')`.execute(db),
      );
      await session.withClient('bob', async (bob) => {
        const lower = await add(bob, { title: 'in work', category: 'work' });
        const upper = await add(bob, { title: 'in Work', category: 'Work' });
        expect([lower.category, upper.category]).toEqual(['work', 'Work']);
        const listed = (await bob.call('list_tasks', { category: 'Work' })).structured as {
          tasks: TaskJson[];
        };
        expect(listed.tasks.map((t) => t.id)).toEqual([upper.id]);
      });
    });

    // PGlite runs one transaction at a time: the race cannot happen there.
    it.skipIf(backend.name !== 'postgres')(
      'two calls racing to create one new name in different cases create one category',
      { timeout: 20_000 },
      async () => {
        const session = fixture.session();
        await session.withClient('alice', async (alice) => {
          const host = new pg.Client({ connectionString: fixture.location().url! });
          await host.connect();
          try {
            // The host holds inserts into categories back (SHARE blocks
            // INSERT, not SELECT) until both calls have looked for the name
            // and found nothing: the window in which each would create its own.
            await host.query('begin');
            await host.query('lock table todo.categories in share mode');
            const racing = Promise.all([
              add(alice, { title: 'stamps', category: 'Errands' }),
              add(alice, { title: 'keys', category: 'ERRANDS' }),
            ]);
            await waitingLocks(host, 2);
            await host.query('commit');
            const [first, second] = await racing;
            expect(second.category).toBe(first.category);
          } finally {
            await host.end();
          }
        });
        expect((await categoriesOf('alice')).filter((n) => n.toLowerCase() === 'errands')).toHaveLength(1);
      },
    );
  });
}
