import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAiCompatibleAgent, type AgentInput } from '../../src/index.js';
import { startOpenAiStandIn } from '../support/openai-stand-in.js';

/**
 * The OpenAI-compatible agent against a real HTTP endpoint speaking the Chat
 * Completions protocol (a local stand-in: this machine has no route to a
 * model provider): what it sends, what it makes of JSON and streamed
 * replies, and how it fails.
 */
describe('openAiCompatibleAgent', () => {
  let endpoint: Awaited<ReturnType<typeof startOpenAiStandIn>>;
  beforeAll(async () => {
    endpoint = await startOpenAiStandIn();
  });
  afterAll(async () => endpoint.close());

  const input = (message: string, signal = new AbortController().signal): AgentInput => ({
    userId: 'u1',
    conversationId: '0190f0f0-0000-7000-8000-000000000000',
    history: [
      { role: 'user', content: 'earlier question', createdAt: new Date() },
      { role: 'assistant', content: 'earlier answer', createdAt: new Date() },
    ],
    message,
    signal,
  });

  it('sends system prompt, history and message with the model and key; returns the reply with model and usage', async () => {
    const agent = openAiCompatibleAgent({ baseUrl: `${endpoint.url}/`, model: 'test-model', apiKey: 'sk-test', systemPrompt: 'Be brief.', temperature: 0.2 });
    const reply = await agent.run(input('hello there'));
    expect(reply).toEqual({ content: 'echo: hello there', metadata: { model: 'test-model', usage: { total_tokens: 7 } } });
    const sent = endpoint.received.at(-1)!;
    expect(sent.authorization).toBe('Bearer sk-test');
    expect(sent.body).toEqual({
      model: 'test-model',
      stream: false,
      temperature: 0.2,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'earlier question' },
        { role: 'assistant', content: 'earlier answer' },
        { role: 'user', content: 'hello there' },
      ],
    });
  });

  // chatkeep stores a tool's output as text, without the call it answered; the
  // API refuses a `tool` message without `tool_call_id`, which would fail every
  // later turn of such a conversation (the stand-in refuses it as OpenAI does).
  it('sends stored tool output as a user message marked as tool output, in both shapes', async () => {
    const agent = openAiCompatibleAgent({ baseUrl: endpoint.url, model: 'm' });
    const withTool: AgentInput = {
      ...input('and now?'),
      history: [
        { role: 'user', content: 'add milk', createdAt: new Date() },
        { role: 'tool', content: '{"added":"milk"}', createdAt: new Date() },
        { role: 'system', content: 'Be brief.', createdAt: new Date() },
        { role: 'assistant', content: 'Added.', createdAt: new Date() },
      ],
    };
    const expected = [
      { role: 'user', content: 'add milk' },
      { role: 'user', content: 'Tool output:\n{"added":"milk"}' },
      { role: 'system', content: 'Be brief.' },
      { role: 'assistant', content: 'Added.' },
      { role: 'user', content: 'and now?' },
    ];
    expect(await agent.run(withTool)).toMatchObject({ content: 'echo: and now?' });
    expect(endpoint.received.at(-1)!.body.messages).toEqual(expected);
    const pieces: string[] = [];
    for await (const piece of agent.stream(withTool)) pieces.push(piece);
    expect(pieces.join('')).toBe('echo: and now?');
    expect(endpoint.received.at(-1)!.body.messages).toEqual(expected);
  });

  it('streams the reply piece by piece, whatever the chunking and line endings', async () => {
    const agent = openAiCompatibleAgent({ baseUrl: endpoint.url, model: 'm' });
    const pieces: string[] = [];
    for await (const piece of agent.stream(input('one two three'))) pieces.push(piece);
    expect(pieces).toEqual(['echo: ', 'one ', 'two ', 'three']);
    expect(endpoint.received.at(-1)!.body.stream).toBe(true);
    expect(endpoint.received.at(-1)!.authorization).toBeUndefined();
  });

  // Some providers end the stream right after the last `data:` line, with no
  // blank line and no [DONE]; that last event, which carries the
  // finish_reason, is still part of the reply.
  it('keeps the last streamed piece when the stream ends without a closing blank line or [DONE], after a finish_reason', async () => {
    const abrupt = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: 'first ' } }] })}\n\n`);
        res.end(`data: ${JSON.stringify({ choices: [{ delta: { content: 'last' }, finish_reason: 'length' }] })}\n`);
      });
    });
    await new Promise<void>((resolve) => abrupt.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = abrupt.address() as { port: number };
      const agent = openAiCompatibleAgent({ baseUrl: `http://127.0.0.1:${port}/v1`, model: 'm' });
      const pieces: string[] = [];
      for await (const piece of agent.stream(input('anything'))) pieces.push(piece);
      expect(pieces).toEqual(['first ', 'last']);
    } finally {
      await new Promise<void>((resolve) => abrupt.close(() => resolve()));
    }
  });

  it('an error status becomes CK_AGENT_FAILED naming the status, with only the first line of the body', async () => {
    const agent = openAiCompatibleAgent({ baseUrl: endpoint.url, model: 'm' });
    for (const attempt of [() => agent.run(input('http-500')), async () => { for await (const _ of agent.stream(input('http-500'))) void _; }]) {
      const error = await attempt().then(() => undefined, (e: unknown) => e as { code?: string; message: string });
      expect(error?.code).toBe('CK_AGENT_FAILED');
      expect(error?.message).toContain('500');
      expect(error?.message).not.toContain('second line');
    }
  });

  it('an error object in a 200 answer, or mid-stream after some text, is CK_AGENT_FAILED with its message, not a reply', async () => {
    const agent = openAiCompatibleAgent({ baseUrl: endpoint.url, model: 'm' });
    const pieces: string[] = [];
    const streamed = await (async () => {
      for await (const piece of agent.stream(input('mid-error please'))) pieces.push(piece);
    })().then(() => undefined, (e: unknown) => e as { code?: string; message: string });
    // The text before the error reached the caller, but the stream ends in an error, so the turn is not committed.
    expect(pieces).toEqual(['echo: ']);
    expect(streamed?.code).toBe('CK_AGENT_FAILED');
    expect(streamed?.message).toBe('The model endpoint reported an error: The server had an error while processing your request.');
    const ran = await agent.run(input('json-error')).then(() => undefined, (e: unknown) => e as { code?: string; message: string });
    expect(ran?.code).toBe('CK_AGENT_FAILED');
    expect(ran?.message).toBe('The model endpoint reported an error: Rate limit reached for requests');
  });

  it('a stream that ends with no finish_reason and no [DONE] was cut short: CK_AGENT_FAILED after the pieces so far, not a reply', async () => {
    const agent = openAiCompatibleAgent({ baseUrl: endpoint.url, model: 'm' });
    const pieces: string[] = [];
    const error = await (async () => {
      for await (const piece of agent.stream(input('cut-short reply'))) pieces.push(piece);
    })().then(() => undefined, (e: unknown) => e as { code?: string; message: string });
    expect(pieces).toEqual(['echo: ', 'cut-short ']);
    expect(error).toMatchObject({ code: 'CK_AGENT_FAILED', message: 'The model endpoint ended its stream before the reply was finished (no finish_reason and no [DONE])' });
  });

  it('an answer that is not JSON (a web page at baseUrl, an event of garbage) is CK_AGENT_FAILED saying so, with the start of what was sent', async () => {
    const agent = openAiCompatibleAgent({ baseUrl: endpoint.url, model: 'm' });
    const ran = await agent.run(input('html-page')).then(() => undefined, (e: unknown) => e as { code?: string; message: string });
    expect(ran).toMatchObject({ code: 'CK_AGENT_FAILED' });
    expect(ran?.message).toBe('The model endpoint answered 200 with a body that is not JSON (is baseUrl the API root, e.g. …/v1?): "<!doctype html>"');
    const streamed = await (async () => {
      for await (const _ of agent.stream(input('not-json'))) void _;
    })().then(() => undefined, (e: unknown) => e as { code?: string; message: string });
    expect(streamed).toMatchObject({ code: 'CK_AGENT_FAILED', message: 'The model endpoint sent a stream event that is not JSON: "<html>upstream error</html>"' });
  });

  it('the abort signal cancels a stalled stream', async () => {
    const agent = openAiCompatibleAgent({ baseUrl: endpoint.url, model: 'm' });
    const controller = new AbortController();
    const pieces: string[] = [];
    const run = (async () => {
      for await (const piece of agent.stream(input('stall please', controller.signal))) {
        pieces.push(piece);
        controller.abort(new Error('gave up'));
      }
    })();
    await expect(run).rejects.toThrow();
    expect(pieces).toEqual(['echo: ']);
  });
});
