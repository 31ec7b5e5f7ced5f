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

  it('streams the reply piece by piece, whatever the chunking and line endings', async () => {
    const agent = openAiCompatibleAgent({ baseUrl: endpoint.url, model: 'm' });
    const pieces: string[] = [];
    for await (const piece of agent.stream(input('one two three'))) pieces.push(piece);
    expect(pieces).toEqual(['echo: ', 'one ', 'two ', 'three']);
    expect(endpoint.received.at(-1)!.body.stream).toBe(true);
    expect(endpoint.received.at(-1)!.authorization).toBeUndefined();
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
