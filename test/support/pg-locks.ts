import type pg from 'pg';

/**
 * Resolves once at least `atLeast` lock requests of *other* sessions on
 * `client`'s database are waiting (pg_locks, not granted). Tests use it to
 * know that a call is queued behind a lock they hold, instead of sleeping.
 * Scoped to the current database: suites run in parallel on one server, and
 * another file's waiting locks must not count.
 */
export async function waitingLocks(client: pg.Client, atLeast = 1): Promise<void> {
  for (;;) {
    // pg_stat_activity is read once per transaction and cached; the caller is often inside one
    // (holding the lock), and a session that connected since would be missing from it.
    await client.query('select pg_stat_clear_snapshot()');
    const { rows } = await client.query<{ n: number }>(
      `select count(*)::int as n from pg_locks where not granted and pid <> pg_backend_pid()
          and pid in (select pid from pg_stat_activity where datname = current_database())`,
    );
    if (rows[0]!.n >= atLeast) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
