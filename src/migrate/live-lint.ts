import { sql, type Kysely } from 'kysely';
import { lintMigration, type LintFinding, type LintReport } from './lint/index.js';
import { tableEffects, type TableEffects } from './lint/tables-left-empty.js';
import type { Migration, MigrationContext } from './migration.js';
import { renderMigration, type MigrationDirection } from './render-migration.js';
import type { MigrationStep } from './select-steps.js';
import type { MigrationStatement } from './steps.js';

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
  options: { readonly maxWalBytes?: number } = {},
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
  // Every non-array user type, and whether it is a domain with a CHECK or
  // NOT NULL: adding a column of such a domain rewrites the table (checked on
  // PostgreSQL 15), of any other type it does not.
  const { rows: userTypes } = await sql<{ name: string; constrained: boolean }>`
    select n.nspname || '.' || t.typname as name,
           t.typtype = 'd' and (t.typnotnull or exists (select 1 from pg_constraint k where k.contypid = t.oid)) as constrained
      from pg_type t join pg_namespace n on n.oid = t.typnamespace
     where t.typcategory <> 'A' and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'`.execute(db);
  const domains = new Map(userTypes.map((t) => [t.name, t.constrained === true]));
  const sizes = new Map(tables.map((t) => [t.name, Number(t.rows)]));
  const types = new Map(columns.map((c) => [c.name, c.type]));
  const unanalysed = new Set<string>();
  const lintAll = () => {
    const run = new RunEffects(sizes);
    return steps.map(({ migration, direction }) => {
      const report = lintMigration(migration, context, {
        direction,
        defaultSchema: context.schema,
        tableRows: (table) => {
          const rows = sizes.get(table);
          if (rows === undefined && run.emptyByThen(table)) return 0;
          if (rows !== undefined && rows < 0) unanalysed.add(table);
          // Negative stays negative: the size is unknown, but the table exists.
          return rows;
        },
        columnType: (table, column) => types.get(`${table}.${column}`),
        constrainedDomain: (type) => domains.get(type),
      });
      run.after(direction === 'up' ? upEffects(migration, context) : undefined);
      return { version: migration.version, name: migration.name, direction, report };
    });
  };
  let linted = lintAll();
  if (unanalysed.size > 0) {
    for (const table of unanalysed) {
      const rows = await probeRows(db, table);
      if (rows !== undefined) sizes.set(table, rows);
    }
    linted = lintAll();
  }
  return addCheckpointPressure(db, steps, context, linted, options.maxWalBytes);
}

/**
 * Which tables that do not exist yet will be empty when a step runs: those
 * an earlier step of this run creates and nothing since may have written to
 * (tables-left-empty.ts). An insert names its table; once a trigger was
 * created in this run, or an insert goes into a table that existed before
 * it (whose triggers are unknown), any table may have been written to.
 */
class RunEffects {
  readonly #existing: ReadonlyMap<string, number>;
  readonly #empty = new Set<string>();
  readonly #created = new Set<string>();
  #triggers = false;

  constructor(existing: ReadonlyMap<string, number>) {
    this.#existing = existing;
  }

  emptyByThen(table: string): boolean {
    return this.#empty.has(table);
  }

