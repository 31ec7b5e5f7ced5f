import { PGlite } from '@electric-sql/pglite';
import { Kysely, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { SerializedPGliteDialect } from '../../src/db/serialized-pglite-dialect.js';
import { ChatkeepError } from '../../src/errors/index.js';
import {
  concurrentIndex,
  fingerprint,
  Migrator,
  pgliteClone,
  postgresDumpCopy,
  postgresScratch,
  rehearse,
  REHEARSAL_DATABASE_PREFIX,
  type Migration,
  type RehearsalCopy,
  type RehearsalReport,
} from '../../src/migrate/index.js';
import { lockModeName } from '../../src/migrate/rehearse/lock-modes.js';
import { measuredLocks } from '../../src/migrate/rehearse/measured-locks.js';
import { BACKENDS, createPgDatabase, PG_ADMIN_URL, type BackendName, PG_DUMP_SKIP } from '../support/backends.js';

/**
 * `rehearse` (issue 4, "--rehearse runs the plan on a copy and reports the
 * lock time each step actually held"): on PostgreSQL the locks are sampled
 * from pg_locks by a second session, on PGlite they are estimated; either
 * way the target's schema and rows must come out identical.
 */
const SCHEMA = 'app';

/** Enough rows that a plain index build holds SHARE for a measurable time (hundreds of ms on PostgreSQL). */
const ROWS: Record<BackendName, number> = { pglite: 30_000, postgres: 200_000 };

const items = (rows: number): Migration => ({
  version: 1,
  name: 'items',
  up: ({ schema: s }) => [
    `create table ${s}.items (id int primary key, v text not null, n int not null)`,
    `insert into ${s}.items select g, md5(g::text), g % 97 from generate_series(1, ${rows}) g`,
  ],
  down: ({ schema: s }) => [`drop table ${s}.items`],
});

/** The dangerous way: SHARE on a populated table until commit, every write waits. */
const plainIndex: Migration = {
  version: 2,
  name: 'items-v-index',
  up: ({ schema: s }) => [`create index items_v_idx on ${s}.items (v)`],
  down: ({ schema: s }) => [`drop index ${s}.items_v_idx`],
};

/** The safe way: SHARE UPDATE EXCLUSIVE, writes go on. */
const onlineIndex: Migration = {
  version: 3,
  name: 'items-n-index',
  up: ({ schema: s }) => [concurrentIndex({ name: 'items_n_idx', table: `${s}.items`, columns: 'n' })],
  down: ({ schema: s }) => [`drop index if exists ${s}.items_n_idx`],
};

async function rowsDigest(db: Kysely<any>): Promise<{ n: number; md5: string | null }> {
  const { rows } = await sql<{ n: number; md5: string | null }>`
    select count(*)::int as n, md5(string_agg(t::text, '|' order by t.id)) as md5 from app.items t`.execute(db);
  return rows[0]!;
}

async function snapshot(db: Kysely<any>) {
  return { schema: (await fingerprint(db, [SCHEMA])).hash, rows: await rowsDigest(db) };
}

function stepOf(report: RehearsalReport, version: number) {
  const migration = report.migrations.find((m) => m.version === version);
  expect(migration, `migration ${version} in the report`).toBeDefined();
  expect(migration!.steps).toHaveLength(1);
  return migration!.steps[0]!;
}

/** A target database with migration 1 applied, and the way to make a copy of it. */
interface Target {
  readonly db: Kysely<any>;
  readonly url: string | undefined;
  copy(): RehearsalCopy;
  close(): Promise<void>;
}

async function openTarget(backend: BackendName): Promise<Target> {
  if (backend === 'pglite') {
    const pglite = await PGlite.create();
    const db = new Kysely<any>({ dialect: new SerializedPGliteDialect({ pglite }) });
    return { db, url: undefined, copy: () => pgliteClone(pglite, 'the test database'), close: () => db.destroy() };
  }
  const created = await createPgDatabase();
  const database = await openDatabase({ url: created.url });
  return {
    db: database.db,
    url: created.url,
    copy: () => postgresDumpCopy(created.url),
    close: async () => {
      await database.close();
      await created.drop();
    },
  };
}

const migrations = (backend: BackendName) => [items(ROWS[backend]), plainIndex, onlineIndex];

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip || (backend.name === 'postgres' && PG_DUMP_SKIP))(`${backend.name}: rehearse`, () => {
    let target: Target;
    let before: Awaited<ReturnType<typeof snapshot>>;
    let report: RehearsalReport;

    beforeAll(async () => {
      target = await openTarget(backend.name);
      const migrator = new Migrator({ db: target.db, schema: SCHEMA, migrations: migrations(backend.name) });
      const { error } = await migrator.up({ to: 1 });
      expect(error).toBeUndefined();
      await sql`analyze app.items`.execute(target.db);
      before = await snapshot(target.db);
      report = await rehearse({
        copy: target.copy(),
        migrator: { schema: SCHEMA, migrations: migrations(backend.name) },
        expectPlan: await migrator.plan({ direction: 'up' }),
        maxLockMs: 1,
      });
    });
    afterAll(() => target?.close());

    it('runs every pending migration on the copy and leaves the target identical (schema fingerprint, rows, version)', async () => {
      expect(report.error).toBeUndefined();
      expect(report.migrations.map((m) => [m.version, m.status])).toEqual([
        [2, 'applied'],
        [3, 'applied'],
      ]);
      expect(await snapshot(target.db)).toEqual(before);
      const status = await new Migrator({ db: target.db, schema: SCHEMA, migrations: migrations(backend.name) }).status();
      expect(status.current).toBe(1);
      expect(status.pending.map((p) => p.version)).toEqual([2, 3]);
    });

    it(`a plain CREATE INDEX on the populated table reports SHARE held for a ${backend.name === 'postgres' ? 'measured' : 'estimated'} time > 0, and is flagged over the budget`, () => {
      expect(report.lockSource).toBe(backend.name === 'postgres' ? 'measured' : 'estimated');
      const step = stepOf(report, 2);
      const share = step.locks.find((l) => l.relation === 'app.items' && l.mode === 'SHARE');
      expect(share, JSON.stringify(step.locks)).toMatchObject({ blocksWrites: true, blocksReads: false, newRelation: false });
      expect(share!.heldMs).toBeGreaterThan(0);
      expect(share!.heldMs).toBeLessThanOrEqual(step.durationMs + (report.sampleIntervalMs ?? 0) + 1);
      expect(step.flagged).toBe(true);
      expect(report.overBudget).toBe(true);
      if (backend.name === 'postgres') expect(step.samples).toBeGreaterThan(0);
    });

    it('a concurrentIndex step holds no lock that blocks writes on an existing relation', () => {
      const step = stepOf(report, 3);
      expect(step.description).toContain('concurrently');
      expect(step.locks.filter((l) => l.blocksWrites && !l.newRelation)).toEqual([]);
      expect(step.flagged).toBe(false);
      // Its own lock is the one that lets writes go on.
      expect(step.locks.some((l) => l.relation === 'app.items' && l.mode === 'SHARE UPDATE EXCLUSIVE')).toBe(true);
    });

    it('refuses a copy whose plan is not the target\'s (CK_CONFIG), before running anything', async () => {
      const attempt = rehearse({
        copy: target.copy(),
        migrator: { schema: SCHEMA, migrations: migrations(backend.name) },
        expectPlan: [{ version: 3, direction: 'up' }],
      });
      await expect(attempt).rejects.toMatchObject({ code: 'CK_CONFIG', message: expect.stringContaining('would run 2 up, 3 up, but the target would run 3 up') });
      expect(await snapshot(target.db)).toEqual(before);
    });

    if (backend.name === 'pglite') {
      it('reports a migration that fails on the copy, and the target is still untouched', async () => {
        const broken: Migration = { version: 2, name: 'broken', up: () => ['create index broken_idx on app.no_such_table (x)'], down: () => ['select 1'] };
        const failed = await rehearse({ copy: target.copy(), migrator: { schema: SCHEMA, migrations: [items(ROWS.pglite), broken] } });
        expect(failed.error).toBeInstanceOf(ChatkeepError);
        expect(failed.error?.code).toBe('CK_MIGRATION_FAILED');
        expect(failed.migrations.map((m) => [m.version, m.status, m.steps[0]?.status])).toEqual([[2, 'failed', 'failed']]);
        expect(await snapshot(target.db)).toEqual(before);
      });
    }

    if (backend.name === 'postgres') {
      it('drops the database it copied into', async () => {
        // This rehearsal's copy, by name: other test files' rehearsals may be copying meanwhile.
        const copied = new RegExp(`database (${REHEARSAL_DATABASE_PREFIX}[0-9a-f]+)`).exec(report.copy)?.[1];
        expect(copied, report.copy).toBeDefined();
        const admin = new pg.Client({ connectionString: target.url });
        await admin.connect();
        try {
          const { rows } = await admin.query<{ n: string }>(`select count(*) as n from pg_database where datname = $1`, [copied]);
          expect(Number(rows[0]!.n)).toBe(0);
        } finally {
          await admin.end();
        }
      });

      it('postgresScratch refuses the target itself, however the URL spells it', async () => {
        const spelled = new URL(target.url!);
        spelled.hostname = spelled.hostname === '127.0.0.1' ? 'localhost' : spelled.hostname;
        const attempt = rehearse({ copy: postgresScratch(spelled.toString(), { target: target.url! }), migrator: { schema: SCHEMA, migrations: migrations('postgres') } });
        await expect(attempt).rejects.toMatchObject({ code: 'CK_CONFIG', message: expect.stringContaining('is the target database itself') });
        expect(await snapshot(target.db)).toEqual(before);
      });

      it('postgresScratch rehearses on a database you provide and leaves it migrated', async () => {
        const scratch = await createPgDatabase();
        const database = await openDatabase({ url: scratch.url });
        try {
          const copyMigrator = new Migrator({ db: database.db, schema: SCHEMA, migrations: migrations('postgres') });
          expect((await copyMigrator.up({ to: 1 })).error).toBeUndefined();
          const scratchReport = await rehearse({
            copy: postgresScratch(scratch.url, { target: target.db }),
            migrator: { schema: SCHEMA, migrations: migrations('postgres') },
            expectPlan: [
              { version: 2, direction: 'up' },
              { version: 3, direction: 'up' },
            ],
          });
          expect(scratchReport.error).toBeUndefined();
          expect(scratchReport.notes.join(' ')).toContain('left migrated');
          expect((await copyMigrator.status()).current).toBe(3);
          expect(await snapshot(target.db)).toEqual(before);
        } finally {
          await database.close();
          await scratch.drop();
        }
      });

      it('a copy that cannot be made is a clear CK_CONFIG or CK_DB_UNAVAILABLE error', async () => {
        const nowhere = new URL(PG_ADMIN_URL);
        nowhere.port = '1';
        await expect(rehearse({ copy: postgresDumpCopy(nowhere.toString()), migrator: { migrations: migrations('postgres') } })).rejects.toMatchObject({
          code: 'CK_DB_UNAVAILABLE',
        });
        const path = process.env['PATH'];
        process.env['PATH'] = '/nonexistent';
        try {
          await expect(rehearse({ copy: postgresDumpCopy(target.url!), migrator: { migrations: migrations('postgres') } })).rejects.toMatchObject({ code: 'CK_CONFIG', message: expect.stringContaining('pg_dump is not on PATH') });
        } finally {
          process.env['PATH'] = path;
        }
      });
    }
  });
}

