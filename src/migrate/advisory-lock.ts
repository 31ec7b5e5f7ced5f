import { setTimeout as sleep } from 'node:timers/promises';
import { sql, type Kysely } from 'kysely';
import { ChatkeepError } from '../errors/index.js';

/** How {@link acquireAdvisoryLock} waits. */
export interface LockWait {
  readonly waitMs: number;
  readonly pollIntervalMs: number;
  /** Called once, when the first attempt finds the lock taken. */
  readonly onWait?: () => void;
}

/**
 * Takes the session-level advisory lock `key` on `conn`, polling
 * `pg_try_advisory_lock` every `pollIntervalMs` until `waitMs` has elapsed,
 * then throws CK_MIGRATION_LOCK. Resolves with how long it waited.
 *
 * Why polling and never the blocking `pg_advisory_lock`: a runner blocked
 * inside that statement keeps a transaction and snapshot open for as long as
 * it waits. If the lock holder is meanwhile running `CREATE INDEX
 * CONCURRENTLY`, PostgreSQL makes the index build wait for every transaction
 * with an older snapshot to finish, the waiter included, while the waiter
 * waits for the holder: a deadlock (PostgreSQL aborts one side with 40P01,
 * or the build hangs until a timeout). Flyway and golang-migrate both hit it:
 * https://github.com/flyway/flyway/issues/1654,
 * https://github.com/golang-migrate/migrate/issues/960.
 * Each `pg_try_advisory_lock` is a sub-millisecond statement, so between
 * polls the waiter holds no snapshot and the index build proceeds. test/migrate/concurrent-index-lock.test.ts
 * runs this race.
 *
 * The lock is session-level (not `pg_try_advisory_xact_lock`) because it must
 * span many transactions: one per migration, plus the non-transactional ones.
 * If the process dies, PostgreSQL ends the session and frees the lock.
 */
export async function acquireAdvisoryLock(
  conn: Kysely<any>,
  key: bigint,
  wait: LockWait,
): Promise<number> {
  const started = performance.now();
  let reportedWait = false;
  for (;;) {
    const { rows } = await sql<{
      locked: boolean;
    }>`select pg_try_advisory_lock(${key.toString()}::bigint) as locked`.execute(conn);
    if (rows[0]?.locked === true) return Math.round(performance.now() - started);
    // Reported before the time-out check: a first try that alone took waitMs (a busy server) still waited.
    if (!reportedWait) {
      reportedWait = true;
      wait.onWait?.();
    }
    const waited = performance.now() - started;
    if (waited >= wait.waitMs) {
      throw new ChatkeepError(
        'CK_MIGRATION_LOCK',
        `Timed out after ${wait.waitMs} ms waiting for the migration lock (advisory lock ${key}); another runner is migrating this database`,
        { lockKey: key.toString(), waitMs: wait.waitMs },
      );
    }
    await sleep(Math.min(wait.pollIntervalMs, Math.max(1, wait.waitMs - waited)));
  }
}

/**
 * Releases the lock taken by {@link acquireAdvisoryLock} on the same
 * connection. Must run even after a failure: a pooled connection goes back
 * to the pool still holding a session-level lock otherwise, blocking every
 * later runner until that connection closes.
 */
export async function releaseAdvisoryLock(conn: Kysely<any>, key: bigint): Promise<void> {
  await sql`select pg_advisory_unlock(${key.toString()}::bigint)`.execute(conn);
}
