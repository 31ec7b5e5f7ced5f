import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, createPgDatabase } from '../support/backends.js';
import { startOpenAiStandIn } from '../support/openai-stand-in.js';
import { JWT_SECRET } from '../support/server-fixture.js';
import { openEventStream } from '../support/sse-client.js';
import { assertBuilt, chatkeep, target } from './cli-process.js';
import { bannerAndAfter, call, killLeftoverServers, listeningLogPids, serve } from './serve-process.js';

/**
 * `chatkeep serve` as users run it: a real process on a real port. It is
 * killed with SIGKILL in the middle of a streamed turn (nothing may be left
 * half-visible after a restart), and stopped with SIGTERM under load (every
 * in-flight turn must finish and be stored).
 */
afterAll(killLeftoverServers);

describe('chatkeep serve: usage', () => {
  it('--agent openai without a model is a usage error (exit 2) before anything is opened', async () => {
    assertBuilt();
    const run = await chatkeep(['--data-dir', join(tmpdir(), 'chatkeep-never-created'), 'serve', '--agent', 'openai']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--agent openai needs --openai-model');
  });

  it('a short --jwt-secret or --admin-token or a malformed --jwks-url / --openai-base-url is a usage error naming the option; nothing is created or migrated', async () => {
    assertBuilt();
    const dir = mkdtempSync(join(tmpdir(), 'chatkeep-serve-usage-'));
    try {
      const data = join(dir, 'data');
      const [secret, secretFromEnv, jwks, openai, admin, adminFromEnv] = await Promise.all([
        chatkeep(['--data-dir', data, 'serve', '--jwt-secret', 'too-short-secret']),
        chatkeep(['--data-dir', data, 'serve'], { CHATKEEP_JWT_SECRET: 'too-short-secret' }),
        chatkeep(['--data-dir', data, 'serve', '--jwks-url', 'not a url']),
        chatkeep(['--data-dir', data, 'serve', '--agent', 'openai', '--openai-model', 'm', '--openai-base-url', 'ftp://models.example/v1']),
        // A guessable admin token would open every user's data.
        chatkeep(['--data-dir', data, 'serve', '--admin-token', 'shorty-tok']),
        chatkeep(['--data-dir', data, 'serve'], { CHATKEEP_ADMIN_TOKEN: 'fifteen-chars..' }),
      ]);
      for (const run of [admin, adminFromEnv]) {
        expect(run.code, run.stderr).toBe(2);
        expect(run.stderr).toMatch(/^error: --admin-token \(or CHATKEEP_ADMIN_TOKEN\) must be at least 16 characters, it has (10|15)/m);
        expect(run.stderr).not.toMatch(/shorty-tok|fifteen-chars/); // a secret is never echoed
      }
      for (const run of [secret, secretFromEnv]) {
        expect(run.code, run.stderr).toBe(2);
        expect(run.stderr).toMatch(/^error: --jwt-secret \(or CHATKEEP_JWT_SECRET\) must be at least 32 bytes/m);
        expect(run.stderr).not.toContain('too-short-secret'); // a secret is never echoed
      }
      expect(jwks.code, jwks.stderr).toBe(2);
      expect(jwks.stderr).toMatch(/^error: --jwks-url \(or CHATKEEP_JWKS_URL\): expected an http:\/\/ or https:\/\/ URL/m);
      expect(openai.code, openai.stderr).toBe(2);
      expect(openai.stderr).toMatch(/^error: --openai-base-url \(or CHATKEEP_OPENAI_BASE_URL\): expected an http:\/\/ or https:\/\/ URL/m);
      expect(existsSync(data), 'the data folder was created for a usage error').toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a bad --auth-failure-limit, --trust-proxy or --rate-limit-scope (flag or environment) is a usage error naming the option; nothing is created', async () => {
    assertBuilt();
    const data = join(tmpdir(), `chatkeep-never-created-${process.pid}`);
    const serveWith = async (name: string, args: string[], env: Record<string, string> = {}) => ({ name, run: await chatkeep(['--data-dir', data, 'serve', ...args], env) });
    const runs = await Promise.all([
      ...['x', '-1', '1.5', '1000001'].map((value) => serveWith('--auth-failure-limit', ['--auth-failure-limit', value])),
      serveWith('--auth-failure-limit', [], { CHATKEEP_AUTH_FAILURE_LIMIT: 'many' }),
      ...['10.0.0.0/33', 'proxy.example', ',', 'loopback,::1/129'].map((value) => serveWith('--trust-proxy', ['--trust-proxy', value])),
      serveWith('--trust-proxy', [], { CHATKEEP_TRUST_PROXY: '10.0.0.1/8/8' }),
    ]);
    for (const { name, run } of runs) {
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toContain(`${name}: `);
    }
    for (const run of [
      await chatkeep(['--data-dir', data, 'serve', '--rate-limit-scope', 'cluster']),
      await chatkeep(['--data-dir', data, 'serve'], { CHATKEEP_RATE_LIMIT_SCOPE: 'machine' }),
    ]) {
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(/option '--rate-limit-scope <scope>' (argument|value) '\w+'.* is invalid\. Allowed choices are server, database/);
    }
    expect(existsSync(data), 'the data folder was created for a usage error').toBe(false);
  });

  it('a port that is taken is refused with a sentence naming --port (exit 1), not an internal error, before the database is opened: a new data folder is not created', async () => {
    assertBuilt();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const dir = mkdtempSync(join(tmpdir(), 'chatkeep-serve-port-'));
    try {
      const { port } = blocker.address() as AddressInfo;
      const data = join(dir, 'data');
      const run = await chatkeep(['--data-dir', data, 'serve', '--port', String(port), '--log-level', 'silent']);
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toMatch(new RegExp(`^error: cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use; .*--port \\(or PORT\\) \\(EADDRINUSE\\)$`, 'm'));
      expect(run.stderr).not.toContain('CK_INTERNAL');
      expect(run.stdout, 'nothing was migrated').toBe('');
      expect(existsSync(data), 'the data folder was created for a port that is taken').toBe(false);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a --host that is not this machine, or no host at all, is refused with a sentence naming --host (exit 1) before the database is opened', async () => {
    assertBuilt();
    const dir = mkdtempSync(join(tmpdir(), 'chatkeep-serve-host-'));
    try {
      const data = join(dir, 'data');
      for (const [host, why] of [
        // TEST-NET-1 (RFC 5737): an address no interface of this machine has.
        ['192.0.2.1', 'no network interface of this machine has that address; check --host \\(or CHATKEEP_HOST\\) \\(EADDRNOTAVAIL\\)'],
        // .invalid never resolves (RFC 2606); a machine without a reachable resolver says EAI_AGAIN instead.
        ['no-such-host.invalid', '(no such address or host name|the host name could not be resolved); check --host \\(or CHATKEEP_HOST\\) \\((ENOTFOUND|EAI_AGAIN)\\)'],
      ] as const) {
        const run = await chatkeep(['--data-dir', data, 'serve', '--host', host, '--port', '8787', '--log-level', 'silent']);
        expect(run.code, run.stderr).toBe(1);
        expect(run.stderr).toMatch(new RegExp(`^error: cannot listen on ${host.replaceAll('.', '\\.')}:8787: ${why}$`, 'm'));
        expect(existsSync(data), `the data folder was created for --host ${host}`).toBe(false);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: chatkeep serve`, () => {
    let location: string[] = [];
    const cleanups: (() => Promise<void>)[] = [];
    let key = '';
    beforeAll(async () => {
      assertBuilt();
      if (backend.name === 'postgres') {
        const db = await createPgDatabase();
        cleanups.push(db.drop);
        location = target({ url: db.url });
      } else {
        const dir = mkdtempSync(join(tmpdir(), 'chatkeep-serve-'));
        cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
        location = target({ dataDir: join(dir, 'data') });
      }
    });
    afterAll(async () => {
      for (const c of cleanups) await c();
    });
    /** A database chatkeep was never installed in, dropped after the suite. */
    async function newLocation(): Promise<string[]> {
      if (backend.name === 'postgres') {
        const db = await createPgDatabase();
        cleanups.push(db.drop);
        return target({ url: db.url });
      }
      const dir = mkdtempSync(join(tmpdir(), 'chatkeep-serve-new-'));
      cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
      return target({ dataDir: join(dir, 'data') });
    }
    /** A key for "serve-tester", issued by the CLI once (the first-run test erases its demo key). */
    async function apiKey(): Promise<string> {
      if (key === '') {
        const run = await chatkeep([...location, 'keys', 'create', '--user', 'serve-tester', '--json']);
        expect(run.code, run.stderr).toBe(0);
        key = (JSON.parse(run.stdout) as { secret: string }).secret;
      }
      return key;
    }

    // Two server starts (the first installs the schema) and two CLI runs: past 60 s on a busy 2-core machine.
    it('the first run issues a demo API key and prints commands that work as printed; once its keys are erased, a restart issues none', { timeout: 120_000 }, async () => {
      const server = await serve(location);
      try {
        const printed = /Bearer (ck_[0-9a-f]{8}_[A-Za-z0-9_-]{43})" (http:\/\/\S+\/v1\/conversations)/.exec(server.stdout());
        expect(printed).not.toBeNull();
        const demoKey = printed![1]!;
        const created = await fetch(printed![2]!, { method: 'POST', headers: { authorization: `Bearer ${demoKey}` } });
        expect(created.status).toBe(201);
        expect((await call(server.url, 'GET', '/v1/me', demoKey)).body).toEqual({ userId: 'demo-user', authMethod: 'api-key' });
        expect((await fetch(`${server.url}/v1/conversations`)).status).toBe(401);
        // The demo user erases itself: the database holds no API key again, but it is no longer new.
        expect((await call(server.url, 'DELETE', '/v1/me', demoKey)).status).toBe(200);
      } finally {
        server.child.kill('SIGTERM');
        expect(await server.exited).toBe(0);
      }
      const noKeys = await chatkeep([...location, 'keys', 'list', '--user', 'demo-user', '--json']);
      expect([noKeys.code, noKeys.stdout.trim()], noKeys.stderr).toEqual([0, '[]']);
      const again = await serve(location);
      try {
        expect(again.stdout()).not.toContain('First run');
        expect(again.stdout()).not.toMatch(/ck_[0-9a-f]{8}_/);
        expect(again.stdout()).toContain('a token for a user');
        // No --admin-token: the admin routes are off, so the hint must say how to turn them on.
        expect(again.stdout()).toMatch(/a token for a user: `chatkeep keys create --user <user>`.*, or restart with --admin-token and POST /);
      } finally {
        again.child.kill('SIGTERM');
        expect(await again.exited).toBe(0);
      }
      const stillNoKeys = await chatkeep([...location, 'keys', 'list', '--user', 'demo-user', '--json']);
      expect([stillNoKeys.code, stillNoKeys.stdout.trim()], stillNoKeys.stderr).toEqual([0, '[]']);
    });

    for (const variant of [
      { given: '--jwt-secret', args: ['--jwt-secret', JWT_SECRET], env: {} },
      // Never fetched: the key set is loaded by the first JWT to verify.
      { given: 'CHATKEEP_JWKS_URL', args: [], env: { CHATKEEP_JWKS_URL: 'http://127.0.0.1:9/.well-known/jwks.json' } },
      { given: '--no-demo-key', args: ['--no-demo-key'], env: {} },
      { given: 'CHATKEEP_NO_DEMO_KEY', args: [], env: { CHATKEEP_NO_DEMO_KEY: '1' } },
    ]) {
      it(`${variant.given}: the start that installs the schema issues no demo key and prints none`, { timeout: 120_000 }, async () => {
        const fresh = await newLocation();
        const server = await serve(fresh, variant.args, variant.env);
        try {
          // This start installed the schema: without the option it would have issued the key.
          expect(server.stdout()).toMatch(/^applied {2}0001 /m);
          expect(server.stdout()).not.toContain('First run');
          expect(server.stdout()).not.toMatch(/ck_[0-9a-f]{8}_/);
          expect(server.stdout()).toContain('a token for a user: `chatkeep keys create --user <user>`');
        } finally {
          server.child.kill('SIGTERM');
          expect(await server.exited).toBe(0);
        }
        const keys = await chatkeep([...fresh, 'keys', 'list', '--user', 'demo-user', '--json']);
        expect([keys.code, keys.stdout.trim()], keys.stderr).toEqual([0, '[]']);
      });
    }

    // Whether a start installs chatkeep is the first migration, not "some migration ran": a start that only
    // upgrades a schema installed earlier (by an older chatkeep, or `migrate up` in a deploy step) is no first try.
    it('a start that applies only later migrations to a schema installed earlier issues no demo key', async () => {
      const fresh = await newLocation();
      const installed = await chatkeep([...fresh, 'migrate', 'up', '--to', '1']);
      expect(installed.code, installed.stderr).toBe(0);
      const server = await serve(fresh);
      try {
        expect(server.stdout()).toMatch(/^applied {2}0002 /m);
        expect(server.stdout()).not.toMatch(/^applied {2}0001 /m);
        expect(server.stdout()).not.toContain('First run');
        expect(server.stdout()).not.toMatch(/ck_[0-9a-f]{8}_/);
      } finally {
        server.child.kill('SIGTERM');
        expect(await server.exited).toBe(0);
      }
      const keys = await chatkeep([...fresh, 'keys', 'list', '--user', 'demo-user', '--json']);
      expect([keys.code, keys.stdout.trim()], keys.stderr).toEqual([0, '[]']);
    });

    it('the banner comes out whole: the JSON "Server listening at" log line follows it, once', async () => {
      const server = await serve(location, ['--log-level', 'info']);
      try {
        await expect.poll(() => listeningLogPids(server.stdout()), { timeout: 5000, interval: 50 }).toEqual([server.child.pid]);
        const { banner, after } = bannerAndAfter(server.stdout());
        expect(banner.filter((line) => line.startsWith('{')), server.stdout()).toEqual([]);
        expect(listeningLogPids(after.join('\n'))).toEqual([server.child.pid]);
        expect(after.find((line) => line.includes('Server listening at'))).toContain(`at ${server.url}"`);
      } finally {
        server.child.kill('SIGTERM');
        expect(await server.exited).toBe(0);
      }
    });

    it('--sse-heartbeat: a model that stalls mid-reply gets keep-alive comments on the client\'s stream, and the client that leaves stores nothing', async () => {
      const key = await apiKey();
      const model = await startOpenAiStandIn();
      const server = await serve(location, ['--sse-heartbeat', '200', '--agent', 'openai', '--openai-base-url', model.url, '--openai-model', 'stand-in', '--openai-api-key', 'sk-test']);
      try {
        const conversation = (await call(server.url, 'POST', '/v1/conversations', key, {})).body.id as string;
        // "stall": the stand-in streams one word, then nothing.
        const stream = openEventStream(`${server.url}/v1/conversations/${conversation}/turns/stream`, { token: key, body: { message: 'stall please' } });
        const begin = await stream.next('begin');
        await stream.next('text');
        await expect.poll(() => stream.comments.filter((at) => at === 2).length, { timeout: 10_000, interval: 50 }).toBeGreaterThanOrEqual(2);
        stream.cancel();
        await stream.done;
        await expect.poll(async () => (await call(server.url, 'GET', `/v1/streamed-turns/${begin.data.id}`, key)).body.state, { timeout: 5000, interval: 50 }).toBe('aborted');
        expect((await call(server.url, 'GET', `/v1/conversations/${conversation}/messages`, key)).body.messages).toEqual([]);
      } finally {
        server.child.kill('SIGTERM');
        await server.exited;
        await model.close();
      }
    });

    it('kill -9 in the middle of a streamed turn, then restart: nothing half-visible, the turn is aborted', async () => {
      const key = await apiKey();
      let server = await serve(location);
      const conversation = (await call(server.url, 'POST', '/v1/conversations', key, {})).body.id as string;
      const stream = openEventStream(`${server.url}/v1/conversations/${conversation}/turns/stream`, { token: key, body: { message: 'a long answer please' } });
      const begin = await stream.next('begin');
      await stream.next('text');
      server.child.kill('SIGKILL');
      await server.exited;
      await stream.done;
      server = await serve(location);
      try {
        const history = await call(server.url, 'GET', `/v1/conversations/${conversation}/messages`, key);
        expect(history.body.messages).toEqual([]);
        expect((await call(server.url, 'GET', `/v1/conversations/${conversation}`, key)).body.messageCount).toBe(0);
        // The reserved turn is swept once its abandon timeout (2 s here) has passed.
        await expect
          .poll(async () => (await call(server.url, 'GET', `/v1/streamed-turns/${begin.data.id}`, key)).body.state, { timeout: 8000, interval: 250 })
          .toBe('aborted');
        const late = await call(server.url, 'POST', `/v1/streamed-turns/${begin.data.id}/commit`, key, { content: 'too late' });
        expect(late.body.error.code).toBe('CK_TURN_FINISHED');
        expect((await call(server.url, 'GET', `/v1/conversations/${conversation}/messages`, key)).body.messages).toEqual([]);
      } finally {
        server.child.kill('SIGTERM');
        await server.exited;
      }
    });

    it('SIGTERM under load: every in-flight streamed turn finishes and is stored; new requests are refused', async () => {
      const key = await apiKey();
      let server = await serve(location);
      const conversation = (await call(server.url, 'POST', '/v1/conversations', key, {})).body.id as string;
      const streams = Array.from({ length: 8 }, (_, i) =>
        openEventStream(`${server.url}/v1/conversations/${conversation}/turns/stream`, { token: key, body: { message: `question ${i}` } }),
      );
      await Promise.all(streams.map((s) => s.next('begin')));
      server.child.kill('SIGTERM');
      // Knock once the server says it drains (it stops taking requests in the same tick): a fixed pause
      // could end before a busy child has even handled the signal. The draining server must not take new turns.
      await expect.poll(() => server.stderr(), { timeout: 10_000, interval: 10 }).toContain('draining in-flight turns');
      const knock = await fetch(`${server.url}/v1/conversations`, { method: 'POST', headers: { authorization: `Bearer ${key}` } }).then(
        (r) => r.status,
        () => 'refused',
      );
      expect([503, 'refused']).toContain(knock);
      const results = await Promise.all(streams.map((s) => s.done));
      for (const events of results) expect(events.at(-1)?.event).toBe('commit');
      expect(await server.exited).toBe(0);
      server = await serve(location);
      try {
        const history = await call(server.url, 'GET', `/v1/conversations/${conversation}/messages?limit=100`, key);
        expect(history.body.messages).toHaveLength(16);
        const questions = history.body.messages.filter((m: any) => m.role === 'user').map((m: any) => m.content).sort();
        expect(questions).toEqual(Array.from({ length: 8 }, (_, i) => `question ${i}`).sort());
        expect(history.body.messages.map((m: any) => m.seq)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
      } finally {
        server.child.kill('SIGTERM');
        await server.exited;
      }
    });
  });
}
