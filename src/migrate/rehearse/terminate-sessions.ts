import pg from 'pg';

/**
 * Ends every session of the rehearsal on the copy (`pg_terminate_backend`,
 * from a session of its own): a stopped rehearsal must not wait for a
 * migration that can run for hours, and the copy can only be discarded once
 * the migration has let go of it. Best effort: a copy that cannot be reached
 * has no session to end.
 */
export async function terminateSessions(url: string, applicationName: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, application_name: 'chatkeep-rehearsal-stop', connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query(
      `select pg_terminate_backend(pid) from pg_stat_activity
        where application_name = $1 and datname = current_database() and pid <> pg_backend_pid()`,
      [applicationName],
    );
  } catch {
    // Nothing to end, or nothing to reach: the discard that follows reports a real problem.
  } finally {
    await client.end().catch(() => undefined);
  }
}
