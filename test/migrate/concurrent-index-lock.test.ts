import { sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/index.js';
import { Migrator, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';
import { waitingLocks } from '../support/pg-locks.js';

/**
 * The race behind acquireAdvisoryLock's polling (see its comment): the lock
 * holder runs CREATE INDEX CONCURRENTLY while another runner waits for the
 * lock. PostgreSQL only: PGlite has one session, so there is no second waiter.
 */
const postgres = BACKENDS.find((b) => b.name === 'postgres')!;

/** Held by a test while the waiter starts: migration 1 waits for it, so the waiter is polling before it ends. */
const GATE = 4243;

const table: Migration = {
  version: 1,
  name: 'readings',
  // Not a sleep: a busy machine can take longer than any fixed pause to start the waiter.
  up: ({ schema: s }) => [
    `create table ${s}.readings (id int primary key, sensor text not null)`,
    `insert into ${s}.readings select g, 's' || (g % 13) from generate_series(1, 2000) g`,
    `select pg_advisory_xact_lock(${GATE})`,
  ],
  down: ({ schema: s }) => [`drop table ${s}.readings`],
};

const index: Migration = {
  version: 2,
  name: 'readings-sensor-index',
  transactional: false,
  up: ({ schema: s }) => [
    `create index concurrently if not exists readings_sensor_idx on ${s}.readings (sensor)`,
  ],
  down: ({ schema: s }) => [`drop index concurrently if exists ${s}.readings_sensor_idx`],
};

describe.skipIf(postgres.skip)(
  'postgres: CREATE INDEX CONCURRENTLY under the migration lock',
  () => {
    let scratch: ScratchDatabase;
    useScratchDatabase('postgres', (s) => (scratch = s));

    it("control: a waiter blocked in pg_advisory_lock deadlocks the holder's CREATE INDEX CONCURRENTLY (the hazard is real)", async () => {
      const holder = new pg.Client({ connectionString: scratch.url });
      const waiter = new pg.Client({ connectionString: scratch.url });
      await holder.connect();
      await waiter.connect();
      try {
        await holder.query('create table control (id int, v text)');
        await holder.query('select pg_advisory_lock(4242)');
        // Not awaited: this is the blocking call a naive migrator makes.
        const waiting = waiter.query('select pg_advisory_lock(4242)').then(
          () => 'acquired',
          (error: { code?: string }) => error.code,
        );
        // Build once the waiter is queued: a fixed pause could end before a busy server got its call.
        await waitingLocks(holder);
        const building = holder
          .query("set statement_timeout = '8s'")
          .then(() => holder.query('create index concurrently control_v_idx on control (v)'))
          .then(
            () => 'built',
            (error: { code?: string }) => error.code,
          );
        const built = await building;
        await holder.query('select pg_advisory_unlock(4242)');
        const waited = await waiting;
        // PostgreSQL's deadlock detector breaks the cycle after deadlock_timeout
        // by aborting one side with 40P01 (usually the waiter, which waited first).
        expect([built, waited]).toContain('40P01');
      } finally {
        await holder.end();
        await waiter.end();
      }
    });

    it('a polling waiter does not deadlock the holder: both runs succeed, the waiter then finds nothing to do', async () => {
      const schema = 'mig_test_cic_lock';
      // Two handles, as two application instances would have.
      const first: Database = await openDatabase({ url: scratch.url!, poolSize: 2 });
      const second: Database = await openDatabase({ url: scratch.url!, poolSize: 2 });
      const timeline: string[] = [];
      const gate = new pg.Client({ connectionString: scratch.url });
      await gate.connect();
      await gate.query(`select pg_advisory_lock(${GATE})`);
      try {
        let startSecond!: () => void;
        const secondMayStart = new Promise<void>((resolve) => (startSecond = resolve));
        const a = new Migrator({
          db: first.db,
          schema,
          migrations: [table, index],
          onEvent: (e) => {
            timeline.push(`a:${e.type}${e.version ? `:${e.version}` : ''}`);
            if (e.type === 'lock-acquired') startSecond();
          },
        });
        const b = new Migrator({
          db: second.db,
          schema,
          migrations: [table, index],
          pollIntervalMs: 25,
          onEvent: (e) => {
            timeline.push(`b:${e.type}${e.version ? `:${e.version}` : ''}`);
            if (e.type === 'lock-wait') void gate.query(`select pg_advisory_unlock(${GATE})`);
          },
        });
        const runA = a.up();
        await secondMayStart;
        const runB = b.up();
        const [resultA, resultB] = await Promise.all([runA, runB]);

        expect(resultA.error).toBeUndefined();
        expect(resultA.results.map((r) => [r.version, r.status])).toEqual([
          [1, 'applied'],
          [2, 'applied'],
        ]);
        expect(resultB).toEqual({ results: [] });
        // The waiter was polling for the whole index build, before and after it.
        expect(timeline.indexOf('b:lock-wait')).toBeGreaterThanOrEqual(0);
        expect(timeline.indexOf('b:lock-wait')).toBeLessThan(
          timeline.indexOf('a:migration-start:2'),
        );
        expect(timeline.indexOf('b:lock-acquired')).toBeGreaterThan(
          timeline.indexOf('a:migration-end:2'),
        );

        const { rows } = await sql<{ valid: boolean }>`
        select i.indisvalid as valid from pg_index i join pg_class c on c.oid = i.indexrelid
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = ${schema} and c.relname = 'readings_sensor_idx'`.execute(first.db);
        expect(rows).toEqual([{ valid: true }]);
      } finally {
        await gate.end();
        await first.close();
        await second.close();
      }
    });

    it('a waiter gives up after lockWaitMs with CK_MIGRATION_LOCK and changes nothing', async () => {
      const schema = 'mig_test_lock_wait';
      const key = 987_654_321n;
      const holder = new pg.Client({ connectionString: scratch.url });
      await holder.connect();
      try {
        await holder.query(`select pg_advisory_lock(${key})`);
        const events: string[] = [];
        const started = performance.now();
        const { error, results } = await new Migrator({
          db: scratch.database.db,
          schema,
          migrations: [table],
          lockKey: key,
          lockWaitMs: 300,
          pollIntervalMs: 50,
          onEvent: (e) => events.push(e.type),
        }).up();
        expect(error?.code).toBe('CK_MIGRATION_LOCK');
        expect(error?.message).toContain('Timed out after 300 ms waiting for the migration lock');
        expect(results).toEqual([]);
        expect(events).toEqual(['lock-wait']);
        expect(performance.now() - started).toBeLessThan(1500);
        const { rows } = await sql`select 1 from pg_namespace where nspname = ${schema}`.execute(
          scratch.database.db,
        );
        expect(rows).toEqual([]);
      } finally {
        await holder.end();
      }
    });
  },
);