  /** Records a step's effects; undefined (a down step, or an up that cannot be rendered) forgets everything. */
  after(effects: TableEffects | undefined): void {
    if (effects === undefined || effects.mayWriteAnywhere) {
      this.#empty.clear();
      return;
    }
    this.#triggers ||= effects.createsTrigger;
    for (const table of effects.created) this.#created.add(table);
    const anywhere = effects.inserts.size > 0 && (this.#triggers || [...effects.inserts].some((t) => !this.#created.has(t)));
    if (anywhere) this.#empty.clear();
    for (const table of effects.inserts) this.#empty.delete(table);
    if (anywhere) return;
    for (const table of effects.created) {
      if (!this.#existing.has(table) && !effects.inserts.has(table)) this.#empty.add(table);
    }
  }
}

/** What a step's `up` does to tables, or undefined when it cannot be rendered (its lint reports why). */
function upEffects(migration: Migration, context: MigrationContext): TableEffects | undefined {
  try {
    return tableEffects(renderMigration(migration, 'up', context), context.schema);
  } catch {
    return undefined;
  }
}

/** WAL a backfill or an index build writes, per byte of the table: new row versions, index entries, full-page images after each checkpoint (measured ~2–3x in bench/migrate). */
const WAL_PER_TABLE_BYTE = 2;

/**
 * `checkpoint-pressure` (warning, PostgreSQL only): a backfill or concurrent
 * index over a table whose expected WAL exceeds `max_wal_size` forces
 * checkpoints every few seconds for the whole step, and every application
 * commit that lands on a checkpoint's fsync waits for it — the writer's worst
 * stalls in bench/migrate (300–550 ms at 10 M rows with the default 1 GB)
 * were all such moments. Not a statement's fault, so it is a warning about
 * the server's setting, never a reason for `up` to refuse.
 */
async function addCheckpointPressure(
  db: Kysely<any>,
  steps: readonly MigrationStep[],
  context: MigrationContext,
  linted: MigrationLint[],
  maxWalBytes: number | undefined,
): Promise<MigrationLint[]> {
  const { rows } = await sql<{ pglite: boolean; max_wal_bytes: string | number }>`
    select version() like '%PGlite%' as pglite,
           (select setting::bigint * 1024 * 1024 from pg_settings where name = 'max_wal_size') as max_wal_bytes`.execute(db);
  if (rows[0] === undefined || rows[0].pglite) return linted;
  const maxWal = maxWalBytes ?? Number(rows[0].max_wal_bytes);
  const sizeOf = new Map<string, number | undefined>();
  const bytes = async (table: string) => {
    if (!sizeOf.has(table)) {
      const { rows: size } = await sql<{ bytes: string | number | null }>`
        select pg_relation_size(to_regclass(${table})) as bytes`.execute(db);
      sizeOf.set(table, size[0]?.bytes === null || size[0] === undefined ? undefined : Number(size[0].bytes));
    }
    return sizeOf.get(table);
  };
  const out: MigrationLint[] = [];
  for (const [i, step] of steps.entries()) {
    const lint = linted[i]!;
    let statements: readonly MigrationStatement[];
    try {
      statements = step.direction === 'up' ? step.migration.up(context) : step.migration.down(context);
    } catch {
      out.push(lint); // the migration's own lint reports a render error
      continue;
    }
    const extra: LintFinding[] = [];
    for (const [index, statement] of statements.entries()) {
      if (typeof statement === 'string' || (statement.kind !== 'backfill' && statement.kind !== 'concurrent-index')) continue;
      const size = await bytes(statement.table);
      if (size === undefined || size * WAL_PER_TABLE_BYTE <= maxWal) continue;
      const what = statement.kind === 'backfill' ? `backfilling ${statement.table}` : `building index ${statement.name} on ${statement.table}`;
      extra.push({
        rule: 'checkpoint-pressure',
        severity: 'warning',
        statementIndex: index,
        message: `${what} (${gib(size)} on disk) writes roughly ${gib(size * WAL_PER_TABLE_BYTE)} of WAL or more, over max_wal_size (${gib(maxWal)}): checkpoints will run every few seconds for the whole step, and application commits that coincide with a checkpoint's fsync wait for it (hundreds of ms)`,
        fix: `raise max_wal_size for the migration (ALTER SYSTEM SET max_wal_size = '${Math.max(2, Math.ceil((size * WAL_PER_TABLE_BYTE * 2) / 2 ** 30))}GB'; SELECT pg_reload_conf(); no restart needed), or throttle the backfill (rowsPerSecond)`,
      });
    }
    const findings = [...lint.report.findings, ...extra].sort((a, b) => a.statementIndex - b.statementIndex);
    out.push(extra.length === 0 ? lint : { ...lint, report: { ...lint.report, findings } });
  }
  return out;
}

function gib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GB` : `${Math.round(bytes / 2 ** 20)} MB`;
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
