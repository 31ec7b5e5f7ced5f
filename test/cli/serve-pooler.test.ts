import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatkeepSchemas } from '../support/backends.js';
import { PGBOUNCER_SKIP, pooledDatabaseSuite } from '../support/pgbouncer.js';
import { openEventStream } from '../support/sse-client.js';
import { assertBuilt, chatkeep } from './cli-process.js';
import { bannerAndAfter, call, killLeftoverServers, serve } from './serve-process.js';

/**
 * `chatkeep serve --pooler transaction` as users run it: a real process on a
 * real port, its database reached through a real PgBouncer in transaction
 * mode with three server sessions for the server's connections, so
 * consecutive statements of one request may run on different ones. The
 * schema is installed directly (`migrate up` needs a session of its own);
 * serve then must not migrate, must not issue the first-run demo key (this
 * start installed nothing), and must serve turns, streams and reads until
 * SIGTERM drains it. Undeclared, the same URL is refused as a usage error.
 */
afterAll(killLeftoverServers);

describe.skipIf(PGBOUNCER_SKIP)('chatkeep serve --pooler transaction, through PgBouncer in transaction mode', () => {
  const fx = pooledDatabaseSuite('transaction', { poolSize: 3 });
  beforeAll(assertBuilt);

  it('before the schema is installed it migrates nothing through the pooler and serves nothing (exit 1, CK_SCHEMA_NOT_READY)', async () => {
    const run = await chatkeep(['--database-url', fx.url, 'serve', '--port', '0', '--pooler', 'transaction']);
    expect([run.code, run.stderr]).toEqual([1, expect.stringMatching(/^error \[CK_SCHEMA_NOT_READY\]: .*migrate up` against PostgreSQL itself/m)]);
    expect(run.stdout).not.toContain('listening on');
    expect(await chatkeepSchemas(fx.database.url)).toEqual([]);
  });

  it('migrated directly: serves concurrent and replayed turns, a streamed turn, reads and /readyz, issues no demo key, and drains on SIGTERM (exit 0)', async () => {
    const migrate = await chatkeep(['--database-url', fx.database.url, 'migrate', 'up']);
    expect(migrate.code, migrate.stderr).toBe(0);
    const keyFor = async (user: string): Promise<string> => {
      const run = await chatkeep(['keys', 'create', '--user', user, '--database-url', fx.url, '--pooler', 'transaction', '--json']);
      expect(run.code, run.stderr).toBe(0);
      return (JSON.parse(run.stdout) as { secret: string }).secret;
    };
    const [key, otherKey] = await Promise.all([keyFor('pooled-serve'), keyFor('pooled-other')]);

    const server = await serve(['--database-url', fx.url, '--pooler', 'transaction']);
    let stopped = false;
    try {
      const { banner } = bannerAndAfter(server.stdout());
      // It did not migrate (no "applied" progress) and, having installed nothing, issued no demo key.
      expect(server.stdout()).not.toMatch(/^applied /m);
      expect(server.stdout()).not.toContain('First run');
      expect(server.stdout()).not.toMatch(/ck_[0-9a-f]{8}_/);
      expect(banner.join('\n')).toContain('a token for a user: `chatkeep keys create --user <user>`');

      const ready = await fetch(`${server.url}/readyz`);
      expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready', database: 'postgres', agent: 'demo' }]);

      const created = await call(server.url, 'POST', '/v1/conversations', key, { title: 'served through a transaction pooler' });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const id = created.body.id as string;
      const turn = (i: number) =>
        call(server.url, 'POST', `/v1/conversations/${id}/turns`, key, { user: `q${i}`, assistant: `a${i}`, idempotencyKey: `k${i}` });
      const first = await Promise.all(Array.from({ length: 24 }, (_, i) => turn(i)));
      expect(first.map((r) => r.status)).toEqual(Array(24).fill(201));
      // Retries with the same keys, all at once: the stored turns come back (200), nothing new is written.
      const replays = await Promise.all(Array.from({ length: 24 }, (_, i) => turn(i)));
      expect(replays.map((r) => r.status)).toEqual(Array(24).fill(200));
      expect(replays.map((r) => r.body.id)).toEqual(first.map((r) => r.body.id));

      const stream = openEventStream(`${server.url}/v1/conversations/${id}/turns/stream`, { token: key, body: { message: 'stream this' } });
      const streamed = await stream.done;
      expect(streamed.map((e) => e.event)).toEqual(expect.arrayContaining(['begin', 'text', 'commit']));
      expect(streamed.at(-1)?.event).toBe('commit');

      // Many reads at once, each on whatever server session PgBouncer hands it.
      const pages = await Promise.all(Array.from({ length: 8 }, () => call(server.url, 'GET', `/v1/conversations/${id}/messages?limit=100`, key)));
      for (const page of pages) {
        expect(page.status).toBe(200);
        expect(page.body.messages.map((m: { seq: number }) => m.seq)).toEqual(Array.from({ length: 50 }, (_, k) => k + 1));
      }
      const messages = pages[0]!.body.messages as { role: string; content: string }[];
      expect(messages.slice(0, 2)).toMatchObject([{ role: 'user', content: 'q0' }, { role: 'assistant' }]);
      expect(messages.slice(-2)).toMatchObject([{ role: 'user', content: 'stream this' }, { role: 'assistant' }]);
      expect((await call(server.url, 'GET', `/v1/conversations/${id}/messages`, otherKey)).status).toBe(404);

      // SIGTERM with a streamed turn in flight: it finishes and is stored, then the process exits 0.
      const inFlight = openEventStream(`${server.url}/v1/conversations/${id}/turns/stream`, { token: key, body: { message: 'finish me' } });
      await inFlight.next('begin');
      server.child.kill('SIGTERM');
      stopped = true;
      expect((await inFlight.done).at(-1)?.event).toBe('commit');
      expect(await server.exited, server.stderr()).toBe(0);
      expect(server.stderr()).toContain('chatkeep serve: stopped; every in-flight turn finished');
    } finally {
      if (!stopped) {
        server.child.kill('SIGTERM');
        await server.exited;
      }
    }
    const direct = new pg.Client({ connectionString: fx.database.url });
    await direct.connect();
    try {
      const { rows } = await direct.query<{ n: string }>("select count(*) as n from chatkeep.messages where user_id = 'pooled-serve'");
      expect(rows[0]?.n).toBe('52');
    } finally {
      await direct.end();
    }
  });

  it('the same URL without --pooler: exit 2 with the pooler message, and nothing is served', async () => {
    const run = await chatkeep(['--database-url', fx.url, 'serve', '--port', '0']);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toContain('looks like a connection pooler in transaction or statement mode');
    expect(run.stdout).not.toContain('listening on');
  });
});
