/**
 * The Todo app's chat backend: chatkeep's HTTP server embedded in the host,
 * with an agent that manages the calling user's tasks through the MCP tools
 * (README.md, step 4, "Over chatkeep's HTTP API").
 *
 *   CHATKEEP_JWT_SECRET=… CHATKEEP_MCP_TOKENS="alice=…,bob=…" DATABASE_URL=… npx tsx examples/todo/chat-server.ts
 *
 * CHATKEEP_MCP_TOKENS is the same list `chatkeep mcp --transport http` is
 * given (parsed the same way: tokens may contain `=`). CHATKEEP_MCP_URL
 * (default http://127.0.0.1:3001/mcp) and PORT (default 8788) override the
 * addresses.
 *
 * The user comes from the verified JWT (`sub`); the agent picks that user's
 * MCP token, so it can only ever act on that user's tasks.
 */
import { openStore, type Agent, type StreamingAgent } from '../../src/index.js';
import { parseTokenList } from '../../src/mcp/index.js';
import { buildServer } from '../../src/server/index.js';
import { taskAgent } from './task-agent.js';

const secret = process.env['CHATKEEP_JWT_SECRET'];
const url = process.env['DATABASE_URL'];
const mcpUrl = process.env['CHATKEEP_MCP_URL'] ?? 'http://127.0.0.1:3001/mcp';
// The MCP server's own parser: a base64 token ends in `=`, which a naive split would cut off.
let tokens = new Map<string, string>();
try {
  tokens = new Map(
    parseTokenList(process.env['CHATKEEP_MCP_TOKENS'] ?? '').map((t) => [t.userId, t.token]),
  );
} catch (error) {
  console.error((error as Error).message);
}
if (secret === undefined || url === undefined || tokens.size === 0) {
  console.error(
    'usage: CHATKEEP_JWT_SECRET=<≥32 bytes> CHATKEEP_MCP_TOKENS="alice=<t>,…" DATABASE_URL=<url> chat-server.ts',
  );
  process.exit(2);
}

const run: Agent = async (input) => {
  const token = tokens.get(input.userId);
  if (token === undefined) throw new Error(`no MCP token for user ${input.userId}`);
  return taskAgent(mcpUrl, token)(input);
};
// The stand-in assistant answers in one piece; a model would stream tokens.
const stream: StreamingAgent = async function* (input) {
  const reply = await run(input);
  yield typeof reply === 'string' ? reply : reply.content;
};

const store = await openStore({ url });
const server = await buildServer(store, {
  auth: { jwtSecret: secret },
  agent: { name: 'todo-tasks', run, stream },
});
console.log(
  `Todo chat server: ${await server.app.listen({ port: Number(process.env['PORT'] ?? 8788) })}`,
);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void server.close().then(() => store.close()));
}
