import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoAgent, demoStreamingAgent, openStore, type Store } from '../../src/index.js';
import { buildServer, type ChatkeepServer } from '../../src/server/index.js';
import { JWT_SECRET, jwtFor } from '../support/server-fixture.js';

/**
 * Structured logs: one JSON line per request with its id, status, time and
 * acting user — and never what anyone wrote (chat content is personal data).
 */
describe('request logs', () => {
  const lines: Record<string, unknown>[] = [];
  let raw = '';
  let store: Store;
  let server: ChatkeepServer;
  let url = '';
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        raw += chunk.toString();
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    store = await openStore({ dataDir: 'memory://' });
    server = await buildServer(store, {
      auth: { jwtSecret: JWT_SECRET },
      agent: { name: 'demo', run: demoAgent, stream: demoStreamingAgent({ delayMs: 0 }) },
      logger: { level: 'info', stream: sink },
    });
    url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server.close();
    await store.close();
  });

  it('one line per request, with request id, status, duration and user, and no message content', async () => {
    const token = await jwtFor('logged-user');
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-request-id': 'trace-abc-123' };
    const created = (await (await fetch(`${url}/v1/conversations`, { method: 'POST', headers, body: '{}' })).json()) as { id: string };
    const secret = 'my bank PIN is quokka-4921';
    await fetch(`${url}/v1/conversations/${created.id}/turns`, { method: 'POST', headers, body: JSON.stringify({ user: secret, assistant: `noted: ${secret}` }) });
    await fetch(`${url}/v1/conversations/${created.id}/turns/stream`, { method: 'POST', headers, body: JSON.stringify({ message: secret }) }).then((r) => r.text());
    await fetch(`${url}/v1/conversations/${created.id}/turns`, { method: 'POST', headers, body: JSON.stringify({ user: '', assistant: secret }) });

    const requests = lines.filter((l) => l['msg'] === 'request');
    expect(requests.map((l) => [l['method'], l['status']])).toEqual([
      ['POST', 201],
      ['POST', 201],
      ['POST', 200],
      ['POST', 400],
    ]);
    for (const line of requests) {
      expect(line).toMatchObject({ reqId: 'trace-abc-123', user: 'logged-user', level: 30 });
      expect(typeof line['ms']).toBe('number');
    }
    expect(raw).not.toContain('quokka');
    expect(raw).not.toContain(token);
  });

  // An identity provider whose subs are URIs (allowed by RFC 7519) or hold a `/` or `#`: every
  // request is a 401 like any bad token, so the operator needs the reason in the log.
  it('a verified JWT whose sub is no valid user id: the same 401, and one warn line with the rule, never the sub or token', async () => {
    for (const sub of ['https://idp.example.test/u/1', 'user#7']) {
      const token = await jwtFor(sub);
      const before = lines.length;
      const reply = await fetch(`${url}/v1/me`, { headers: { authorization: `Bearer ${token}` } });
      expect(reply.status).toBe(401);
      expect(((await reply.json()) as { error: { message: string } }).error.message).toBe('A valid bearer token is required');
      const warnings = lines.slice(before).filter((l) => l['level'] === 40);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!['msg']).toBe(
        'a verified JWT was refused: its sub is not a valid user id (expected 1–128 characters: letters, digits and . _ : @ | + = -, starting with a letter or digit)',
      );
      expect(raw).not.toContain(sub);
      expect(raw).not.toContain(token);
    }
    // A forged token is no such line: the log does not confirm a guess either.
    const before = lines.length;
    expect((await fetch(`${url}/v1/me`, { headers: { authorization: `Bearer ${(await jwtFor('user#7')).slice(0, -4)}AAAA` } })).status).toBe(401);
    expect(lines.slice(before).filter((l) => l['level'] === 40)).toEqual([]);
  });
});

describe('failed-authentication log', () => {
  it('an address that reaches the failed-authentication limit is logged once, at warn, with its address and never the tokens', async () => {
    const lines: Record<string, unknown>[] = [];
    let raw = '';
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        raw += chunk.toString();
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const store = await openStore({ dataDir: 'memory://' });
    const server = await buildServer(store, {
      auth: { jwtSecret: JWT_SECRET },
      agent: { name: 'demo', run: demoAgent, stream: demoStreamingAgent({ delayMs: 0 }) },
      logger: { level: 'info', stream: sink },
      authFailureLimit: { max: 3, windowMs: 60_000 },
    });
    try {
      const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const reply = await fetch(`${url}/v1/me`, { headers: { authorization: `Bearer ck_guess${i}_secretish` } });
        statuses.push(reply.status);
      }
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
      const refusals = lines.filter((l) => l['msg'] === 'address refused after repeated failed authentications');
      expect(refusals).toHaveLength(1);
      expect(refusals[0]).toMatchObject({ level: 40, ip: '127.0.0.1', failures: 3, refusedForSeconds: 60 });
      expect(raw).not.toContain('secretish');
    } finally {
      await server.close();
      await store.close();
    }
  });
});
