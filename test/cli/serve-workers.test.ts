import { createServer, request } from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, createPgDatabase } from '../support/backends.js';
import { openEventStream } from '../support/sse-client.js';
import { assertBuilt, chatkeep, target } from './cli-process.js';
import { bannerAndAfter, call, killLeftoverServers, listeningLogPids, serve, type RunningServer } from './serve-process.js';
import { alive, childPids } from './worker-processes.js';

/**
 * `chatkeep serve --workers N` (issue 3): N processes serve one port on
 * PostgreSQL. A user's rate limit holds across all of them, a worker that
 * dies is replaced, the workers of a killed primary go away, and SIGTERM
 * under load still finishes every in-flight turn.
 */
afterAll(killLeftoverServers);

/** A GET on a connection of its own (no keep-alive), so the cluster hands each one to the next worker. */
function freshGet(url: string, path: string, token: string): Promise<{ status: number; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { agent: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path}: no answer in 10 s`)));
    req.end();
  });
}

/** The pids in the server's JSON request log lines for `path`. */
function servingPids(server: RunningServer, path: string): Set<number> {
  const pids = server
    .stdout()
    .split('\n')
    .filter((line) => line.startsWith('{') && line.includes(`"url":"${path}`))
    .map((line) => (JSON.parse(line) as { pid: number }).pid);
  return new Set(pids);
}

describe('chatkeep serve --workers: usage', () => {
  it('is refused on the embedded database, and a bad count is a usage error (exit 2)', async () => {
    assertBuilt();
    const never = join(tmpdir(), 'chatkeep-never-created');
    for (const embedded of [
      await chatkeep(['--data-dir', never, 'serve', '--workers', '2']),
      await chatkeep(['--data-dir', never, 'serve'], { CHATKEEP_WORKERS: '2' }),
    ]) {
      expect(embedded.code).toBe(2);
      expect(embedded.stderr).toContain('--workers needs PostgreSQL');
    }
    for (const bad of ['0', '65', 'two']) {
      const run = await chatkeep(['--database-url', 'postgres://nobody@127.0.0.1:1/none', 'serve', '--workers', bad]);
      expect(run.code, bad).toBe(2);
      expect(run.stderr).toContain('--workers: expected a whole number from 1 to 64, or "auto"');
    }
  });
});

describe('chatkeep serve --workers auto on the embedded database', () => {
  for (const [given, extra, env] of [
    ['--workers auto', ['--workers', 'auto'], {}],
    ['CHATKEEP_WORKERS=auto', [], { CHATKEEP_WORKERS: 'auto' }],
  ] as const) {
    it(`${given}: serves from one process and says why on stderr`, async () => {
      assertBuilt();
      const server = await serve(['--data-dir', 'memory://'], extra, env);
      try {
        expect(server.stderr()).toContain(
          `chatkeep serve: ${given}: serving from one process, as the embedded database lives in one process; use PostgreSQL (--database-url or DATABASE_URL) for workers\n`,
        );
        expect(server.stdout()).not.toContain('worker processes');
        expect(childPids(server.child.pid!)).toEqual([]);
        expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      } finally {
        server.child.kill('SIGTERM');
        expect(await server.exited).toBe(0);
      }
    });
  }
});

const postgres = BACKENDS.find((b) => b.name === 'postgres')!;

