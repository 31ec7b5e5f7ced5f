import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { createPgDatabase } from './backends.js';

/**
 * For a describe block of checks on real PostgreSQL: a database of its own,
 * created before the block and dropped after it, and one connected client.
 * `setUp` runs once the client is connected (e.g. a sequence the checks use).
 * Call it inside a `describe.skipIf(!PG_AVAILABLE)`.
 */
export function usePgClient(setUp?: (client: pg.Client) => Promise<unknown>): () => pg.Client {
  let client: pg.Client | undefined;
  let drop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const db = await createPgDatabase();
    drop = db.drop;
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await setUp?.(client);
  });
  afterAll(async () => {
    await client?.end();
    await drop?.();
  });
  return () => {
    if (client === undefined) throw new Error('usePgClient: the client is connected in beforeAll');
    return client;
  };
}
