import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  fingerprint,
  Migrator,
  type Migration,
  type MigrationEvent,
} from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

const base: Migration = {
  version: 1,
  name: 'base',
  up: ({ schema }) => [
    `create table ${schema}.things (id int primary key, secret text check (secret <> 'top-secret'))`,
    `create table ${schema}.uniq (id int unique deferrable initially deferred)`,
    `insert into ${schema}.uniq values (1)`,
  ],
  down: ({ schema }) => [`drop table ${schema}.uniq`, `drop table ${schema}.things`],
};

/** Its first statement succeeds; its second fails (42P01); everything it did must vanish. */
const breaksHalfway: Migration = {
  version: 2,
  name: 'breaks-halfway',
  up: ({ schema }) => [
    `create table ${schema}.half_done (id int)`,
    `insert into ${schema}.no_such_table values (1)`,
  ],
  down: ({ schema }) => [`drop table ${schema}.half_done`],
};

const later: Migration = {
  version: 3,
  name: 'later',
  up: ({ schema }) => [`create table ${schema}.later (id int)`],
  down: ({ schema }) => [`drop table ${schema}.later`],
};

async function state(db: Kysely<any>, schema: string) {
  const versions =
    await sql`select version, name, checksum from ${sql.id(schema, 'schema_migrations')} order by version`.execute(
      db,
    );
  return { fingerprint: await fingerprint(db, [schema]), versions: versions.rows };
}

