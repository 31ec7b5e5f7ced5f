import { sql, type Kysely } from 'kysely';
import { lintMigration, type LintReport } from './lint/index.js';
import type { MigrationContext } from './migration.js';
import type { MigrationDirection } from './render-migration.js';
import type { MigrationStep } from './select-steps.js';

/** The lint report of one migration step, as `Migrator.lint` returns it. */
export interface MigrationLint {
  readonly version: number;
  readonly name: string;
  readonly direction: MigrationDirection;
  readonly report: LintReport;
}

/** Tables never analysed report `reltuples = -1`; up to this many rows are counted instead. */
const PROBE_LIMIT = 100_000;

/**
 * Lints migration steps against the live database: table sizes from
 * `pg_class.reltuples` and column types from `format_type`, so a statement
 * is judged by the table it will really touch (docs/migration-lint.md).
 *
 * A table that was never vacuumed or analysed (`reltuples = -1` on
 * PostgreSQL ≥ 14: freshly loaded, or autovacuum has not come round yet)
 * would be "size unknown", which only warns — and `up` refuses only errors.
 * So each such table a statement touches is probed: at most
 * {@link PROBE_LIMIT} rows are counted, under a short lock_timeout (a
 * table locked by someone else stays "unknown" rather than stall the run).
 */
export async function lintAgainstDatabase(
  db: Kysely<any>,
  steps: readonly MigrationStep[],
  context: MigrationContext,
): Promise<MigrationLint[]> {
  if (steps.length === 0) return [];
  const { rows: tables } = await sql<{ name: string; rows: number | string }>`
    select n.nspname || '.' || c.relname as name, c.reltuples as rows
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')`.execute(db);
  const { rows: columns } = await sql<{ name: string; type: string }>`
    select n.nspname || '.' || c.relname || '.' || a.attname as name, format_type(a.atttypid, a.atttypmod) as type
      from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped and n.nspname not in ('pg_catalog', 'information_schema')`.execute(db);
  const sizes = new Map(tables.map((t) => [t.name, Number(t.rows)]));
  const types = new Map(columns.map((c) => [c.name, c.type]));
  const unanalysed = new Set<string>();
  const lintAll = () =>
    steps.map(({ migration, direction }) => ({
      version: migration.version,
      name: migration.name,
      direction,
      report: lintMigration(migration, context, {
        direction,
        defaultSchema: context.schema,
        tableRows: (table) => {
          const rows = sizes.get(table);
          if (rows !== undefined && rows < 0) unanalysed.add(table);
          return rows === undefined || rows < 0 ? undefined : rows;
        },
        columnType: (table, column) => types.get(`${table}.${column}`),
      }),
    }));
  const first = lintAll();
  if (unanalysed.size === 0) return first;
  for (const table of unanalysed) {
    const rows = await probeRows(db, table);
    if (rows !== undefined) sizes.set(table, rows);
  }
  return lintAll();
}

async function probeRows(db: Kysely<any>, table: string): Promise<number | undefined> {
  try {
    return await db.transaction().execute(async (trx) => {
      await sql`select set_config('lock_timeout', '1s', true), set_config('statement_timeout', '30s', true)`.execute(trx);
      const { rows } = await sql<{ n: number | string }>`
        select count(*) as n from (select from ${sql.table(table)} limit ${PROBE_LIMIT}) t`.execute(trx);
      return Number(rows[0]?.n ?? 0);
    });
  } catch {
    // Locked by someone else, or gone: the size stays unknown (a warning).
    return undefined;
  }
}
