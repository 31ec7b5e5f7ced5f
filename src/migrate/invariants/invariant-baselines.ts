import { sql, type Kysely } from 'kysely';
import { InFlightTable } from '../in-flight-table.js';

/**
 * `<schema>.<table>_baseline`: the before-values (row counts, checksums) of
 * the invariants of a migration that cannot be applied in one transaction
 * (phased, or `transactional: false`), one row per version while it is in
 * flight. They are measured once, just before `up` first starts, and
 * committed before any of its work, so a run killed half-way and resumed
 * later compares with the true before — not with a half-migrated table.
 *
 * Why a table of its own rather than a row in the step journal: a
 * non-transactional plain-SQL migration has no journal, and the journal's
 * rows are phases (counted by `migrate status`). Like the journal, the table
 * exists only while it holds a row: the schema's fingerprint after up + down
 * is the one before.
 */
export class InvariantBaselines extends InFlightTable {
  constructor(schema: string, table: string) {
    super(schema, `${table}_baseline`);
  }

  /** Creates the table when missing; call while holding the migration lock (`IF NOT EXISTS` is not race-free). */
  async ensure(db: Kysely<any>): Promise<void> {
    await sql`
      create table if not exists ${this.ref} (
        version integer primary key,
        before_values jsonb not null,
        captured_at timestamptz not null default now()
      )`.execute(db);
  }

  /** The stored before-values of `version` (invariant name → value), or undefined. */
  async read(db: Kysely<any>, version: number): Promise<Readonly<Record<string, string>> | undefined> {
    if (!(await this.exists(db))) return undefined;
    const { rows } = await sql<{ before_values: unknown }>`
      select before_values from ${this.ref} where version = ${version}`.execute(db);
    const value = rows[0]?.before_values;
    if (value === undefined) return undefined;
    return (typeof value === 'string' ? JSON.parse(value) : value) as Record<string, string>;
  }

  async write(db: Kysely<any>, version: number, values: Readonly<Record<string, string>>): Promise<void> {
    await sql`
      insert into ${this.ref} (version, before_values) values (${version}, ${JSON.stringify(values)}::jsonb)
      on conflict (version) do update set before_values = excluded.before_values, captured_at = now()`.execute(db);
  }

  /** Forgets `version`'s before-values (it was recorded, or undone). */
  async clear(db: Kysely<any>, version: number): Promise<void> {
    if (await this.exists(db)) await sql`delete from ${this.ref} where version = ${version}`.execute(db);
  }

  /**
   * Deletes the rows of versions that are applied (a run killed between
   * recording a migration and clearing its row leaves one; it must not be
   * taken for the before of a later re-apply), then drops the table if empty.
   */
  async tidy(db: Kysely<any>, appliedVersions: readonly number[]): Promise<void> {
    if (!(await this.exists(db))) return;
    if (appliedVersions.length > 0) {
      await sql`delete from ${this.ref} where version in (${sql.join(appliedVersions)})`.execute(db);
    }
    await this.dropIfEmpty(db);
  }
}
