import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { TASK_TOOLS } from '../../src/mcp/index.js';
import { BACKENDS } from '../support/backends.js';
import { TRANSPORTS } from './fixtures/mcp-session.js';
import { withStore } from './fixtures/todo-location.js';
import { useMcpSession } from './fixtures/use-mcp-session.js';

/** Every way we know of to ask SQL text for chat messages, to be sent in every string argument. */
const PAYLOADS = [
  `'; select content from chatkeep.messages; --`,
  `x' union select content from chatkeep.messages --`,
  `x' union all select string_agg(content, ',') from chatkeep.messages --`,
  `') or 1=1; update chatkeep.messages set content = 'pwned'; --`,
  `'); delete from chatkeep.messages; --`,
  `$$; drop schema chatkeep cascade; $$`,
  `\\'; reset role; select * from chatkeep.messages; --`,
  `x"; set role postgres; select content from chatkeep.messages; --`,
  `(select content from chatkeep.messages limit 1)`,
  `chatkeep.messages`,
  `' || (select string_agg(content, ' ') from chatkeep.messages) || '`,
  `x\u0000'; select content from chatkeep.messages; --`,
];

/** Messages: content and an order-sensitive checksum of every row of every chatkeep table that holds chat data. */
async function chatState(db: Kysely<any>): Promise<string> {
  const { rows } = await sql<{ state: string }>`
    select (select count(*) from chatkeep.messages)::text || ':' ||
      md5(coalesce((select string_agg(m::text, '|' order by m.user_id, m.conversation_id, m.seq) from chatkeep.messages m), '')) || ':' ||
      md5(coalesce((select string_agg(c::text, '|' order by c.user_id, c.id) from chatkeep.conversations c), '')) as state`.execute(
    db,
  );
  return rows[0]?.state ?? '';
}

/**
 * R-SEC-2 / seed 002 FR-011: the MCP tools cannot read chat data. A chatkeep
 * store holds messages in the same database; every tool is called with SQL
 * injection payloads in every string argument (and as the tool name), through
 * the SDK's real client over stdio and over HTTP. No message content appears
 * in any result, the messages are unchanged, and payloads that are valid
 * text are stored literally, as data.
 */
for (const backend of BACKENDS) {
  for (const transport of TRANSPORTS) {
    describe.skipIf(backend.skip)(
      `${backend.name} over ${transport}: no tool reaches chat data`,
      () => {
        const fixture = useMcpSession(backend.name, transport);

        it('no tool, argument or injected SQL text returns or changes a message', async () => {
          const session = fixture.session();
          const secret = `SECRET-${randomBytes(8).toString('hex')}`;
          const before = await session.inspect((database) =>
            withStore(database, async (store) => {
              for (const user of ['alice', 'bob']) {
                const conversation = await store.conversations.create(user, {
                  title: `${secret} title`,
                });
                await store.turns.append(user, conversation.id, {
                  user: `${secret} ${user} asks`,
                  assistant: `${secret} reply`,
                });
              }
              return chatState(database.db);
            }),
          );

          const seen: string[] = [];
          const called = new Set<string>();
          const stored: { title: string; payload: string }[] = [];
          await session.withClient('alice', async (alice) => {
            const call = async (tool: string, args: Record<string, unknown>) => {
              const outcome = await alice.call(tool, args);
              called.add(tool);
              seen.push(outcome.text, JSON.stringify(outcome.structured ?? null));
              return outcome;
            };
            const target = await call('add_task', { title: 'target' });
            const targetId = (target.structured as { task: { id: number } }).task.id;

            for (const payload of PAYLOADS) {
              for (const field of ['title', 'description', 'priority', 'due_date', 'category']) {
                const added = await call('add_task', { title: 'ok', [field]: payload });
                if (!added.isError && field === 'title')
                  stored.push({
                    title: (added.structured as { task: { title: string } }).task.title,
                    payload,
                  });
                await call('update_task', { task_id: targetId, [field]: payload });
              }
              await call('update_task', { task_id: targetId, completed: payload });
              await call('list_tasks', { status: payload });
              await call('list_tasks', { category: payload });
              await call('list_tasks', { limit: payload });
              for (const tool of ['complete_task', 'delete_task'])
                await call(tool, { task_id: payload });
              // A tool name the server does not have is a protocol error (MCP: "Unknown tool").
              const unknownTool = await alice.client
                .callTool({ name: payload.slice(0, 60), arguments: { title: payload } })
                .then(
                  () => 'answered',
                  (error: Error) => error.message,
                );
              seen.push(unknownTool);
              expect(unknownTool).toContain('Unknown tool: ');
            }
            await call('list_tasks', { limit: 200 });
            expect(
              [...called].filter((t) => (TASK_TOOLS as readonly string[]).includes(t)).sort(),
            ).toEqual([...TASK_TOOLS].sort());
            expect(alice.transportErrors).toEqual([]);
            expect(alice.stderr()).not.toContain(secret);
          });

          for (const text of seen) expect(text).not.toContain(secret);
          expect(stored.length).toBeGreaterThan(PAYLOADS.length / 2);
          for (const { title, payload } of stored) expect(title).toBe(payload.trim());
          expect(await session.inspect(({ db }) => chatState(db))).toBe(before);
        });
      },
    );
  }
}
