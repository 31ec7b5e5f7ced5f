import { sql, type Kysely } from 'kysely';
import { sqlState } from '../errors/index.js';
import type { MigrationDirection } from './render-migration.js';
import type { AppliedMigration } from './migration-status.js';
import type { MigrationLogEntry } from './migration-log-entry.js';

/**
 * Written as the version table's comment when the migrator itself created the
 * schema, so `removeBookkeepingAtZero` only ever drops a schema it created
 * (never a host's pre-existing `public`, even if it happens to be empty).
 */
const CREATED_SCHEMA_MARK = 'chatkeep migrate bookkeeping; schema created by the migrator';

/** A log row to write; `id` is assigned by the database. */
export type NewLogEntry = Omit<MigrationLogEntry, 'id'>;

/**
 * The migrator's own tables: `<schema>.<table>` holds one row per applied
 * migration, `<schema>.<table>_log` one row per up/down attempt. Every method
 * takes the executor to use, because the migrator runs everything on the one
 * connection that holds the lock (and inside a migration's transaction when
 * the row must commit or roll back with it).
 */
export class Bookkeeping {
  readonly #schema: string;
  readonly #table: string;

  constructor(schema: string, table: string) {
    this.#schema = schema;
    this.#table = table;
  }

  get #versions() {
    return sql.id(this.#schema, this.#table);
  }

  get #log() {
    return sql.id(this.#schema, `${this.#table}_log`);
  }

  /** Whether the version table exists. Reads the catalogue only, creates nothing. */
  async exists(db: Kysely<any>): Promise<boolean> {
    const { rows } = await sql<{ present: boolean }>`
      select to_regclass(${`${this.#schema}.${this.#table}`}) is not null as present`.execute(db);
    return rows[0]?.present === true;
  }

  /** Whether the log table exists. */
  async logExists(db: Kysely<any>): Promise<boolean> {
    const { rows } = await sql<{ present: boolean }>`
      select to_regclass(${`${this.#schema}.${this.#table}_log`}) is not null as present`.execute(
      db,
    );
    return rows[0]?.present === true;
  }

  /**
   * Creates the schema and both tables when missing. Call only while holding
   * the migration lock: `CREATE SCHEMA/TABLE IF NOT EXISTS` is not race-free
   * (two sessions can both see "missing" and one fails with 23505 on the
   * catalogue's unique index), and the lock is what serialises them.
   */
  async ensure(conn: Kysely<any>): Promise<void> {
    if ((await this.exists(conn)) && (await this.logExists(conn))) return;
    await conn.transaction().execute(async (trx) => {
      const { rows } = await sql<{ present: boolean }>`
        select exists (select 1 from pg_namespace where nspname = ${this.#schema}) as present`.execute(
        trx,
      );
      const schemaExisted = rows[0]?.present === true;
      const tableExisted = await this.exists(trx);
      await sql`create schema if not exists ${sql.id(this.#schema)}`.execute(trx);
      await sql`
        create table if not exists ${this.#versions} (
          version integer primary key,
          name text not null,
          checksum text not null,
          applied_at timestamptz not null default now(),
          duration_ms integer not null
        )`.execute(trx);
      await sql`
        create table if not exists ${this.#log} (
          id bigserial primary key,
          version integer not null,
          name text not null,
          direction text not null check (direction in ('up', 'down')),
          started_at timestamptz not null,
          finished_at timestamptz not null,
          duration_ms integer not null,
          outcome text not null check (outcome in ('ok', 'failed')),
          error text
        )`.execute(trx);
      if (!schemaExisted && !tableExisted) {
        await sql`comment on table ${this.#versions} is ${sql.lit(CREATED_SCHEMA_MARK)}`.execute(
          trx,
        );
      }
    });
  }

  /** The applied migrations, ascending; empty when the table does not exist yet. */
  async readApplied(db: Kysely<any>): Promise<AppliedMigration[]> {
    if (!(await this.exists(db))) return [];
    const { rows } = await sql<{
      version: number;
      name: string;
      checksum: string;
      applied_at: Date | string;
      duration_ms: number;
    }>`select version, name, checksum, applied_at, duration_ms from ${this.#versions} order by version`.execute(
      db,
    );
    return rows.map((row) => ({
      version: Number(row.version),
      name: row.name,
      checksum: row.checksum,
      appliedAt: new Date(row.applied_at),
      durationMs: Number(row.duration_ms),
    }));
  }

  /** Records `version` as applied; run it in the migration's own transaction. */
  async insertApplied(
    db: Kysely<any>,
    row: {
      readonly version: number;
      readonly name: string;
      readonly checksum: string;
      readonly durationMs: number;
    },
  ): Promise<void> {
    await sql`
      insert into ${this.#versions} (version, name, checksum, duration_ms)
      values (${row.version}, ${row.name}, ${row.checksum}, ${row.durationMs})`.execute(db);
  }

  /** Forgets `version`; run it in the down migration's own transaction. */
  async deleteApplied(db: Kysely<any>, version: number): Promise<void> {
    await sql`delete from ${this.#versions} where version = ${version}`.execute(db);
  }

  /** Appends one row to the log. */
  async insertLog(db: Kysely<any>, entry: NewLogEntry): Promise<void> {
    await sql`
      insert into ${this.#log} (version, name, direction, started_at, finished_at, duration_ms, outcome, error)
      values (${entry.version}, ${entry.name}, ${entry.direction}, ${entry.startedAt.toISOString()}::timestamptz,
              ${entry.finishedAt.toISOString()}::timestamptz, ${entry.durationMs}, ${entry.outcome}, ${entry.error})`.execute(
      db,
    );
  }

  /** The newest `limit` log rows, newest first; empty when the log does not exist yet. */
  async readLog(db: Kysely<any>, limit: number): Promise<MigrationLogEntry[]> {
    if (!(await this.logExists(db))) return [];
    const { rows } = await sql<{
      id: number | string | bigint;
      version: number;
      name: string;
      direction: MigrationDirection;
      started_at: Date | string;
      finished_at: Date | string;
      duration_ms: number;
      outcome: 'ok' | 'failed';
      error: string | null;
    }>`
      select id, version, name, direction, started_at, finished_at, duration_ms, outcome, error
      from ${this.#log} order by id desc limit ${limit}`.execute(db);
    return rows.map((row) => ({
      id: Number(row.id),
      version: Number(row.version),
      name: row.name,
      direction: row.direction,
      startedAt: new Date(row.started_at),
      finishedAt: new Date(row.finished_at),
      durationMs: Number(row.duration_ms),
      outcome: row.outcome,
      error: row.error,
    }));
  }

  /**
   * Drops both tables, then the schema when the migrator created it and it is
   * now empty. `DROP SCHEMA … RESTRICT` is the emptiness test: it fails with
   * 2BP01 when anything else lives there, and then the schema simply stays.
   */
  async remove(conn: Kysely<any>): Promise<void> {
    const createdSchema = await conn.transaction().execute(async (trx) => {
      const { rows } = await sql<{ mark: string | null }>`
        select obj_description(to_regclass(${`${this.#schema}.${this.#table}`}), 'pg_class') as mark`.execute(
        trx,
      );
      await sql`drop table if exists ${this.#log}`.execute(trx);
      await sql`drop table if exists ${this.#versions}`.execute(trx);
      return rows[0]?.mark === CREATED_SCHEMA_MARK;
    });
    if (!createdSchema) return;
    try {
      await sql`drop schema if exists ${sql.id(this.#schema)} restrict`.execute(conn);
    } catch (error) {
      if (sqlState(error) !== '2BP01') throw error;
    }
  }
}
