import { sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import type { ToolOutcome, UserClient } from './fixtures/mcp-session.js';
import { useMcpSession } from './fixtures/use-mcp-session.js';

interface TaskJson {
  readonly id: number;
  readonly title: string;
  readonly description: string | null;
  readonly due_date: string | null;
  readonly category: string | null;
}

const ok = (outcome: ToolOutcome): Record<string, unknown> => {
  expect(outcome.isError, outcome.text).toBe(false);
  return outcome.structured!;
};

const taskOf = async (client: UserClient, tool: string, args: Record<string, unknown>) =>
  ok(await client.call(tool, args))['task'] as TaskJson;

/**
 * Edges of the task tools a model reaches in ordinary use, through the SDK's
 * real client over streamable HTTP: a list longer than one page, category
 * names in another case than the user's, text outside the Basic
 * Multilingual Plane, and dates in the first century.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: task tool edges`, () => {
    const fixture = useMcpSession(backend.name, 'http');

    it('list_tasks pages with after_id: every task is reachable, and a truncated page says so', async () => {
      const session = fixture.session();
      // More tasks than the largest page (200), written as the host app would.
      await session.inspect(({ db }) =>
        sql`insert into todo.tasks (user_id, title) select 'bob', 'bulk ' || i from generate_series(1, 230) i`.execute(
          db,
        ),
      );
      await session.withClient('bob', async (bob) => {
        const newest = await taskOf(bob, 'add_task', { title: 'the one just added' });
        const seen: number[] = [];
        let after: number | null = null;
        for (let page = 0; page < 10; page++) {
          const result = ok(
            await bob.call('list_tasks', {
              limit: 100,
              ...(after === null ? {} : { after_id: after }),
            }),
          );
          const tasks = result['tasks'] as TaskJson[];
          seen.push(...tasks.map((t) => t.id));
          after = result['next_after_id'] as number | null;
          if (after === null) break;
          expect(after).toBe(tasks.at(-1)?.id);
        }
        expect(after).toBeNull();
        // 230 bulk tasks, bob's seeded one and the new one, each once, oldest first.
        expect(seen).toHaveLength(232);
        expect(new Set(seen).size).toBe(232);
        expect(seen).toEqual([...seen].sort((a, b) => a - b));
        expect(seen.at(-1)).toBe(newest.id);
        // A short list says there is nothing more.
        const last = ok(await bob.call('list_tasks', { after_id: newest.id - 1 }));
        expect(last).toEqual({
          tasks: [expect.objectContaining({ id: newest.id })],
          next_after_id: null,
        });
      });
    });

    it('a category named in another case is the user’s existing category, not a new one', async () => {
      const session = fixture.session();
      await session.withClient('alice', async (alice) => {
        // alice's seeded task #1 is in her category "home".
        const filtered = ok(await alice.call('list_tasks', { category: 'Home' }))[
          'tasks'
        ] as TaskJson[];
        expect(filtered.map((t) => t.title)).toContain('Water the plants (Alice)');
        const added = await taskOf(alice, 'add_task', { title: 'Fix the tap', category: 'HOME' });
        expect(added.category).toBe('home');
        const moved = await taskOf(alice, 'update_task', { task_id: added.id, category: 'hOmE' });
        expect(moved.category).toBe('home');
      });
      const homes = await session.inspect(
        async ({ db }) =>
          (
            await sql<{
              name: string;
            }>`select name from todo.categories where user_id = 'alice' and lower(name) = 'home'`.execute(
              db,
            )
          ).rows,
      );
      expect(homes.map((c) => c.name)).toEqual(['home']);
    });

    it('lengths count characters as the database does, not UTF-16 code units', async () => {
      await fixture.session().withClient('alice', async (alice) => {
        // 150 characters, 300 UTF-16 code units: within "1 to 200 characters".
        const title = '😀'.repeat(150);
        const added = await taskOf(alice, 'add_task', {
          title,
          description: '𝄞'.repeat(1000),
          category: '🏠'.repeat(50),
        });
        expect([...added.title]).toHaveLength(150);
        expect([...added.description!]).toHaveLength(1000);
        expect(added.category).toBe('🏠'.repeat(50));
        // One character over is still refused, by the tool and naming the field.
        expect((await alice.call('add_task', { title: '😀'.repeat(201) })).text).toBe(
          'CK_VALIDATION: title: at most 200 characters',
        );
      });
    });

    it('due dates in years 1 to 99 are calendar dates; year 0 is not', async () => {
      await fixture.session().withClient('alice', async (alice) => {
        for (const due of ['0001-01-01', '0099-12-31', '0044-03-15']) {
          expect(
            (await taskOf(alice, 'add_task', { title: 'Ancient', due_date: due })).due_date,
          ).toBe(due);
        }
        expect((await alice.call('add_task', { title: 'Nope', due_date: '0000-06-01' })).text).toBe(
          'CK_VALIDATION: due_date: not a calendar date',
        );
        expect((await alice.call('add_task', { title: 'Nope', due_date: '0099-02-29' })).text).toBe(
          'CK_VALIDATION: due_date: not a calendar date',
        );
      });
    });

    it.skipIf(backend.name !== 'postgres')(
      'a category the host deletes while update_task files a task under it is a conflict to retry, not bad input',
      { timeout: 20_000 },
      async () => {
        const session = fixture.session();
        await session.withClient('alice', async (alice) => {
          const moved = await taskOf(alice, 'add_task', { title: 'Moving', category: 'doomed' });
          const host = new pg.Client({ connectionString: fixture.location().url! });
          await host.connect();
          try {
            // The host app deletes the category in a transaction still open
            // when the tool finds it; the tool's foreign-key check then waits
            // for the host's commit and fails.
            await host.query('begin');
            await host.query(
              `delete from todo.categories where user_id = 'alice' and name = 'doomed'`,
            );
            const pending = alice.call('update_task', {
              task_id: moved.id,
              title: 'Moved',
              category: 'doomed',
            });
            await new Promise((resolve) => setTimeout(resolve, 500));
            await host.query('commit');
            const outcome = await pending;
            expect(outcome).toMatchObject({
              isError: true,
              structured: { error: { code: 'CK_CONFLICT' } },
            });
            expect(outcome.text).toMatch(/^CK_CONFLICT: .*category.*retry/);
          } finally {
            await host.end();
          }
          // Nothing was written, and the retry the error asks for succeeds.
          const again = await taskOf(alice, 'update_task', {
            task_id: moved.id,
            title: 'Moved',
            category: 'doomed',
          });
          expect(again).toMatchObject({ title: 'Moved', category: 'doomed' });
        });
      },
    );
  });
}
