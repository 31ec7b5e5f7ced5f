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
 * 100 attempts. `onRetry` counts the failures.
 */
export async function retriedWhileUnavailable<T>(call: () => Promise<T>, onRetry: () => void = () => undefined): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      const error = e as ChatkeepError;
      expect([error.code, attempt < 100], error.message).toEqual(['CK_DB_UNAVAILABLE', true]);
      onRetry();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}
