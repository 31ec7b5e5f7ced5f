import { sql, type Kysely, type RawBuilder } from 'kysely';

/**
 * A bookkeeping table that exists only while it holds rows of something in
 * flight (the step journal, invariant before-values): a host whose
 * migrations never need it never sees it, and the schema's fingerprint after
 * up + down is the one before. Subclasses add the columns and the rows.
 */
export abstract class InFlightTable {
  readonly #schema: string;
  readonly #table: string;

  constructor(schema: string, table: string) {
    this.#schema = schema;
    this.#table = table;
  }

  protected get ref(): RawBuilder<unknown> {
    return sql.id(this.#schema, this.#table);
  }

  async exists(db: Kysely<any>): Promise<boolean> {
    const { rows } = await sql<{ present: boolean }>`
      select to_regclass(${`${this.#schema}.${this.#table}`}) is not null as present`.execute(db);
    return rows[0]?.present === true;
  }

  async dropIfEmpty(db: Kysely<any>): Promise<void> {
    if (!(await this.exists(db))) return;
    const { rows } = await sql<{ empty: boolean }>`select not exists (select 1 from ${this.ref}) as empty`.execute(db);
    if (rows[0]?.empty === true) await this.drop(db);
  }

  async drop(db: Kysely<any>): Promise<void> {
    await sql`drop table if exists ${this.ref}`.execute(db);
  }
}
