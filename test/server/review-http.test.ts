import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { demoAgent, demoStreamingAgent } from '../../src/index.js';
import { buildServer, type ServerOptions } from '../../src/server/index.js';
import { BACKENDS } from '../support/backends.js';
import { jwtFor, TEST_JWT_AUTH, useServer } from '../support/server-fixture.js';
import { openEventStream } from '../support/sse-client.js';
import { caught, newUser, useStore } from '../support/store-fixture.js';

/**
 * Review findings on the HTTP server: a message given as `{ content,
 * metadata }` names its nested field as the library does; requests Node's
 * parser refuses before any route answer in the one error shape; settings
 * that would refuse every request are refused when the server is built.
 */

/** Sends `text` on a raw TCP connection and returns everything the server answers before it closes. */
function rawRequest(url: string, text: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    let answer = '';
    const socket = connect(Number(port), hostname, () => socket.write(text));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

const agent = { name: 'demo', run: demoAgent, stream: demoStreamingAgent() };

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: HTTP review findings`, () => {
    const f = useServer(backend.name);

    const conversation = async () => {
      const user = newUser('review');
      const token = await jwtFor(user);
      const { id } = await f.store().conversations.create(user);
      return { user, token, id };
    };

    it('a message object with a bad nested field is a 400 naming that field, worded as the library words it, and writes nothing', async () => {
      const { user, token, id } = await conversation();
      const cases: { route: string; body: unknown; says: string }[] = [
        { route: 'turns', body: { user: { content: 'hi', metadata: [] }, assistant: 'yo' }, says: 'user.metadata: expected a JSON object, received an array' },
        { route: 'turns', body: { user: 'hi', assistant: { metadata: {} } }, says: 'assistant.content: required' },
        { route: 'turns', body: { user: { content: 5 }, assistant: 'yo' }, says: 'user.content: expected a string, received a number' },
        { route: 'turns/run', body: { message: { content: 'hi', metadata: 'x' } }, says: 'message.metadata: expected a JSON object, received a string' },
        { route: 'streamed-turns', body: { message: { content: 'hi', metadata: null } }, says: 'message.metadata: expected a JSON object, received null' },
      ];
      for (const { route, body, says } of cases) {
        const answer = await f.call('POST', `/v1/conversations/${id}/${route}`, { token, body });
        const field = says.slice(0, says.indexOf(':'));
        expect([answer.status, answer.body.error.details.field, answer.body.error.message], `${route} ${JSON.stringify(body)}`).toEqual([400, field, says]);
      }
      // The library names the same field with the same words (docs/errors.md: both front doors word a field alike).
      const library = await caught(() => f.store().turns.append(user, id, { user: { content: 'hi', metadata: [] as never }, assistant: 'yo' }));
      expect([library.details?.['field'], library.message]).toEqual(['user.metadata', 'user.metadata: expected a JSON object, received an array']);
      expect((await f.store().messages.list(user, id)).messages).toEqual([]);
    });

    it('a message that is neither a string nor an object still gets the one message naming both forms', async () => {
      const { token, id } = await conversation();
      const answer = await f.call('POST', `/v1/conversations/${id}/turns`, { token, body: { user: [], assistant: 'yo' } });
      expect([answer.status, answer.body.error.message]).toEqual([400, 'user: expected a string or { content, metadata }, received an array']);
    });

    it('a request Node cannot parse is answered in the one error shape, with a request id', async () => {
      const answer = await rawRequest(f.url(), 'GARBAGE\r\n\r\n');
      const [head = '', body = ''] = answer.split('\r\n\r\n');
      expect(head.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
      const parsed = JSON.parse(body) as { error: { code: string; details: { field?: string }; requestId: string } };
      expect(parsed.error).toMatchObject({ code: 'CK_VALIDATION', details: { field: 'request' } });
      expect(parsed.error.requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(head.toLowerCase()).toContain(`x-request-id: ${parsed.error.requestId}`);
    });

    it('headers over Node’s size limit are a 400 in the one error shape naming the headers', async () => {
      const answer = await rawRequest(f.url(), `GET /v1/me HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
      const [head = '', body = ''] = answer.split('\r\n\r\n');
      expect(head.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
      expect(JSON.parse(body)).toMatchObject({ error: { code: 'CK_VALIDATION', details: { field: 'headers' } } });
    });

    it('an admin token that cannot be sent as a bearer token (white space, empty) is a CK_CONFIG error naming it', async () => {
      for (const adminToken of ['admin-token\n', ' admin-token', 'admin token', '']) {
        const error = await caught(() => buildServer(f.store(), { auth: { ...TEST_JWT_AUTH, adminToken }, agent, logger: false }));
        expect(error, JSON.stringify(adminToken)).toMatchObject({ code: 'CK_CONFIG', details: { field: 'adminToken' } });
      }
    });

    it('agentTimeoutMs and abandonAfterMs the store would refuse on every turn are CK_CONFIG errors naming them', async () => {
      const bad: [keyof ServerOptions, number][] = [
        ['agentTimeoutMs', 0],
        ['agentTimeoutMs', 1.5],
        ['agentTimeoutMs', 3_600_001],
        ['abandonAfterMs', 999],
        ['abandonAfterMs', 86_400_001],
      ];
      for (const [field, value] of bad) {
        const error = await caught(() => buildServer(f.store(), { auth: TEST_JWT_AUTH, agent, logger: false, [field]: value }));
        expect(error, `${field} ${value}`).toMatchObject({ code: 'CK_CONFIG', details: { field } });
      }
    });

    it('an Idempotency-Key header sent twice is a 400 naming idempotencyKey, and writes nothing', async () => {
      const { user, token, id } = await conversation();
      // Node joins repeated headers with ", ": the key became "k1, k1", a key never used, so a retry
      // whose header a proxy or client library repeated was stored a second time.
      const answer = await new Promise<{ status: number; body: any }>((resolve, reject) => {
        const { hostname, port } = new URL(f.url());
        const body = JSON.stringify({ user: 'hi', assistant: 'yo' });
        const req = httpRequest(
          { host: hostname, port, method: 'POST', path: `/v1/conversations/${id}/turns`, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': ['k1', 'k1'] } },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (text += chunk));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      expect([answer.status, answer.body.error?.details?.field]).toEqual([400, 'idempotencyKey']);
      expect((await f.store().messages.list(user, id)).messages).toEqual([]);
    });
  });

  describe.skipIf(backend.skip)(`${backend.name}: the request log of a client that hangs up`, () => {
    const store = useStore(backend.name);

    it('a stream whose client hangs up mid-reply still gets its one request line, marked clientClosed', async () => {
      const lines: Record<string, unknown>[] = [];
      const sink = new Writable({
        write(chunk: Buffer, _encoding, done) {
          for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
          done();
        },
      });
      const server = await buildServer(store.get(), {
        auth: TEST_JWT_AUTH,
        agent: { name: 'demo', run: demoAgent, stream: demoStreamingAgent({ delayMs: 200 }) },
        logger: { level: 'info', stream: sink },
      });
      try {
        const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
        const user = newUser('hang-up-log');
        const token = await jwtFor(user);
        const { id } = await store.get().conversations.create(user);
        const path = `/v1/conversations/${id}/turns/stream`;
        const stream = openEventStream(`${url}${path}`, { token, body: { message: 'a question that takes a while to answer' } });
        await stream.next('text');
        stream.cancel();
        await stream.done.catch(() => undefined);
        const logged = () => lines.filter((l) => l['msg'] === 'request' && l['url'] === path);
        for (const deadline = Date.now() + 5_000; logged().length === 0 && Date.now() < deadline; ) await sleep(20);
        // A finished stream's line must not be doubled by the one for hang-ups.
        await sleep(200);
        expect(logged()).toHaveLength(1);
        expect(logged()[0]).toMatchObject({ method: 'POST', status: 200, user, clientClosed: true });
        const done = await fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ message: 'hi' }) });
        await done.text();
        await sleep(200);
        expect(logged()).toHaveLength(2);
        expect(logged()[1]).not.toHaveProperty('clientClosed');
      } finally {
        await server.close();
      }
    });
  });
}
