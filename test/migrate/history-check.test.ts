import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { fingerprint, Migrator, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase } from '../support/backends.js';

const table = (version: number, name: string, sqlBody = 'id int'): Migration => ({
  version,
  name,
  up: ({ schema }) => [`create table ${schema}.${name.replace(/-/g, '_')} (${sqlBody})`],
  down: ({ schema }) => [`drop table ${schema}.${name.replace(/-/g, '_')}`],
});

const M1 = table(1, 'alpha');
const M2 = table(2, 'beta');
const M3 = table(3, 'gamma');

/** Everything that must stay unchanged when a run is refused: schema objects, version rows, log rows. */
async function snapshot(db: Kysely<any>, schema: string) {
  const versions =
    await sql`select version, name, checksum from ${sql.id(schema, 'schema_migrations')} order by version`.execute(
      db,
    );
  const log =
    await sql`select id from ${sql.id(schema, 'schema_migrations_log')} order by id`.execute(db);
  return {
    fingerprint: (await fingerprint(db, [schema])).hash,
    versions: versions.rows,
    log: log.rows,
  };
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(
    `${backend.name}: Migrator refuses a history that does not match disk`,
    () => {
      let db: Kysely<any>;
      useScratchDatabase(backend.name, (s) => (db = s.database.db));

      it('checksum drift (SQL of an applied migration edited) is refused everywhere and changes nothing', async () => {
        const schema = 'mig_test_drift';
        expect(
          (await new Migrator({ db, schema, migrations: [M1, M2] }).up({ to: 1 })).error,
        ).toBeUndefined();
        const before = await snapshot(db, schema);

        const edited = new Migrator({
          db,
          schema,
          migrations: [table(1, 'alpha', 'id bigint'), M2],
        });
        const up = await edited.up();
        expect(up.error?.code).toBe('CK_MIGRATION_CHECKSUM');
        expect(up.error?.message).toMatch(
          /Migration 1 alpha was edited after it ran: applied checksum [0-9a-f]{64}, checksum on disk [0-9a-f]{64}/,
        );
        expect(up.results).toEqual([]);
        expect((await edited.down({ to: 0 })).error?.code).toBe('CK_MIGRATION_CHECKSUM');
        await expect(edited.plan({ direction: 'up' })).rejects.toMatchObject({
          code: 'CK_MIGRATION_CHECKSUM',
        });

        const status = await edited.status();
        expect(status.problems.map((p) => p.code)).toEqual(['CK_MIGRATION_CHECKSUM']);
        expect(status.problems[0]?.details).toMatchObject({ version: 1, name: 'alpha' });
        expect(await snapshot(db, schema)).toEqual(before);
      });

      it('an applied migration missing from disk is refused', async () => {
        const schema = 'mig_test_missing';
        await new Migrator({ db, schema, migrations: [M1, M2] }).up();
        const before = await snapshot(db, schema);
        const result = await new Migrator({ db, schema, migrations: [M1, M3] }).up();
        expect(result.error?.code).toBe('CK_MIGRATION_HISTORY');
        expect(result.error?.message).toContain(
          'Migration 2 beta is applied in the database but missing from the migration list',
        );
        expect(await snapshot(db, schema)).toEqual(before);
      });

      it('a renamed applied migration is refused', async () => {
        const schema = 'mig_test_renamed';
        await new Migrator({ db, schema, migrations: [M1, M2] }).up();
        const renamed = { ...M2, name: 'beta-renamed' };
        const result = await new Migrator({ db, schema, migrations: [M1, renamed] }).up();
        expect(result.error?.code).toBe('CK_MIGRATION_HISTORY');
        expect(result.error?.message).toContain(
          'Migration 2 was applied as beta but is named beta-renamed on disk',
        );
      });

      it('a pending migration older than the last applied one is refused, never skipped', async () => {
        const schema = 'mig_test_order';
        await new Migrator({ db, schema, migrations: [M1, M3] }).up();
        const before = await snapshot(db, schema);
        const migrator = new Migrator({ db, schema, migrations: [M1, M2, M3] });
        const result = await migrator.up();
        expect(result.error?.code).toBe('CK_MIGRATION_HISTORY');
        expect(result.error?.message).toContain(
          'Migration 2 beta is pending but older than the last applied migration 3',
        );
        const status = await migrator.status();
        expect(status.pending).toEqual([{ version: 2, name: 'beta' }]);
        expect(status.problems.map((p) => p.details['problem'])).toEqual(['out-of-order']);
        expect(await snapshot(db, schema)).toEqual(before);
      });

      it('an applied migration whose up() now throws is listed as a problem, not thrown by status', async () => {
        const schema = 'mig_test_throws';
        await new Migrator({ db, schema, migrations: [M1, M2] }).up();
        const throwing: Migration = {
          ...M1,
          up: () => {
            throw new Error('oops');
          },
        };
        const migrator = new Migrator({ db, schema, migrations: [throwing, M2] });
        const status = await migrator.status();
        expect(status.problems.map((p) => [p.code, p.details['version']])).toEqual([
          ['CK_CONFIG', 1],
        ]);
        expect((await migrator.up()).error?.message).toContain(
          'Migration 1 alpha: up() threw: oops',
        );
      });

      it('status lists every problem at once, in version order', async () => {
        const schema = 'mig_test_many';
        await new Migrator({ db, schema, migrations: [M1, M2, M3] }).up();
        const status = await new Migrator({
          db,
          schema,
          migrations: [table(1, 'alpha', 'x text'), { ...M2, name: 'b' }],
        }).status();
        expect(status.problems.map((p) => [p.code, p.details['version']])).toEqual([
          ['CK_MIGRATION_CHECKSUM', 1],
          ['CK_MIGRATION_HISTORY', 2],
          ['CK_MIGRATION_HISTORY', 3],
        ]);
      });

      it('status orders the problems by version, whatever kind each is', async () => {
        // 1 and 3 applied, 3 edited since; 2 pending below them (out of order).
        const schema = 'mig_test_order';
        await new Migrator({ db, schema, migrations: [M1, M3] }).up();
        const status = await new Migrator({ db, schema, migrations: [M1, M2, table(3, 'gamma', 'x text')] }).status();
        expect(status.problems.map((p) => [p.code, p.details['version']])).toEqual([
          ['CK_MIGRATION_HISTORY', 2],
          ['CK_MIGRATION_CHECKSUM', 3],
        ]);
      });
    },
  );
}
