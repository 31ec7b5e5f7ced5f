import { sql, type Kysely } from 'kysely';
import { ChatkeepError } from '../errors/index.js';
import { withLockRetry } from './lock-retry.js';
import { bulkWriteSettings } from './session-tuning.js';
import { statementText, type ConcurrentIndexStep } from './steps.js';

/** What a concurrent build reports: an invalid leftover dropped, a lock retry. */
export interface ConcurrentIndexEvents {
  readonly onRebuild: () => void;
  readonly onLockRetry: (attempt: number, delayMs: number) => void;
}

/**
 * Builds an index concurrently, outside any transaction. A build that was
 * interrupted (killed, cancelled, a duplicate key for a unique index) leaves
 * an INVALID index behind: unusable by queries, yet maintained by every write
 * and, worse, making `IF NOT EXISTS` skip the rebuild forever. So an invalid
 * index of that name is dropped (concurrently) first, and the new one is
 * checked to be valid before the phase counts as done.
 *
 * Unless `tuneSession: false`, the build compresses the WAL it writes (the
 * new index, logged page by page) where the role may (session-tuning.ts);
 * the runner's session gets the server's setting back afterwards.
 */
export async function runConcurrentIndex(
  conn: Kysely<any>,
  step: ConcurrentIndexStep,
  timeouts: { readonly lockTimeout: string; readonly statementTimeout: string },
  events: ConcurrentIndexEvents,
): Promise<void> {
  const schema = step.table.split('.')[0]!;
  await sql`select set_config('lock_timeout', ${timeouts.lockTimeout}, false), set_config('statement_timeout', ${timeouts.statementTimeout}, false)`.execute(conn);
  const tuning = step.tuneSession === false ? [] : await bulkWriteSettings(conn, { flushAfter: false });
  try {
    for (const [setting, value] of tuning) await sql`select set_config(${setting}, ${value}, false)`.execute(conn);
    await buildIndexConcurrently(conn, { schema, name: step.name }, statementText(step), events);
  } finally {
    await sql`reset lock_timeout`.execute(conn).catch(() => undefined);
    await sql`reset statement_timeout`.execute(conn).catch(() => undefined);
    for (const [setting] of tuning) await sql`reset ${sql.raw(setting)}`.execute(conn).catch(() => undefined);
  }
}

/**
 * Runs `statement` (a `CREATE INDEX CONCURRENTLY` of `index`) until the
 * index is valid. The invalid-leftover check sits inside the lock retry, not
 * before it: the build enters the index in the catalogue (invalid) before it
 * waits for the table's writers, so a `lock_timeout` (55P03) in that wait
 * leaves an invalid index, and the retried `IF NOT EXISTS` would skip it —
 * reporting success for an index no query can use
 * (test/migrate/concurrent-index-lock-retry.test.ts).
 */
export async function buildIndexConcurrently(
  conn: Kysely<any>,
  index: { readonly schema: string; readonly name: string },
  statement: string,
  events: ConcurrentIndexEvents,
): Promise<void> {
  const qualified = sql.id(index.schema, index.name);
  await withLockRetry(
    async () => {
      if ((await indexState(conn, index.schema, index.name)) === 'invalid') {
        events.onRebuild();
        await sql`drop index concurrently if exists ${qualified}`.execute(conn);
      }
      await sql.raw(statement).execute(conn);
    },
    { onRetry: events.onLockRetry },
  );
  if ((await indexState(conn, index.schema, index.name)) !== 'valid') {
    throw new ChatkeepError('CK_MIGRATION_FAILED', `Index ${index.schema}.${index.name} was built but is not valid`, { index: index.name });
  }
}

/** Whether an index exists and is usable (`pg_index.indisvalid`). */
export async function indexState(db: Kysely<any>, schema: string, name: string): Promise<'missing' | 'valid' | 'invalid'> {
  const { rows } = await sql<{ valid: boolean }>`
    select i.indisvalid and i.indisready as valid
      from pg_index i join pg_class c on c.oid = i.indexrelid join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = ${schema} and c.relname = ${name}`.execute(db);
  if (rows[0] === undefined) return 'missing';
  return rows[0].valid ? 'valid' : 'invalid';
}
