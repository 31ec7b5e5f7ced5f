import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hotStatement, openDatabase } from '../../src/db/index.js';
import { wrapDriverError, type ChatkeepError } from '../../src/errors/index.js';
import { createPgDatabase, PG_ADMIN_URL, PG_AVAILABLE } from '../support/backends.js';

/**
 * The store reaches PostgreSQL through a TCP relay the test controls, to do
 * what a network does: go away (connections reset, new ones refused), come
 * back on the same address, or stop carrying bytes without closing anything
 * (a partition, a frozen host: no reply and no reset, until the kernel gives
 * up some 15 minutes later).
 */
class Relay {
  #server: Server | undefined;
  #sockets = new Set<Socket>();
  #frozen = false;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const [from, to] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        this.#sockets.add(from);
        from.on('data', (bytes) => void (this.#frozen || to.write(bytes)));
        from.on('error', () => undefined);
        from.on('close', () => {
          this.#sockets.delete(from);
          to.destroy();
        });
      }
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Stops listening and resets every connection. */
  async stop(): Promise<void> {
    const closed = new Promise((resolve) => this.#server?.close(resolve));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  /** Keeps every connection open but carries no byte either way (or again, with false). */
  freeze(frozen = true): void {
    this.#frozen = frozen;
  }
}

if (!PG_AVAILABLE) console.warn(`[chatkeep tests] SKIPPING unresponsive-server cases: no PostgreSQL answers at ${PG_ADMIN_URL}`);

describe.skipIf(!PG_AVAILABLE)('postgres: a server that goes away or stops answering after the open', () => {
  let created: Awaited<ReturnType<typeof createPgDatabase>>;
  let relay: Relay;
  let url: string;
  beforeAll(async () => {
    created = await createPgDatabase();
    const direct = new URL(created.url);
    relay = new Relay({ host: direct.hostname, port: Number(direct.port || '5432') });
    await relay.start();
    direct.host = `127.0.0.1:${relay.port}`;
    url = direct.toString();
  });
  afterAll(async () => {
    await relay?.stop();
    await created?.drop();
  });

  const one = hotStatement('select 1 as one');
  const outcome = (call: Promise<unknown>) =>
    call.then(
      () => 'answered',
      (error: unknown) => (wrapDriverError(error) as ChatkeepError).code,
    );

  it('gone: calls fail at once with CK_DB_UNAVAILABLE, and pass again as soon as it is back', async () => {
    const database = await openDatabase({ url, poolSize: 3, connectTimeoutMs: 2000 });
    try {
      expect(await outcome(database.hot(one, []))).toBe('answered');
      await relay.stop();
      const started = Date.now();
      expect([await outcome(sql`select 1`.execute(database.db)), await outcome(database.hot(one, []))]).toEqual(['CK_DB_UNAVAILABLE', 'CK_DB_UNAVAILABLE']);
      expect(Date.now() - started).toBeLessThan(1000);
      await relay.start();
      expect([await outcome(sql`select 1`.execute(database.db)), await outcome(database.hot(one, []))]).toEqual(['answered', 'answered']);
    } finally {
      await database.close();
    }
  });

  // close() lets calls in flight finish for its drain (30 s unless drainMs says otherwise), then ends
  // the pool; pool.end() waits for every lent connection to come back, and one whose server stopped
  // answering never did.
  it('silent: close() returns after its drain even with a call stuck on the silent server, which fails CK_DB_UNAVAILABLE', { timeout: 30_000 }, async () => {
    const database = await openDatabase({ url, poolSize: 2, connectTimeoutMs: 2000 });
    expect(await outcome(database.hot(one, []))).toBe('answered');
    // A drain that is not a whole number of milliseconds is refused, naming it, and closes nothing.
    await expect(database.close({ drainMs: -1 })).rejects.toMatchObject({ code: 'CK_CONFIG', details: { field: 'drainMs' } });
    expect(await outcome(database.hot(one, []))).toBe('answered');
    relay.freeze();
    try {
      const stuck = outcome(sql`select 1`.execute(database.db));
      await new Promise((resolve) => setTimeout(resolve, 200));
      const started = Date.now();
      const closing = database.close({ drainMs: 2000 }).then(() => 'closed');
      const closed = await Promise.race([closing, new Promise((resolve) => setTimeout(() => resolve('still closing after 12 s'), 12_000))]);
      expect(closed).toBe('closed');
      // Not before the drain: the stuck call had its 2 s to finish.
      expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
      expect(await stuck).toBe('CK_DB_UNAVAILABLE');
    } finally {
      relay.freeze(false);
    }
  });
});
