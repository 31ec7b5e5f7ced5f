import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEEP_ALIVE_IDLE_MS } from '../../src/db/database.js';
import { openStore } from '../../src/index.js';
import { createPgDatabase, PG_ADMIN_URL, PG_AVAILABLE } from '../support/backends.js';
import { newUser } from '../support/store-fixture.js';

/**
 * Pooled connections to PostgreSQL have TCP keep-alive on with a short idle
 * time: a server that vanished without closing the socket is noticed, and a
 * load balancer that closes idle connections sees traffic. Read from the
 * kernel's own socket table (`ss`, iproute2) for this process's sockets.
 */
const SS_SKIP = spawnSync('ss', ['-V'], { stdio: 'ignore' }).status === 0 ? false : 'ss (iproute2) not on PATH';
if (!PG_AVAILABLE) console.warn(`[chatkeep tests] SKIPPING keep-alive cases: no PostgreSQL answers at ${PG_ADMIN_URL}`);
else if (SS_SKIP !== false) console.warn(`[chatkeep tests] SKIPPING keep-alive cases: ${SS_SKIP}`);

describe.skipIf(!PG_AVAILABLE || SS_SKIP !== false)('postgres: TCP keep-alive on pooled connections', () => {
  let database: { url: string; drop: () => Promise<void> };
  beforeAll(async () => {
    database = await createPgDatabase();
  });
  afterAll(() => database?.drop());

  it(`every connection of the pool has a keep-alive timer of at most ${KEEP_ALIVE_IDLE_MS / 1000} s`, async () => {
    const port = new URL(database.url).port || '5432';
    // This process's sockets to the server, by local address: those open before the store are not its.
    const sockets = () =>
      new Map(
        execFileSync('ss', ['-tnopH', 'state', 'established', `dport = :${port}`])
          .toString()
          .split('\n')
          .filter((line) => line.includes(`pid=${process.pid},`))
          .map((line) => [line.trim().split(/\s+/)[2]!, line] as const),
      );
    const before = sockets();
    const store = await openStore({ url: database.url, poolSize: 3 });
    try {
      const user = newUser('keep-alive');
      await Promise.all(Array.from({ length: 3 }, () => store.conversations.list(user)));
      const ours = [...sockets()].filter(([local]) => !before.has(local)).map(([, line]) => line);
      expect(ours.length).toBeGreaterThanOrEqual(3);
      for (const line of ours) {
        const timer = /timer:\(keepalive,(?:(\d+)min)?(?:(\d+)sec)?(?:(\d+)ms)?/.exec(line);
        expect(timer, line).not.toBeNull();
        const ms = Number(timer![1] ?? 0) * 60_000 + Number(timer![2] ?? 0) * 1000 + Number(timer![3] ?? 0);
        expect(ms, line).toBeLessThanOrEqual(KEEP_ALIVE_IDLE_MS);
      }
    } finally {
      await store.close();
    }
  });
});
