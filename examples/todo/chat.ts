/**
 * One chat turn of the Todo app, stored by chatkeep, whose assistant manages
 * tasks through the MCP tools (README.md, step 4):
 *
 *   CHATKEEP_MCP_TOKEN=<alice's token> npx tsx examples/todo/chat.ts alice "Remind me to buy milk"
 *
 * Options: --conversation <id> (continue one), --mcp-url (default
 * http://127.0.0.1:3001/mcp), --database-url (default $DATABASE_URL).
 */
import { parseArgs } from 'node:util';
import { openStore } from '../../src/index.js';
import { taskAgent } from './task-agent.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    conversation: { type: 'string' },
    'mcp-url': { type: 'string', default: 'http://127.0.0.1:3001/mcp' },
    'database-url': { type: 'string' },
  },
});
const [user, message] = positionals;
const token = process.env['CHATKEEP_MCP_TOKEN'];
const url = values['database-url'] ?? process.env['DATABASE_URL'];
if (user === undefined || message === undefined || token === undefined || url === undefined) {
  console.error(
    'usage: CHATKEEP_MCP_TOKEN=<token> DATABASE_URL=<url> chat.ts <user> "<message>" [--conversation <id>]',
  );
  process.exit(2);
}

const store = await openStore({ url });
try {
  const conversationId =
    values.conversation ?? (await store.conversations.create(user, { title: 'Tasks' })).id;
  await store.turns.run(user, conversationId, message, taskAgent(values['mcp-url'], token), {
    timeoutMs: 10_000,
  });
  const { messages } = await store.messages.list(user, conversationId, { limit: 100 });
  console.log(`Conversation ${conversationId} of ${user}:`);
  for (const m of messages) console.log(`  ${m.role.padEnd(9)} ${m.content}`);
} finally {
  await store.close();
}
