import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { add, taskOf } from './fixtures/task-calls.js';
import { useMcpSession } from './fixtures/use-mcp-session.js';

/**
 * Concurrent callers of the same user's tasks, through the SDK's real client
 * over streamable HTTP: the client sends each call as its own POST, so the
 * calls run in parallel transactions (on PostgreSQL; PGlite serialises them
 * and the races cannot happen there, but the outcomes must be the same).
 * STYLE 10: every race the task store guards has a test that runs it.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: concurrent task tool calls`, () => {
    const fixture = useMcpSession(backend.name, 'http');

    it('concurrent deletes of one task: exactly one gets it, the others get CK_NOT_FOUND', async () => {
      await fixture.session().withClient('alice', async (alice) => {
        for (let round = 0; round < 8; round++) {
          const { id } = await add(alice, { title: `doomed ${round}` });
          const outcomes = await Promise.all(
            [1, 2, 3].map(() => alice.call('delete_task', { task_id: id })),
          );
          expect(
            outcomes.filter((o) => !o.isError).map((o) => taskOf(o).id),
            `round ${round}`,
          ).toEqual([id]);
          for (const lost of outcomes.filter((o) => o.isError))
            expect(lost.text).toBe('CK_NOT_FOUND: task not found');
        }
      });
    });

    it('a delete racing a complete reports the task as it was when deleted', async () => {
      await fixture.session().withClient('alice', async (alice) => {
        for (let round = 0; round < 8; round++) {
          const { id } = await add(alice, { title: `race ${round}` });
          const [completed, deleted] = await Promise.all([
            alice.call('complete_task', { task_id: id }),
            alice.call('delete_task', { task_id: id }),
          ]);
          expect(deleted.isError, deleted.text).toBe(false);
          // Either the complete came first, and the deleted task was done, or
          // the delete came first and the complete found nothing.
          if (completed.isError) expect(completed.text).toBe('CK_NOT_FOUND: task not found');
          else expect(taskOf(deleted).completed, `round ${round}`).toBe(true);
        }
      });
    });

    it('concurrent adds naming one new category create it once and file every task in it', async () => {
      const session = fixture.session();
      const added = await session.withClient('bob', (bob) =>
        Promise.all(
          Array.from({ length: 6 }, (_, i) => add(bob, { title: `t${i}`, category: 'fresh' })),
        ),
      );
      expect(added.map((t) => t.category)).toEqual(Array(6).fill('fresh'));
      const categories = await session.inspect(
        async ({ db }) =>
          (
            await sql<{
              n: number | string;
            }>`select count(*) as n from todo.categories where user_id = 'bob' and name = 'fresh'`.execute(
              db,
            )
          ).rows[0]?.n,
      );
      expect(Number(categories)).toBe(1);
    });
  });
}