describe.skipIf(postgres.skip)('postgres: chatkeep serve --workers 2', () => {
  let location: string[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  let key = '';
  beforeAll(async () => {
    assertBuilt();
    const db = await createPgDatabase();
    cleanups.push(db.drop);
    location = target({ url: db.url });
    const run = await chatkeep([...location, 'migrate', 'up']);
    expect(run.code, run.stderr).toBe(0);
    const created = await chatkeep([...location, 'keys', 'create', '--user', 'worker-tester', '--json']);
    expect(created.code, created.stderr).toBe(0);
    key = (JSON.parse(created.stdout) as { secret: string }).secret;
  });
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  it('both workers serve, and a user’s rate limit counts requests on every worker', async () => {
    const server = await serve(location, ['--workers', '2', '--rate-limit', '10', '--log-level', 'info']);
    try {
      expect(server.stdout()).toContain('2 worker processes');
      expect(childPids(server.child.pid!)).toHaveLength(2);
      const answers = [];
      for (let i = 0; i < 14; i++) answers.push(await freshGet(server.url, '/v1/me', key));
      // Counted per worker, each would allow 10: all 14 would pass.
      expect(answers.map((a) => a.status)).toEqual([...Array(10).fill(200), ...Array(4).fill(429)]);
      expect(Number(answers[13]!.retryAfter)).toBeGreaterThan(0);
      expect(servingPids(server, '/v1/me')).toEqual(new Set(childPids(server.child.pid!)));
    } finally {
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    }
  });

  it('the banner comes out whole: each worker logs its "Server listening at" line after it', async () => {
    const server = await serve(location, ['--workers', '2', '--log-level', 'info']);
    try {
      const workers = childPids(server.child.pid!);
      expect(workers).toHaveLength(2);
      await expect.poll(() => listeningLogPids(server.stdout()).sort(), { timeout: 5000, interval: 50 }).toEqual([...workers].sort());
      const { banner, after } = bannerAndAfter(server.stdout());
      expect(banner.filter((line) => line.startsWith('{')), server.stdout()).toEqual([]);
      expect(listeningLogPids(after.join('\n')).sort()).toEqual([...workers].sort());
    } finally {
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    }
  });

  it(`--workers auto forks one worker per CPU core (this machine: ${availableParallelism()})`, async () => {
    const cores = Math.min(64, availableParallelism());
    const server = await serve(location, ['--workers', 'auto']);
    try {
      expect(server.stderr()).not.toContain('serving from one process');
      if (cores > 1) {
        expect(server.stdout()).toContain(`${cores} worker processes`);
        expect(childPids(server.child.pid!)).toHaveLength(cores);
      } else {
        expect(childPids(server.child.pid!)).toEqual([]);
      }
    } finally {
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    }
  });

  it('a worker killed with SIGKILL is replaced and requests keep being answered; SIGTERM then stops every worker', async () => {
    const server = await serve(location, ['--workers', '2', '--log-level', 'info']);
    const primary = server.child.pid!;
    const [victim, survivor] = childPids(primary);
    process.kill(victim!, 'SIGKILL');
    const others = () => childPids(primary).filter((pid) => pid !== survivor);
    await expect.poll(() => others().length === 1 && others()[0] !== victim, { timeout: 15_000, interval: 100 }).toBe(true);
    const replacement = others()[0]!;
    expect(server.stderr()).toMatch(new RegExp(`worker ${victim} exited \\(SIGKILL\\); starting another`));
    // Every fresh connection is answered meanwhile, and once it listens the replacement takes its share.
    await expect
      .poll(async () => {
        expect((await freshGet(server.url, '/v1/me', key)).status).toBe(200);
        return servingPids(server, '/v1/me').has(replacement);
      }, { timeout: 15_000, interval: 50 })
      .toBe(true);
    // Forked after the banner, the replacement logs its "listening" line too.
    await expect.poll(() => listeningLogPids(server.stdout()), { timeout: 5000, interval: 50 }).toContain(replacement);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect([survivor, replacement].filter((pid) => alive(pid!))).toEqual([]);
  });

  it('workers dying over and over: after more than 5 deaths in a minute the server stops with exit 1 and says why', async () => {
    const server = await serve(location, ['--workers', '2']);
    const primary = server.child.pid!;
    let kills = 0;
    while (server.child.exitCode === null && kills < 8) {
      const [victim] = childPids(primary);
      process.kill(victim!, 'SIGKILL');
      kills++;
      // Until the replacement is forked (or the primary gives up).
      await expect
        .poll(() => server.child.exitCode !== null || (childPids(primary).length === 2 && !childPids(primary).includes(victim!)), { timeout: 15_000, interval: 50 })
        .toBe(true);
    }
    expect(await server.exited).toBe(1);
    expect(kills).toBe(6);
    expect(server.stderr()).toContain('chatkeep serve: 6 workers exited within 60 s; giving up');
    expect(server.stderr().match(/starting another/g)).toHaveLength(5);
  });

  it('a port already taken fails the start with exit 1 and the bind error, found by the first process before it forks or migrates', async () => {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const port = (squatter.address() as { port: number }).port;
    const fresh = await createPgDatabase();
    try {
      const run = await chatkeep([...target({ url: fresh.url }), 'serve', '--workers', '2', '--port', String(port), '--log-level', 'warn']);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`error: cannot listen on 127.0.0.1:${port}: the port is already in use`);
      expect(run.stderr).not.toContain('CK_INTERNAL');
      expect(run.stderr, 'no worker was forked').not.toMatch(/worker \d+ exited/);
      expect(run.stdout, 'nothing was migrated').toBe('');
      const client = new pg.Client({ connectionString: fresh.url });
      await client.connect();
      try {
        const { rows } = await client.query("select 1 from information_schema.schemata where schema_name = 'chatkeep'");
        expect(rows, 'the schema was created for a port that is taken').toEqual([]);
      } finally {
        await client.end();
      }
    } finally {
      squatter.close();
      await fresh.drop();
    }
  });

  it('--rate-limit-scope database: two servers on the database (one of them with two workers) share a user\'s limit', async () => {
    const limits = ['--rate-limit', '4', '--rate-limit-scope', 'database'];
    const one = await serve(location, limits);
    const two = await serve(location, ['--workers', '2', ...limits]);
    try {
      for (const server of [one, two]) expect(server.stdout()).toContain('  rate limits: 4 requests per user per minute, counted in the database for every server on it\n');
      const created = await chatkeep([...location, 'keys', 'create', '--user', 'spread-over-servers', '--json']);
      const token = (JSON.parse(created.stdout) as { secret: string }).secret;
      // Fresh connections, so the second server's cluster hands them to both of its workers.
      const statuses = [];
      for (const url of [one.url, two.url, two.url, one.url, two.url, one.url]) statuses.push((await freshGet(url, '/v1/me', token)).status);
      expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    } finally {
      for (const server of [one, two]) server.child.kill('SIGTERM');
      expect(await one.exited).toBe(0);
      expect(await two.exited).toBe(0);
    }
  });

  /** `count` streamed turns on a new conversation of `server`, each past its `begin` event. */
  async function streamsInFlight(server: RunningServer, count: number, label: string) {
    const conversation = (await call(server.url, 'POST', '/v1/conversations', key, {})).body.id as string;
    const path = `/v1/conversations/${conversation}/turns/stream`;
    const streams = Array.from({ length: count }, (_, i) => openEventStream(`${server.url}${path}`, { token: key, body: { message: `${label} ${i}` } }));
    await Promise.all(streams.map((s) => s.next('begin')));
    return { conversation, path, streams };
  }

  /** The seqs of `conversation`'s stored messages, read through a fresh server (on `port`, when given). */
  async function storedSeqs(conversation: string, port?: string): Promise<number[]> {
    const again = await serve(location, port === undefined ? [] : ['--port', port]);
    try {
      const history = await call(again.url, 'GET', `/v1/conversations/${conversation}/messages?limit=100`, key);
      return (history.body.messages as { seq: number }[]).map((m) => m.seq);
    } finally {
      again.child.kill('SIGTERM');
      await again.exited;
    }
  }

  it('SIGTERM to the whole process group (systemd, kill -- -pgid): the workers still drain their turns and the server exits 0', async () => {
    const server = await serve(location, ['--workers', '2', '--log-level', 'info']);
    const { streams } = await streamsInFlight(server, 4, 'group');
    const workers = childPids(server.child.pid!);
    expect(workers).toHaveLength(2);
    // What a signal to the group does: every process gets it, and the primary then sends its own.
    for (const pid of [server.child.pid!, ...workers]) process.kill(pid, 'SIGTERM');
    const results = await Promise.all(streams.map((s) => s.done));
    for (const events of results) expect(events.at(-1)?.event).toBe('commit');
    expect(await server.exited, server.stderr()).toBe(0);
    expect(server.stderr()).toContain('stopped; every in-flight turn finished');
  });

  it('a primary killed with SIGKILL: its workers finish and store their in-flight streamed turns, then exit on their own', async () => {
    const server = await serve(location, ['--workers', '2', '--log-level', 'info']);
    const { conversation, path, streams } = await streamsInFlight(server, 6, 'orphaned');
    const workers = childPids(server.child.pid!);
    expect(workers).toHaveLength(2);
    server.child.kill('SIGKILL');
    await server.exited;
    // Without the drain, Node.js's cluster ends a worker the moment its primary is gone, and these streams break off.
    const results = await Promise.all(streams.map((s) => s.done));
    for (const events of results) expect(events.at(-1)?.event).toBe('commit');
    await expect.poll(() => workers.filter(alive), { timeout: 15_000, interval: 100 }).toEqual([]);
    expect(server.stdout()).toContain('the primary process is gone: finishing the in-flight turns, then exiting');
    // Both workers had turns in flight, and the port is free again.
    expect(servingPids(server, path).size).toBe(2);
    expect(await storedSeqs(conversation, new URL(server.url).port)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  });

  it('SIGTERM under load: every in-flight streamed turn on either worker finishes and is stored', async () => {
    const server = await serve(location, ['--workers', '2', '--log-level', 'info']);
    const { conversation, path, streams } = await streamsInFlight(server, 8, 'question');
    server.child.kill('SIGTERM');
    const results = await Promise.all(streams.map((s) => s.done));
    for (const events of results) expect(events.at(-1)?.event).toBe('commit');
    expect(await server.exited).toBe(0);
    expect(server.stderr()).toContain('stopped; every in-flight turn finished');
    // The turns were spread over both workers, and both drained theirs.
    expect(servingPids(server, path).size).toBe(2);
    expect(await storedSeqs(conversation)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
  });
});