async function lastLog(db: Kysely<any>, schema: string) {
  const { rows } = await sql<{
    version: number;
    direction: string;
    outcome: string;
    error: string | null;
  }>`
    select version, direction, outcome, error from ${sql.id(schema, 'schema_migrations_log')} order by id desc limit 1`.execute(
    db,
  );
  return rows[0];
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(
    `${backend.name}: a failing migration leaves the database exactly as before (R-MIG-3)`,
    () => {
      let scratch: ScratchDatabase;
      let db: Kysely<any>;
      useScratchDatabase(backend.name, (s) => ((scratch = s), (db = s.database.db)));

      it('a failure at the second statement rolls the whole migration back, stops the run and logs it', async () => {
        const schema = 'mig_test_fail';
        await new Migrator({ db, schema, migrations: [base] }).up();
        const before = await state(db, schema);

        const events: MigrationEvent[] = [];
        const migrator = new Migrator({
          db,
          schema,
          migrations: [base, breaksHalfway, later],
          onEvent: (e) => events.push(e),
        });
        const { error, results } = await migrator.up();

        expect(results.map((r) => [r.version, r.status])).toEqual([
          [2, 'failed'],
          [3, 'not-run'],
        ]);
        expect(error?.code).toBe('CK_MIGRATION_FAILED');
        expect(error?.message).toMatch(
          /^Migration 2 breaks-halfway \(up\) failed at statement 2 of 2: .*no_such_table.* \(SQLSTATE 42P01\); rolled back/,
        );
        expect(error?.details).toMatchObject({
          version: 2,
          name: 'breaks-halfway',
          statement: 2,
          sqlState: '42P01',
        });
        expect(error?.cause).toBeDefined();
        expect(events.filter((e) => e.type === 'migration-failed').map((e) => e.version)).toEqual([
          2,
        ]);

        const after = await state(db, schema);
        expect(after.fingerprint.lines).toEqual(before.fingerprint.lines);
        expect(after.versions).toEqual(before.versions);
        expect(await lastLog(db, schema)).toMatchObject({
          version: 2,
          direction: 'up',
          outcome: 'failed',
          error: error?.message,
        });
        expect((await migrator.status()).pending.map((p) => p.version)).toEqual([2, 3]);
      });

      it('the error keeps PostgreSQL evidence but not row data', async () => {
        const schema = 'mig_test_private';
        const leaks: Migration = {
          version: 2,
          name: 'leaks',
          up: ({ schema: s }) => [`insert into ${s}.things (id, secret) values (1, 'top-secret')`],
          down: () => ['select 1'],
        };
        const { error } = await new Migrator({ db, schema, migrations: [base, leaks] }).up();
        expect(error?.details['sqlState']).toBe('23514');
        expect(error?.message).toContain('things_secret_check');
        expect(error?.message).not.toContain('top-secret');
        expect(error?.message).not.toContain('insert into');
      });

      it('a deferred constraint failing at COMMIT is reported as such and rolled back', async () => {
        const schema = 'mig_test_commit';
        await new Migrator({ db, schema, migrations: [base] }).up();
        const before = await state(db, schema);
        const duplicate: Migration = {
          version: 2,
          name: 'duplicate',
          up: ({ schema: s }) => [
            `create table ${s}.extra (id int)`,
            `insert into ${s}.uniq values (1)`,
          ],
          down: () => ['select 1'],
        };
        const { error } = await new Migrator({ db, schema, migrations: [base, duplicate] }).up();
        expect(error?.message).toMatch(
          /^Migration 2 duplicate \(up\) failed at commit: .*\(SQLSTATE 23505\)/,
        );
        expect((await state(db, schema)).fingerprint.hash).toBe(before.fingerprint.hash);
      });

      it('a migration whose up() throws is reported before anything runs', async () => {
        const schema = 'mig_test_render';
        const broken: Migration = {
          version: 2,
          name: 'broken',
          up: () => {
            throw new Error('typo in template');
          },
          down: () => [],
        };
        const { error, results } = await new Migrator({
          db,
          schema,
          migrations: [base, broken],
        }).up();
        expect(error?.code).toBe('CK_CONFIG');
        expect(error?.message).toContain('Migration 2 broken: up() threw: typo in template');
        expect(results).toEqual([]);
        // Rendering (and linting) happen before the bookkeeping is created:
        // not even the version table was written.
        const { rows } = await sql<{ present: boolean }>`
          select to_regclass(${`${schema}.schema_migrations`}) is not null as present`.execute(db);
        expect(rows).toEqual([{ present: false }]);
      });

      it.skipIf(backend.name === 'pglite')(
        'lock_timeout: DDL behind a long transaction fails fast with 55P03 instead of queuing (PostgreSQL; PGlite has one session, so nothing can hold a lock against it)',
        async () => {
          const schema = 'mig_test_lock_timeout';
          await new Migrator({ db, schema, migrations: [base] }).up();
          const before = await state(db, schema);
          const blocker = new pg.Client({ connectionString: scratch.url });
          await blocker.connect();
          try {
            await blocker.query('begin');
            await blocker.query(`lock table ${schema}.things in access exclusive mode`);
            const alter: Migration = {
              version: 2,
              name: 'alter-things',
              lockTimeout: '200ms',
              up: ({ schema: s }) => [`alter table ${s}.things add column extra int`],
              down: ({ schema: s }) => [`alter table ${s}.things drop column extra`],
            };
            const started = performance.now();
            const { error } = await new Migrator({ db, schema, migrations: [base, alter] }).up();
            const elapsed = performance.now() - started;
            expect(error?.details['sqlState']).toBe('55P03');
            expect(error?.message).toContain(
              'Migration 2 alter-things (up) failed at statement 1 of 1',
            );
            expect(elapsed).toBeLessThan(2000);
          } finally {
            await blocker.query('rollback');
            await blocker.end();
          }
          expect((await state(db, schema)).fingerprint.hash).toBe(before.fingerprint.hash);
        },
      );

      it.skipIf(backend.name === 'pglite')(
        "statement_timeout: a statement running past the migration's limit is cancelled with 57014 (PostgreSQL; PGlite does not deliver the timeout signal)",
        async () => {
          const schema = 'mig_test_stmt_timeout';
          const slow: Migration = {
            version: 1,
            name: 'slow',
            statementTimeout: '100ms',
            up: () => ['select pg_sleep(3)'],
            down: () => ['select 1'],
          };
          const started = performance.now();
          const { error } = await new Migrator({ db, schema, migrations: [slow] }).up();
          expect(error?.details['sqlState']).toBe('57014');
          expect(performance.now() - started).toBeLessThan(2000);
        },
      );
    },
  );
}
