import fc from 'fast-check';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { shownName } from '../../src/mcp/task-input.js';
import { BACKENDS } from '../support/backends.js';
import { failureReport, FUZZ_OPTIONS, FUZZ_RUNS, FUZZ_TIMEOUT_MS } from '../support/fuzz.js';
import { near, TRICKY_STRINGS, type JsonSchema } from '../support/schema-arbitraries.js';
import type { McpSession, UserClient } from './fixtures/mcp-session.js';
import { useMcpSession } from './fixtures/use-mcp-session.js';

/**
 * The task tools under generated arguments (issue 3: "no tool, argument or
 * injected SQL text reaches" another user's data; SPEC R-SEC-3). For every
 * tool the server lists, fast-check builds arguments near the tool's own
 * input schema — one fault at a time: limits and one past them, NUL, SQL in
 * strings, wrong types, unknown keys such as `user_id` — and task ids that
 * are alice's own, bob's, or made up, and alice calls the tool through the
 * SDK's real client. Whatever she sends:
 *
 * - the call answers with a result, never a protocol error, and never fails
 *   inside: no CK_INTERNAL, no database error text;
 * - a tool error is one line, `CK_VALIDATION: <field>: …` naming a field of
 *   the tool's schema, the unknown key it got, or `input` for the arguments
 *   as a whole; or `CK_NOT_FOUND: …`;
 * - a tool error writes nothing: alice's tasks and categories are as before;
 * - bob's tasks are never changed and never shown to her.
 *
 * Over streamable HTTP only: the stdio transport carries the same server
 * (test/mcp/task-tools.test.ts runs both), and on PGlite a stdio server holds
 * the database, so the rows could not be compared after every call.
 * FUZZ_RUNS (default 25) sets the calls per tool and backend; FUZZ_SEED
 * replays a failure. The server's tool call limit is off here: with the
 * default 600 a minute, FUZZ_RUNS above ~120 (or a long shrink) had alice
 * refused with "Rate limited" and every later tool failed on its first call.
 * test/mcp/http-front-door.test.ts covers the limit itself.
 */

/** One user's tasks and categories, as text that changes when any of their rows does. */
async function rowsOf(session: McpSession, user: string): Promise<string> {
  return session.inspect(async ({ db }) => {
    const { rows } = await sql<{ rows: string | null }>`
      select (select string_agg(t::text, '|' order by t.id) from todo.tasks t where t.user_id = ${user})
          || '#' || coalesce((select string_agg(c::text, '|' order by c.id) from todo.categories c where c.user_id = ${user}), '')
          as rows`.execute(db);
    return rows[0]?.rows ?? '';
  });
}

async function added(client: UserClient, args: Record<string, unknown>): Promise<number> {
  const outcome = await client.call('add_task', args);
  expect(outcome.isError, outcome.text).toBe(false);
  return (outcome.structured as { task: { id: number } }).task.id;
}

/** A task id: alice's own, bob's, or one that names nothing (or is no id at all). */
const taskIdPick = fc.oneof(
  { weight: 5, arbitrary: fc.constant<'own' | 'other'>('own') },
  { weight: 3, arbitrary: fc.constant<'own' | 'other'>('other') },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.integer({ min: -5, max: 2 ** 31 + 5 }),
      fc.constantFrom<unknown>(0, 1.5, 2 ** 53, '1', null, ...TRICKY_STRINGS),
    ),
  },
);

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name} over http: generated tool calls`, () => {
    const fixture = useMcpSession(backend.name, 'http', {
      toolCallLimit: { max: 0, windowMs: 60_000 },
    });

    it(`${FUZZ_RUNS} generated calls per tool: an answer, never an internal failure; errors name the field and write nothing; bob untouched`, async () => {
      const session = fixture.session();
      const marker = `bob-private-${Date.now()}`;
      const bobsTask = await session.withClient('bob', (bob) =>
        added(bob, { title: marker, category: marker.slice(0, 40) }),
      );
      const bobBefore = await rowsOf(session, 'bob');
      const failures: string[] = [];

      await session.withClient('alice', async (alice) => {
        const { tools } = await alice.client.listTools();
        expect(tools.length).toBe(5);
        for (const tool of tools) {
          const schema = tool.inputSchema as JsonSchema;
          const fields = Object.keys(schema.properties ?? {});
          const takesTaskId = fields.includes('task_id');
          const args = fc.tuple(near(schema), taskIdPick).map(([value, id]) => ({ value, id }));
          try {
            await fc.assert(
              fc.asyncProperty(args, async ({ value, id }) => {
                // Written directly, not with add_task: the server allows 600 tool calls per user a minute.
                const ownTask = await session.inspect(async ({ db }) =>
                  Number(
                    (
                      await sql<{
                        id: string;
                      }>`insert into todo.tasks (user_id, title) values ('alice', 'mine') returning id`.execute(
                        db,
                      )
                    ).rows[0]!.id,
                  ),
                );
                const call: Record<string, unknown> =
                  value !== null && typeof value === 'object' && !Array.isArray(value)
                    ? { ...value }
                    : { value };
                if (takesTaskId && 'task_id' in call)
                  call['task_id'] = id === 'own' ? ownTask : id === 'other' ? bobsTask : id;
                const before = await rowsOf(session, 'alice');

                const outcome = await alice.call(tool.name, call);
                const text = outcome.text + JSON.stringify(outcome.structured ?? '');
                const described = `${tool.name} ${JSON.stringify(call)} → ${text.slice(0, 300)}`;

                expect(text, described).not.toMatch(
                  /CK_INTERNAL|sqlState|syntax error|violates|SQLSTATE|at .*\.js:\d+/,
                );
                expect(text, described).not.toContain(marker);
                if (outcome.isError) {
                  expect(outcome.text.split('\n').length, described).toBe(1);
                  const error = (
                    outcome.structured as { error?: { code?: string; field?: string } }
                  )?.error;
                  expect(outcome.text.startsWith(`${error?.code}: `), described).toBe(true);
                  if (error?.code === 'CK_VALIDATION') {
                    const field = error.field ?? '';
                    expect(outcome.text.startsWith(`CK_VALIDATION: ${field}: `), described).toBe(
                      true,
                    );
                    // An argument that is not plain (`user_id`) is named quoted, as JSON (task-input.ts shownName).
                    expect(
                      field === 'input' || fields.includes(field) || Object.keys(call).some((key) => shownName(key) === field),
                      described,
                    ).toBe(true);
                  } else {
                    expect(error?.code, described).toBe('CK_NOT_FOUND');
                  }
                  expect(await rowsOf(session, 'alice'), `${described}: alice's rows changed`).toBe(
                    before,
                  );
                }
                expect(await rowsOf(session, 'bob'), `${described}: bob's rows changed`).toBe(
                  bobBefore,
                );
              }),
              FUZZ_OPTIONS,
            );
          } catch (error) {
            failures.push(failureReport(tool.name, error));
          }
        }
      });
      expect(failures).toEqual([]);
    }, FUZZ_TIMEOUT_MS);
  });
}
