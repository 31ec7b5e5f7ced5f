import pg from 'pg';

/** Runs `work` on a fresh client of `url` and closes it, also when `work` throws (the probes' set-up and tear-down). */
export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * A pg.Pool with an 'error' listener: an idle client whose session the
 * server ended (a probe's `drop database … with (force)` right after
 * `pool.end()`, a restart) is logged, where without a listener pg-pool's
 * 'error' event ends the process.
 */
export function loggedPool(url: string, log: (message: string) => void, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on('error', (error) => log(`idle connection lost: ${error.message}`));
  return pool;
}
