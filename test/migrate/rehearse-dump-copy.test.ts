import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { Migrator, postgresDumpCopy, rehearse, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, PG_DUMP_SKIP } from '../support/backends.js';
import { itemsMigration, migratedPgDatabase, SCHEMA } from './fixtures/rehearsal-databases.js';

/**
 * The database a pg_dump copy (`--rehearse-copy`) hands the rehearsal must
 * behave like the long-lived target, not like a table just bulk-loaded: the
 * numbers it reports are only as good as that likeness.
 */
const migrations: Migration[] = [itemsMigration(300_000)];

const postgres = BACKENDS[1]!;

describe.skipIf(postgres.skip || PG_DUMP_SKIP)('postgres: the pg_dump copy as the rehearsal finds it', () => {
  it('is vacuumed and analysed like a long-lived database: no table waits for autovacuum, whose SHARE UPDATE EXCLUSIVE would stall and lengthen the steps', async () => {
    const source = await migratedPgDatabase(migrations);
    try {
      const copy = await postgresDumpCopy(source.url).open({ applicationName: `chatkeep-rehearsal-test-${process.pid}` });
      try {
        const { rows } = await sql<{ relname: string; inserted: number; vacuumed: boolean; analysed: boolean }>`
          select relname, n_ins_since_vacuum::int as inserted, last_vacuum is not null as vacuumed, last_analyze is not null as analysed
            from pg_stat_user_tables where schemaname = ${SCHEMA} and relname = 'items'`.execute(copy.db);
        expect(rows).toEqual([{ relname: 'items', inserted: 0, vacuumed: true, analysed: true }]);
      } finally {
        await copy.discard();
      }
    } finally {
      await source.drop();
    }
  });
});

describe.skipIf(postgres.skip || PG_DUMP_SKIP)('postgres: the pg_dump copy keeps the target database\'s own settings', () => {
  it('a migration relying on ALTER DATABASE … SET (search_path, maintenance_work_mem) runs on the copy as on the target', async () => {
    const source = await migratedPgDatabase(migrations);
    const owner = await openDatabase({ url: source.url });
    try {
      await sql.raw(`alter database ${source.name} set search_path = ${SCHEMA}, public`).execute(owner.db);
      await sql.raw(`alter database ${source.name} set maintenance_work_mem = '77MB'`).execute(owner.db);
      const unqualified: Migration[] = [
        ...migrations,
        {
          version: 2,
          name: 'items-v-index',
          // Unqualified, as the target's search_path allows: the real `up` would succeed.
          up: () => [`create index items_v_idx on items (v)`],
          down: () => [`drop index items_v_idx`],
        },
      ];
      const report = await rehearse({ copy: postgresDumpCopy(source.url), migrator: { schema: SCHEMA, migrations: unqualified } });
      expect(report.error?.message).toBeUndefined();
      expect(report.migrations.map((m) => [m.version, m.status])).toEqual([[2, 'applied']]);
      const copy = await postgresDumpCopy(source.url).open({ applicationName: `chatkeep-rehearsal-test-${process.pid}` });
      try {
        const { rows } = await sql<{ mwm: string }>`select current_setting('maintenance_work_mem') as mwm`.execute(copy.db);
        expect(rows[0]?.mwm).toBe('77MB');
      } finally {
        await copy.discard();
      }
      // The premise: on the target itself, a new session runs it.
      const fresh = await openDatabase({ url: source.url });
      try {
        expect((await new Migrator({ db: fresh.db, schema: SCHEMA, migrations: unqualified }).up({ allowLintErrors: true })).error).toBeUndefined();
      } finally {
        await fresh.close();
      }
    } finally {
      await owner.close();
      await source.drop();
    }
  });
});
