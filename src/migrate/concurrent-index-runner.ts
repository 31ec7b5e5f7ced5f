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
    await buildIndexConcurrently(
      conn,
      { schema, name: step.name, table: step.table, unique: step.unique === true, ...plainColumns(step.columns) },
      statementText(step),
      events,
    );
  } finally {
    await sql`reset lock_timeout`.execute(conn).catch(() => undefined);
    await sql`reset statement_timeout`.execute(conn).catch(() => undefined);
    for (const [setting] of tuning) await sql`reset ${sql.raw(setting)}`.execute(conn).catch(() => undefined);
  }
}

/**
 * The index a build must end with. Another index of the same name (on
 * another table, or other columns, or not unique when this one is) would
 * make `IF NOT EXISTS` skip the build and the step count as done with no
 * such index; names collide more easily than it seems (`a_b` + `c` and `a` +
 * `b_c` both give expand's default `a_b_c_idx`).
 */
export interface IndexTarget {
  readonly schema: string;
  readonly name: string;
  /** The table, as `to_regclass` reads it (`schema.table`, or quoted parts). */
  readonly table: string;
  readonly unique: boolean;
  /** The key columns, when they are plain column names (not expressions): compared too. */
  readonly columns?: readonly string[];
}

/**
 * Runs `statement` (a `CREATE INDEX CONCURRENTLY` of `index`) until the
 * index is valid. The invalid-leftover check sits inside the lock retry, not
 * before it: the build enters the index in the catalogue (invalid) before it
 * waits for the table's writers, so a `lock_timeout` (55P03) in that wait
 * leaves an invalid index, and the retried `IF NOT EXISTS` would skip it —
 * reporting success for an index no query can use
 * (test/migrate/concurrent-index-lock-retry.test.ts). An index of that name
 * that is not this one is an error before anything is dropped or built.
 */
export async function buildIndexConcurrently(conn: Kysely<any>, index: IndexTarget, statement: string, events: ConcurrentIndexEvents): Promise<void> {
  const qualified = sql.id(index.schema, index.name);
  await withLockRetry(
    async () => {
      const existing = await existingIndex(conn, index);
      if (existing !== undefined) assertSameIndex(index, existing);
      if (existing?.valid === false) {
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

interface ExistingIndex {
  readonly valid: boolean;
  readonly sameTable: boolean;
  readonly table: string;
  readonly unique: boolean;
  /** Key columns in order; null for an expression. */
  readonly columns: readonly (string | null)[];
}

async function existingIndex(db: Kysely<any>, target: IndexTarget): Promise<ExistingIndex | undefined> {
  const { rows } = await sql<{ valid: boolean; same_table: boolean | null; table: string; unique: boolean; columns: string }>`
    select i.indisvalid and i.indisready as valid,
           i.indrelid = to_regclass(${target.table}) as same_table,
           i.indrelid::regclass::text as table,
           i.indisunique as unique,
           (select coalesce(json_agg(a.attname order by k.n), '[]')::text
              from unnest(i.indkey::int2[]) with ordinality k(attnum, n)
              left join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum and k.attnum > 0
             where k.n <= i.indnkeyatts) as columns
      from pg_index i join pg_class c on c.oid = i.indexrelid join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = ${target.schema} and c.relname = ${target.name}`.execute(db);
  const row = rows[0];
  if (row === undefined) return undefined;
  return { valid: row.valid, sameTable: row.same_table === true, table: row.table, unique: row.unique, columns: JSON.parse(row.columns) as (string | null)[] };
}

function assertSameIndex(target: IndexTarget, existing: ExistingIndex): void {
  const columns = existing.columns.map((c) => c ?? '(expression)').join(', ');
  const differs = !existing.sameTable
    ? `on ${existing.table}`
    : existing.unique !== target.unique
      ? `on ${existing.table}, ${existing.unique ? 'unique' : 'not unique'}`
      : target.columns !== undefined && existing.columns.join('\0') !== target.columns.join('\0')
        ? `on ${existing.table} (${columns})`
        : undefined;
  if (differs === undefined) return;
  const wanted = `${target.unique ? 'a unique index' : 'an index'} on ${target.table}${target.columns === undefined ? '' : ` (${target.columns.join(', ')})`}`;
  throw new ChatkeepError(
    'CK_MIGRATION_FAILED',
    `An index named ${target.schema}.${target.name} already exists ${differs}; this step builds ${wanted}, and IF NOT EXISTS would skip it, leaving no such index. Give the index another name, or drop the other one`,
    { index: target.name },
  );
}

/** `{ columns }` when `list` is plain column names (`user_id, "Created"`), as PostgreSQL names them; `{}` for expressions, orderings, opclasses. */
export function plainColumns(list: string): { readonly columns?: readonly string[] } {
  const parts = list.split(',').map((p) => p.trim());
  const names: string[] = [];
  for (const part of parts) {
    if (/^[A-Za-z_][A-Za-z0-9_$]*$/.test(part)) names.push(part.toLowerCase());
    else if (/^"(?:[^"]|"")+"$/.test(part)) names.push(part.slice(1, -1).replaceAll('""', '"'));
    else return {};
  }
  return { columns: names };
}
