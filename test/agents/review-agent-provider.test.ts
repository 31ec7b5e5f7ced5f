import { createServer, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAiCompatibleAgent, openStore, type AgentInput, type Store } from '../../src/index.js';

/**
 * The OpenAI-compatible agent against a real HTTP endpoint that misbehaves
 * as providers and proxies do: each test sets how the endpoint answers.
 */
type Answer = (request: { readonly stream: boolean }, res: ServerResponse) => void;

describe('openAiCompatibleAgent against a misbehaving endpoint', () => {
  let server: Server;
  let baseUrl = '';
  let answer: Answer = (_req, res) => res.writeHead(500).end();
  const seen: { authorization: string | undefined }[] = [];
  let store: Store;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString()));
      req.on('end', () => {
        seen.push({ authorization: req.headers.authorization });
        answer({ stream: (JSON.parse(text) as { stream: boolean }).stream }, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`;
    store = await openStore({ dataDir: 'memory://' });
  });
  afterAll(async () => {
    await store.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const input = (message = 'hi'): AgentInput => ({
    userId: 'u1',
    conversationId: 'c1',
    history: [],
    message,
    signal: new AbortController().signal,
  });
  const event = (chunk: unknown) => `data: ${JSON.stringify(chunk)}\n\n`;
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (e: unknown) => e as { code?: string; message: string },
    );
  const streamed = async (agent: ReturnType<typeof openAiCompatibleAgent>) => {
    const pieces: string[] = [];
    const error = await failure(
      (async () => {
        for await (const piece of agent.stream(input())) pieces.push(piece);
      })(),
    );
    return { pieces, error };
  };
  /** Sends `total` bytes of `byte` in 64 KiB writes, minding backpressure; resolves with how many were written when the client went away or all were sent. */
  const flood = (res: ServerResponse, total: number, byte: string) =>
    new Promise<number>((resolve) => {
      const chunk = Buffer.alloc(64 * 1024, byte);
      let written = 0;
      res.on('close', () => resolve(written));
      const write = () => {
        while (written < total && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', write);
        }
        res.end();
      };
      write();
    });

  it('an API key with a line break inside is refused when the agent is made, without showing the key; a trailing one is trimmed', async () => {
    for (const apiKey of ['sk-secret-123\nX-Injected: 1', 'sk-secret-123 €']) {
      let error: { code?: string; message: string } | undefined;
      try {
        openAiCompatibleAgent({ baseUrl, model: 'm', apiKey });
      } catch (e) {
        error = e as typeof error;
      }
      expect(error?.code).toBe('CK_CONFIG');
      expect(error?.message).not.toContain('sk-secret');
    }
    answer = (_req, res) =>
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ choices: [{ message: { content: 'ok' } }] }));
    expect(
      await openAiCompatibleAgent({ baseUrl, model: 'm', apiKey: 'sk-secret-123\n' }).run(input()),
    ).toMatchObject({ content: 'ok' });
    expect(seen.at(-1)?.authorization).toBe('Bearer sk-secret-123');
  });

  it('a baseUrl with credentials in it is refused when the agent is made, without showing them', () => {
    let error: { code?: string; message: string } | undefined;
    try {
      openAiCompatibleAgent({
        baseUrl: baseUrl.replace('http://', 'http://user:pw-secret@'),
        model: 'm',
      });
    } catch (e) {
      error = e as typeof error;
    }
    expect(error?.code).toBe('CK_CONFIG');
    expect(error?.message).not.toContain('pw-secret');
  });

  it('an endpoint that cannot be reached is CK_AGENT_FAILED saying why, not only "fetch failed"', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as { port: number };
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const agent = openAiCompatibleAgent({
      baseUrl: `http://127.0.0.1:${port}/v1`,
      model: 'm',
      apiKey: 'sk-secret-123',
    });
    for (const error of [await failure(agent.run(input())), (await streamed(agent)).error]) {
      expect(error).toMatchObject({
        code: 'CK_AGENT_FAILED',
        message: 'The model endpoint could not be reached (ECONNREFUSED)',
      });
    }
  });

  // OpenAI pretty-prints its error bodies: their first line is a bare `{`.
  it('an error status with a pretty-printed JSON body is reported with the error message, not its first line', async () => {
    answer = (_req, res) =>
      res
        .writeHead(401, { 'content-type': 'application/json' })
        .end(
          `${JSON.stringify({ error: { message: 'Incorrect API key provided: sk-***xyz.\nSee docs.', type: 'invalid_request_error', code: 'invalid_api_key' } }, null, 4)}\n`,
        );
    const agent = openAiCompatibleAgent({ baseUrl, model: 'm', apiKey: 'sk-x' });
    expect(await failure(agent.run(input()))).toMatchObject({
      code: 'CK_AGENT_FAILED',
      message: 'The model endpoint answered 401: Incorrect API key provided: sk-***xyz.',
    });
    expect((await streamed(agent)).error).toMatchObject({
      code: 'CK_AGENT_FAILED',
      message: 'The model endpoint answered 401: Incorrect API key provided: sk-***xyz.',
    });
  });

  it('an enormous error body is not downloaded to keep its first line', async () => {
    let sent: Promise<number> = Promise.resolve(0);
    answer = (_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      sent = flood(res, 256 * 1024 * 1024, 'x');
    };
    const error = await failure(openAiCompatibleAgent({ baseUrl, model: 'm' }).run(input()));
    expect(error?.code).toBe('CK_AGENT_FAILED');
    expect(error?.message).toBe(`The model endpoint answered 503: ${'x'.repeat(200)}`);
    expect(await sent).toBeLessThan(64 * 1024 * 1024);
  });

  it('an enormous 200 answer fails the turn once past the limit, instead of filling memory until the timeout', async () => {
    let sent: Promise<number> = Promise.resolve(0);
    answer = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      sent = flood(res, 128 * 1024 * 1024, ' ');
    };
    const error = await failure(openAiCompatibleAgent({ baseUrl, model: 'm' }).run(input()));
    expect(error).toMatchObject({
      code: 'CK_AGENT_FAILED',
      message: 'The model endpoint answered with more than 67108864 bytes',
    });
    expect(await sent).toBeLessThan(100 * 1024 * 1024);
  });

  it('a stream with megabytes and no line break fails, instead of filling memory until the timeout', async () => {
    let sent: Promise<number> = Promise.resolve(0);
    answer = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      sent = flood(res, 32 * 1024 * 1024, 'x');
    };
    const { error } = await streamed(openAiCompatibleAgent({ baseUrl, model: 'm' }));
    expect(error?.code).toBe('CK_AGENT_FAILED');
    expect(error?.message).toContain('without a line break');
    expect(await sent).toBeLessThan(16 * 1024 * 1024);
  });

  it('a reply stopped by the content filter is CK_AGENT_FAILED in both shapes, and a streamed turn stores nothing', async () => {
    answer = (request, res) => {
      if (request.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(
          `${event({ choices: [{ delta: { content: 'Step one: take the' }, finish_reason: null }] })}${event({ choices: [{ delta: {}, finish_reason: 'content_filter' }] })}data: [DONE]\n\n`,
        );
        return;
      }
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(
          JSON.stringify({
            choices: [
              { message: { content: 'Step one: take the' }, finish_reason: 'content_filter' },
            ],
          }),
        );
    };
    const agent = openAiCompatibleAgent({ baseUrl, model: 'm' });
    expect(await failure(agent.run(input()))).toMatchObject({
      code: 'CK_AGENT_FAILED',
      message: expect.stringContaining('content filter'),
    });
    const conversation = await store.conversations.create('alice', { title: 'filtered' });
    const error = await failure(
      store.turns.stream('alice', conversation.id, 'how do I…', agent.stream),
    );
    expect(error).toMatchObject({
      code: 'CK_AGENT_FAILED',
      message: expect.stringContaining('content filter'),
    });
    expect((await store.messages.list('alice', conversation.id, {})).messages).toEqual([]);
    const run = await failure(store.turns.run('alice', conversation.id, 'how do I…', agent.run));
    expect(run).toMatchObject({ code: 'CK_AGENT_FAILED' });
    expect((await store.messages.list('alice', conversation.id, {})).messages).toEqual([]);
  });

  it('a reply cut at the token limit is stored, with finish_reason "length" in its metadata', async () => {
    answer = (_req, res) =>
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(
          JSON.stringify({
            model: 'm-1',
            choices: [
              { message: { content: 'The first three steps are' }, finish_reason: 'length' },
            ],
          }),
        );
    const conversation = await store.conversations.create('alice', { title: 'long' });
    const turn = await store.turns.run(
      'alice',
      conversation.id,
      'list them',
      openAiCompatibleAgent({ baseUrl, model: 'm' }).run,
    );
    expect(turn.assistantMessage).toMatchObject({
      content: 'The first three steps are',
      metadata: { model: 'm-1', finishReason: 'length' },
    });
  });

  it('`"error": null` in every chunk, as some servers send, is no error', async () => {
    answer = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(
        `${event({ error: null, choices: [{ delta: { content: 'fine' }, finish_reason: 'stop' }] })}data: [DONE]\n\n`,
      );
    };
    const agent = openAiCompatibleAgent({ baseUrl, model: 'm' });
    expect(await streamed(agent)).toEqual({ pieces: ['fine'], error: undefined });
    answer = (_req, res) =>
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: null, choices: [{ message: { content: 'fine' } }] }));
    expect(await agent.run(input())).toMatchObject({ content: 'fine' });
  });

  it('SSE as the standard allows it: lone CR line ends, a last line with no line break, keep-alives, event and id fields, byte by byte', async () => {
    const body = [
      ': keep-alive\r',
      'event: message\rid: 1\rdata:',
      JSON.stringify({ choices: [{ delta: { content: 'héllo 😀 ' } }] }),
      '\r\r',
      `data: ${JSON.stringify({ choices: [] })}\r\n\r\n`,
      `data: ${JSON.stringify({ choices: [{ delta: { content: '世界' }, finish_reason: 'stop' }] })}`,
    ].join('');
    answer = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const bytes = Buffer.from(body);
      let i = 0;
      const next = () => {
        if (i === bytes.length) return void res.end();
        res.write(bytes.subarray(i, i + 1));
        i += 1;
        setImmediate(next);
      };
      next();
    };
    expect(await streamed(openAiCompatibleAgent({ baseUrl, model: 'm' }))).toEqual({
      pieces: ['héllo 😀 ', '世界'],
      error: undefined,
    });
  });
});
