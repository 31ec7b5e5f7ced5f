import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAiCompatibleAgent, openStore, type Store } from '../../src/index.js';
import { buildServer, type ChatkeepServer } from '../../src/server/index.js';
import { startOpenAiStandIn } from '../support/openai-stand-in.js';
import { openEventStream } from '../support/sse-client.js';
import { JWT_SECRET, jwtFor } from '../support/server-fixture.js';

/**
 * The server with an OpenAI-compatible agent configured (issue 3: agents
 * are pluggable): /turns/run and /turns/stream go to the model endpoint with
 * the history the server loaded, and store the turn only when it succeeds.
 */
describe('the server with an OpenAI-compatible agent', () => {
  let endpoint: Awaited<ReturnType<typeof startOpenAiStandIn>>;
  let store: Store;
  let server: ChatkeepServer;
  let url = '';
  beforeAll(async () => {
    endpoint = await startOpenAiStandIn();
    store = await openStore({ dataDir: 'memory://' });
    const agent = openAiCompatibleAgent({ baseUrl: endpoint.url, model: 'stand-in', apiKey: 'sk-x' });
    server = await buildServer(store, { auth: { jwtSecret: JWT_SECRET }, agent: { name: 'openai:stand-in', ...agent }, logger: false, agentTimeoutMs: 1500 });
    url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server.close();
    await store.close();
    await endpoint.close();
  });

  const post = async (path: string, token: string, body: unknown) => {
    const response = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as any };
  };

  it('run: the model gets the stored history and the message; the reply is stored with its model', async () => {
    const token = await jwtFor('ana');
    const { id } = await store.conversations.create('ana');
    await store.turns.append('ana', id, { user: 'first', assistant: 'reply one' });
    const run = await post(`/v1/conversations/${id}/turns/run`, token, { message: 'second' });
    expect(run.status).toBe(201);
    expect(run.body.assistantMessage).toMatchObject({ content: 'echo: second', metadata: { model: 'stand-in' } });
    expect(endpoint.received.at(-1)!.body.messages).toEqual([
      { role: 'user', content: 'first' },
      { role: 'assistant', content: 'reply one' },
      { role: 'user', content: 'second' },
    ]);
  });

  it('run with a token budget sends only the newest history that fits', async () => {
    const token = await jwtFor('ben');
    const { id } = await store.conversations.create('ben');
    for (let i = 0; i < 4; i++) await store.turns.append('ben', id, { user: `q${i} ${'x'.repeat(80)}`, assistant: `a${i}` });
    await post(`/v1/conversations/${id}/turns/run`, token, { message: 'now', historyTokenBudget: 30 });
    const sent = endpoint.received.at(-1)!.body.messages;
    expect(sent.at(-1)).toEqual({ role: 'user', content: 'now' });
    expect(sent.length).toBeLessThan(9);
    expect(sent.at(-2)).toEqual({ role: 'assistant', content: 'a3' });
  });

  it('stream: the model streams through to the client and the turn is committed', async () => {
    const token = await jwtFor('cy');
    const { id } = await store.conversations.create('cy');
    const events = await openEventStream(`${url}/v1/conversations/${id}/turns/stream`, { token, body: { message: 'stream this' } }).done;
    expect(events.filter((e) => e.event === 'text').map((e) => e.data.text).join('')).toBe('echo: stream this');
    expect(events.at(-1)?.event).toBe('commit');
    expect((await store.messages.list('cy', id)).messages.map((m) => m.content)).toEqual(['stream this', 'echo: stream this']);
  });

  it('a failing or stalled model stores nothing: 502 / 504 for run, an error event for stream', async () => {
    const token = await jwtFor('dee');
    const { id } = await store.conversations.create('dee');
    const failed = await post(`/v1/conversations/${id}/turns/run`, token, { message: 'http-500' });
    expect([failed.status, failed.body.error.code]).toEqual([502, 'CK_AGENT_FAILED']);
    const events = await openEventStream(`${url}/v1/conversations/${id}/turns/stream`, { token, body: { message: 'stall' } }).done;
    expect(events.at(-1)?.data.error.code).toBe('CK_AGENT_TIMEOUT');
    // A provider that fails after the first words: the client saw them, but the turn ends in an error, not a commit.
    const cut = await openEventStream(`${url}/v1/conversations/${id}/turns/stream`, { token, body: { message: 'mid-error' } }).done;
    expect(cut.map((e) => e.event)).toEqual(['begin', 'text', 'error']);
    expect(cut.at(-1)?.data.error.message).toContain('The server had an error while processing your request.');
    // A stream cut short without an error (no finish_reason, no [DONE]): the words so far are not a reply.
    const short = await openEventStream(`${url}/v1/conversations/${id}/turns/stream`, { token, body: { message: 'cut-short' } }).done;
    expect(short.map((e) => e.event)).toEqual(['begin', 'text', 'text', 'error']);
    expect(short.at(-1)?.data.error.code).toBe('CK_AGENT_FAILED');
    expect((await store.messages.list('dee', id)).messages).toEqual([]);
  });
});