describe('rehearse: lock accounting', () => {
  it('names pg_locks modes as the manual does', () => {
    expect(['AccessShareLock', 'RowExclusiveLock', 'ShareUpdateExclusiveLock', 'ShareRowExclusiveLock', 'AccessExclusiveLock'].map(lockModeName)).toEqual([
      'ACCESS SHARE',
      'ROW EXCLUSIVE',
      'SHARE UPDATE EXCLUSIVE',
      'SHARE ROW EXCLUSIVE',
      'ACCESS EXCLUSIVE',
    ]);
  });

  it('each sample stands for the time halfway to its neighbours; the step bounds the first and the last', () => {
    const share = { oid: '1', mode: 'SHARE', visible: true };
    const created = { oid: '2', mode: 'ACCESS EXCLUSIVE', visible: false };
    const step = { index: 0, description: 'x', start: 100, end: 200, status: 'done' as const };
    const samples = [
      { at: 90, locks: [share] }, // before the step: not counted
      { at: 110, locks: [] },
      { at: 130, locks: [share, created] },
      { at: 150, locks: [share, created] },
      { at: 190, locks: [share] },
      { at: 205, locks: [share] }, // after the step
    ];
    const names = new Map<string, string | undefined>([['1', 'app.items']]);
    const { locks, samples: n } = measuredLocks(step, samples, names);
    expect(n).toBe(4);
    // share: from halfway 110–130 (120) to the step's end (200); created: 120 to halfway 150–190 (170).
    expect(locks).toEqual([
      { relation: 'app.items', mode: 'SHARE', heldMs: 80, blocksWrites: true, blocksReads: false, newRelation: false },
      { relation: '(relation 2, dropped later in the rehearsal)', mode: 'ACCESS EXCLUSIVE', heldMs: 50, blocksWrites: true, blocksReads: true, newRelation: true },
    ]);
  });

  it('a relation is new or old by the first sample that saw its lock, not by one taken between commit and lock release', () => {
    // PostgreSQL shows a commit before it releases the locks: the last sample
    // can see the created table by name and the dropped one gone.
    const step = { index: 0, description: 'x', start: 100, end: 200, status: 'done' as const };
    const created = (visible: boolean) => ({ oid: '3', mode: 'ACCESS EXCLUSIVE', visible });
    const dropped = (visible: boolean) => ({ oid: '4', mode: 'ACCESS EXCLUSIVE', visible });
    const samples = [
      { at: 120, locks: [created(false), dropped(true)] },
      { at: 150, locks: [created(false), dropped(true)] },
      { at: 195, locks: [created(true), dropped(false)] }, // committed, locks not yet released
    ];
    const names = new Map<string, string | undefined>([
      ['3', 'app.created'],
      ['4', 'app.dropped'],
    ]);
    const { locks } = measuredLocks(step, samples, names);
    expect(locks.map((l) => [l.relation, l.newRelation])).toEqual([
      ['app.created', true],
      ['app.dropped', false],
    ]);
  });
});
