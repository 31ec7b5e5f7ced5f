import pg from 'pg';
import { expect } from 'vitest';
import type { ChatkeepError } from '../../src/index.js';
import { PG_ADMIN_URL } from './backends.js';

/**
 * What the chaos tests share: killing every matching backend again and
 * again, as a restart, a failover or an administrator would, while the test
 * writes; and retrying a call the way a client does.
 */

export interface Killer {
  /** Stops killing; resolves to how many backends were killed. */
  stop(): Promise<number>;
}

/**
 * Every 15 ms, `pg_terminate_backend` on each backend of `database` that
 * `filter` (more SQL on pg_stat_activity, parameters from $2) selects.
 */
export async function killRepeatedly(database: string, filter: string, params: readonly unknown[] = []): Promise<Killer> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  let killing = true;
  let kills = 0;
  const loop = (async () => {
    while (killing) {
      const { rowCount } = await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and ${filter}`, [database, ...params]);
      kills += rowCount ?? 0;
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
  })();
  return {
    stop: async () => {
      killing = false;
      await loop;
      await admin.end();
      return kills;
    },
  };
}

/**
 * A client's retry loop around an idempotent call: every failure must be
 * CK_DB_UNAVAILABLE (the retryable one), and the call must answer within
 * RETRY_LIMIT_MS, backing off a little more after each failure (5 ms, 10 ms,
 * … up to 50 ms), as a client would. `onRetry` counts the failures.
 *
 * Bounded by time, not by a number of attempts: while the killer ends every
 * connection each 15 ms, a call of several statements (a streamed turn's
 * transaction, on a new connection each time) finishes between two kills
 * only now and then, and how often depends on how busy the machine is. A
 * cap of 100 attempts failed about one run in five here with nothing wrong
 * (every failure CK_DB_UNAVAILABLE, the 101st attempt not yet lucky); a call
 * that could never succeed still fails the test at the limit.
 */
export async function retriedWhileUnavailable<T>(call: () => Promise<T>, onRetry: () => void = () => undefined): Promise<T> {
  const deadline = Date.now() + RETRY_LIMIT_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      const error = e as ChatkeepError;
      expect([error.code, Date.now() < deadline], `${error.message} (attempt ${attempt})`).toEqual(['CK_DB_UNAVAILABLE', true]);
      onRetry();
      await new Promise((resolve) => setTimeout(resolve, Math.min(5 * attempt, 50)));
    }
  }
}

/** How long retriedWhileUnavailable lets a call keep failing CK_DB_UNAVAILABLE. */
const RETRY_LIMIT_MS = 30_000;
