import { sql, type Kysely } from 'kysely';
import { InFlightTable } from './in-flight-table.js';
import type { MigrationDirection } from './render-migration.js';

/** What the journal holds for one phase. */
export interface PhaseRecord {
  readonly phase: number;
  readonly done: boolean;
  /** A backfill's position: the last key done and the rows done so far. */
  readonly progress: { readonly lastKey?: readonly string[]; readonly rows?: number } | null;
  /** The phase's checksum when it was journaled (phases.ts); null for rows written before it was kept. */
  readonly checksum: string | null;
}

/** Which phase a journal row is about, and what that phase was (its checksum) when the row was written. */
export interface JournalKey {
  readonly version: number;
  readonly direction: MigrationDirection;
  readonly phase: number;
  readonly checksum: string;
}

/** A migration that started and has not finished (no version row yet, or no removal yet for down). */
export interface InFlightMigration {
  readonly version: number;
  readonly direction: MigrationDirection;
  readonly phasesDone: number;
  readonly rowsDone: number;
  readonly updatedAt: Date;
}

/**
 * `<schema>.<table>_steps`: one row per finished (or, for a backfill,
 * progressing) phase of a phased migration in flight. Rows are written in
 * the same transaction as the work they record — the batch, the DDL — so
 * after a kill the journal says exactly what is done. They are deleted when
 * the migration completes, in the transaction that records it.
 */
export class StepJournal extends InFlightTable {
  constructor(schema: string, table: string) {
    super(schema, `${table}_steps`);
  }

  /** Creates the table when missing; call while holding the migration lock. */
  async ensure(db: Kysely<any>): Promise<void> {
    await sql`
      create table if not exists ${this.ref} (
        version integer not null,
        direction text not null check (direction in ('up', 'down')),
        phase integer not null,
        done boolean not null default false,
        progress jsonb,
        updated_at timestamptz not null default now(),
        checksum text,
        primary key (version, direction, phase)
      )`.execute(db);
    // A journal left in flight by a version that kept no phase checksums
    // (catalogue-only: a nullable column without default).
    await sql`alter table ${this.ref} add column if not exists checksum text`.execute(db);
  }

  /**
   * Drops the table when nothing is in flight, so the journal exists only
   * while a phased migration is unfinished: a schema's fingerprint after
   * up + down is the same as before, and hosts keep no idle extra table.
   */
  async read(db: Kysely<any>, version: number, direction: MigrationDirection): Promise<Map<number, PhaseRecord>> {
    const { rows } = await sql<{ phase: number; done: boolean; progress: unknown; checksum: string | null }>`
      select phase, done, progress, checksum from ${this.ref} where version = ${version} and direction = ${direction}`.execute(db);
    return new Map(
      rows.map((r) => [
        Number(r.phase),
        {
          phase: Number(r.phase),
          done: r.done,
          progress: (typeof r.progress === 'string' ? JSON.parse(r.progress) : r.progress) as PhaseRecord['progress'],
          checksum: r.checksum,
        },
      ]),
    );
  }

  /** Records a phase's progress (`done` false) or completion. */
  async write(
    db: Kysely<any>,
    key: JournalKey,
    done: boolean,
    progress: PhaseRecord['progress'],
  ): Promise<void> {
    await sql`
      insert into ${this.ref} (version, direction, phase, done, progress, checksum)
      values (${key.version}, ${key.direction}, ${key.phase}, ${done}, ${progress === null ? null : JSON.stringify(progress)}::jsonb, ${key.checksum})
      on conflict (version, direction, phase)
      do update set done = excluded.done, progress = excluded.progress, checksum = excluded.checksum, updated_at = now()`.execute(db);
  }

  /** Forgets a migration's phases (both directions): it completed. */
  async clear(db: Kysely<any>, version: number): Promise<void> {
    await sql`delete from ${this.ref} where version = ${version}`.execute(db);
  }

  /** Migrations with journal rows: interrupted runs that the next `up`/`down` resumes. */
  async inFlight(db: Kysely<any>): Promise<InFlightMigration[]> {
    if (!(await this.exists(db))) return [];
    const { rows } = await sql<{ version: number; direction: MigrationDirection; done: number | string; rows_done: number | string | null; updated_at: Date | string }>`
      select version, direction, count(*) filter (where done) as done,
             sum((progress ->> 'rows')::bigint) as rows_done, max(updated_at) as updated_at
        from ${this.ref} group by version, direction order by version`.execute(db);
    return rows.map((r) => ({
      version: Number(r.version),
      direction: r.direction,
      phasesDone: Number(r.done),
      rowsDone: Number(r.rows_done ?? 0),
      updatedAt: new Date(r.updated_at),
    }));
  }
}
