import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { Migrator, type Migration, type MigrationEvent } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

/** Three tiny migrations; each test gets its own schema so tests share one database. */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'things',
    up: ({ schema }) => [`create table ${schema}.things (id int primary key)`],
    down: ({ schema }) => [`drop table ${schema}.things`],
  },
  {
    version: 2,
    name: 'thing-labels',
    up: ({ schema }) => [
      `alter table ${schema}.things add column label text`,
      `insert into ${schema}.things (id, label) values (1, 'one')`,
    ],
    down: ({ schema }) => [`alter table ${schema}.things drop column label`],
  },
  {
    version: 3,
    name: 'widgets',
    up: ({ schema }) => [
      `create table ${schema}.widgets (thing_id int references ${schema}.things)`,
    ],
    down: ({ schema }) => [`drop table ${schema}.widgets`],
  },
];

async function versionRows(db: Kysely<any>, schema: string) {
  const { rows } = await sql<{ version: number; name: string }>`
    select version, name from ${sql.id(schema, 'schema_migrations')} order by version`.execute(db);
  return rows.map((r) => [r.version, r.name]);
}

async function logRows(db: Kysely<any>, schema: string) {
  const { rows } = await sql<{ version: number; direction: string; outcome: string }>`
    select version, direction, outcome from ${sql.id(schema, 'schema_migrations_log')} order by id`.execute(
    db,
  );
  return rows.map((r) => [r.version, r.direction, r.outcome]);
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: Migrator up and status`, () => {
    let db: Kysely<any>;
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => {
      scratch = s;
      db = s.database.db;
    });

    it('status on a fresh database lists everything pending and creates nothing', async () => {
      const migrator = new Migrator({ db, schema: 'mig_test_fresh', migrations: MIGRATIONS });
      const status = await migrator.status();
      expect(status).toEqual({
        applied: [],
        pending: MIGRATIONS.map(({ version, name }) => ({ version, name })),
        current: 0,
        problems: [],
        inFlight: [],
      });
      expect(await migrator.history()).toEqual([]);
      const { rows } =
        await sql`select 1 from pg_namespace where nspname = 'mig_test_fresh'`.execute(db);
      expect(rows).toHaveLength(0);
    });

    it('up applies every migration in order, records version rows and log rows, and emits events', async () => {
      const schema = 'mig_test_up';
      const events: MigrationEvent[] = [];
      const migrator = new Migrator({
        db,
        schema,
        migrations: MIGRATIONS,
        onEvent: (e) => events.push(e),
      });
      const { error, results } = await migrator.up();
      expect(error).toBeUndefined();
      expect(results.map((r) => [r.version, r.name, r.direction, r.status])).toEqual([
        [1, 'things', 'up', 'applied'],
        [2, 'thing-labels', 'up', 'applied'],
        [3, 'widgets', 'up', 'applied'],
      ]);
      expect(results.every((r) => typeof r.durationMs === 'number')).toBe(true);
      expect(await versionRows(db, schema)).toEqual([
        [1, 'things'],
        [2, 'thing-labels'],
        [3, 'widgets'],
      ]);
      expect(await logRows(db, schema)).toEqual([
        [1, 'up', 'ok'],
        [2, 'up', 'ok'],
        [3, 'up', 'ok'],
      ]);
      const { rows } = await sql`select id, label from ${sql.id(schema, 'things')}`.execute(db);
      expect(rows).toEqual([{ id: 1, label: 'one' }]);
      expect(events.map((e) => [e.type, e.version])).toEqual([
        ['lock-acquired', undefined],
        ['migration-start', 1],
        ['migration-end', 1],
        ['migration-start', 2],
        ['migration-end', 2],
        ['migration-start', 3],
        ['migration-end', 3],
      ]);

      const status = await migrator.status();
      expect(status.current).toBe(3);
      expect(status.pending).toEqual([]);
      expect(status.problems).toEqual([]);
      expect(status.applied.map((a) => a.version)).toEqual([1, 2, 3]);
      expect(status.applied[0]?.appliedAt).toBeInstanceOf(Date);
      expect(status.applied[0]?.checksum).toMatch(/^[0-9a-f]{64}$/);

      const history = await migrator.history();
      expect(history.map((h) => h.version)).toEqual([3, 2, 1]);
      expect(history[0]).toMatchObject({
        name: 'widgets',
        direction: 'up',
        outcome: 'ok',
        error: null,
      });
      expect(history[0]?.startedAt).toBeInstanceOf(Date);
      expect(await migrator.history(1)).toHaveLength(1);
    });

    it('a second up is a no-op: no rows, no log, no migration events', async () => {
      const schema = 'mig_test_rerun';
      await new Migrator({ db, schema, migrations: MIGRATIONS }).up();
      const events: MigrationEvent[] = [];
      const again = await new Migrator({
        db,
        schema,
        migrations: MIGRATIONS,
        onEvent: (e) => events.push(e),
      }).up();
      expect(again).toEqual({ results: [] });
      expect(events.map((e) => e.type)).toEqual(['lock-acquired']);
      expect(await logRows(db, schema)).toHaveLength(3);
      expect(await versionRows(db, schema)).toHaveLength(3);
    });

    it('up --to stops at the target; status shows the rest as pending; a later up continues', async () => {
      const schema = 'mig_test_to';
      const migrator = new Migrator({ db, schema, migrations: MIGRATIONS });
      const first = await migrator.up({ to: 2 });
      expect(first.error).toBeUndefined();
      expect(first.results.map((r) => r.version)).toEqual([1, 2]);
      const status = await migrator.status();
      expect(status.current).toBe(2);
      expect(status.pending).toEqual([{ version: 3, name: 'widgets' }]);
      // Targeting an already-applied version is nothing to do, not an error.
      expect(await migrator.up({ to: 1 })).toEqual({ results: [] });
      expect((await migrator.up()).results.map((r) => r.version)).toEqual([3]);
    });

    it('an unknown target is reported as CK_MIGRATION_TARGET before anything is created', async () => {
      const schema = 'mig_test_target';
      const migrator = new Migrator({ db, schema, migrations: MIGRATIONS });
      const up = await migrator.up({ to: 7 });
      expect(up.error?.code).toBe('CK_MIGRATION_TARGET');
      expect(up.results).toEqual([]);
      const down = await migrator.down({ to: 9 });
      expect(down.error?.code).toBe('CK_MIGRATION_TARGET');
      // 0 is a target for down alone (undo everything); up to 0 is a typo, not "nothing to do".
      const upToZero = await migrator.up({ to: 0 });
      expect([upToZero.error?.code, upToZero.error?.message]).toEqual(['CK_MIGRATION_TARGET', expect.stringContaining('Unknown up target 0')]);
      await expect(migrator.plan({ direction: 'up', to: 4 })).rejects.toMatchObject({
        code: 'CK_MIGRATION_TARGET',
      });
      const { rows } = await sql`select 1 from pg_namespace where nspname = ${schema}`.execute(db);
      expect(rows).toHaveLength(0);
    });

    it.skipIf(backend.name === 'pglite')(
      'the migration lock is released after a run that succeeds and after one that fails: no advisory lock stays held, and another pool takes it without waiting (PostgreSQL only: PGlite has one session, which holds its locks again)',
      async () => {
        const heldAdvisoryLocks = async () => {
          const { rows } = await sql<{ n: number }>`
            select count(*)::int as n from pg_locks
             where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())`.execute(
            db,
          );
          return rows[0]!.n;
        };
        const broken: Migration = {
          version: 2,
          name: 'broken',
          up: ({ schema }) => [
            `create table ${schema}.half_done (id int)`,
            `insert into ${schema}.no_such_table values (1)`,
          ],
          down: ({ schema }) => [`drop table ${schema}.half_done`],
        };
        const runs = [
          {
            schema: 'mig_test_unlock_ok',
            migrations: MIGRATIONS,
            error: undefined,
            rerun: MIGRATIONS,
          },
          {
            schema: 'mig_test_unlock_failed',
            migrations: [MIGRATIONS[0]!, broken],
            error: 'CK_MIGRATION_FAILED',
            rerun: [MIGRATIONS[0]!],
          },
        ];
        // A second process's pool: it shares no session with `db`, so a lock left on one of db's pooled connections blocks it.
        const other = await openDatabase({ url: scratch.url!, poolSize: 2 });
        try {
          for (const run of runs) {
            const first = await new Migrator({
              db,
              schema: run.schema,
              migrations: run.migrations,
            }).up();
            expect(first.error?.code, run.schema).toBe(run.error);
            expect(await heldAdvisoryLocks(), run.schema).toBe(0);
            const next = await new Migrator({
              db: other.db,
              schema: run.schema,
              migrations: run.rerun,
              lockWaitMs: 0,
            }).up();
            expect(next, run.schema).toEqual({ results: [] });
          }
        } finally {
          await other.close();
        }
      },
    );

    it('a listener that throws does not break the run', async () => {
      const migrator = new Migrator({
        db,
        schema: 'mig_test_listener',
        migrations: MIGRATIONS,
        onEvent: () => {
          throw new Error('printer broke');
        },
      });
      const { error, results } = await migrator.up();
      expect(error).toBeUndefined();
      expect(results).toHaveLength(3);
    });
  });
}
