import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { killLeftoverServers, serve } from './serve-process.js';
import { childPids, useMigratedPostgres } from './worker-processes.js';

/**
 * `chatkeep serve --workers N`: a worker still starting when its primary is
 * killed has no socket left to share. Its `listen` asked the dead primary
 * for one and waited for an answer that never came, so the worker lingered,
 * deaf to SIGTERM (it had already taken the primary's death as its signal to
 * stop), holding its database connection until the pool's idle timeout let
 * the process fall empty; it now gives up at once and says why.
 */
afterAll(killLeftoverServers);

/** Alive and not a zombie (a dead worker of a dead primary is reaped by init, soon but not at once). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const postgres = BACKENDS.find((b) => b.name === 'postgres')!;

describe.skipIf(postgres.skip)('postgres: chatkeep serve --workers 2, the primary killed while a worker starts', () => {
  const database = useMigratedPostgres();

  it('the starting worker exits within seconds, saying the primary is gone, instead of lingering', async () => {
    const server = await serve(database.location(), ['--workers', '2', '--log-level', 'info']);
    const primary = server.child.pid!;
    const first = childPids(primary);
    // The replacement will wait on this lock while it checks the schema: started, not yet listening.
    const blocker = new pg.Client({ connectionString: database.url() });
    await blocker.connect();
    // Another session to watch from: pg_stat_activity is read once per transaction.
    const watcher = new pg.Client({ connectionString: database.url() });
    await watcher.connect();
    try {
      await blocker.query('begin');
      await blocker.query('lock table chatkeep.schema_migrations in access exclusive mode');
      process.kill(first[0]!, 'SIGKILL');
      await expect.poll(() => childPids(primary).filter((pid) => !first.includes(pid)).length, { timeout: 10_000, interval: 20 }).toBe(1);
      const [starting] = childPids(primary).filter((pid) => !first.includes(pid));
      await expect.poll(async () => (await watcher.query("select 1 from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()")).rowCount, { timeout: 15_000, interval: 50 }).toBe(1);
      server.child.kill('SIGKILL');
      await server.exited;
      await blocker.query('rollback');
      const released = Date.now();
      await expect.poll(() => running(starting!), { timeout: 6000, interval: 100 }).toBe(false);
      expect(Date.now() - released).toBeLessThan(6000);
      await expect.poll(() => server.stdout(), { timeout: 2000, interval: 50 }).toContain(`"pid":${starting},`);
      const lines = server.stdout().split('\n').filter((line) => line.includes(`"pid":${starting},`));
      expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual(['the primary process is gone before this worker listened; exiting']);
    } finally {
      await blocker.end();
      await watcher.end();
    }
  });
});
