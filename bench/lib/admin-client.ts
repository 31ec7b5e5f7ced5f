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
