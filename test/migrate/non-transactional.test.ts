import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/index.js';
import { fingerprint, Migrator, type Migration, type MigrationEvent } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

const events: Migration = {
  version: 1,
  name: 'events',
  up: ({ schema: s }) => [
    `create table ${s}.events (id int primary key, kind text not null)`,
    `insert into ${s}.events select g, 'k' || (g % 7) from generate_series(1, 500) g`,
  ],
  down: ({ schema: s }) => [`drop table ${s}.events`],
};

/** CREATE INDEX CONCURRENTLY cannot run in a transaction; IF NOT EXISTS makes a re-run after a crash safe. */
const eventsKindIndex: Migration = {
  version: 2,
  name: 'events-kind-index',
  transactional: false,
  lockTimeout: '2s',
  up: ({ schema: s }) => [
    `create index concurrently if not exists events_kind_idx on ${s}.events (kind)`,
  ],
  down: ({ schema: s }) => [`drop index concurrently if exists ${s}.events_kind_idx`],
};

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: non-transactional migrations`, () => {
    let scratch: ScratchDatabase;
    let db: Kysely<any>;
    useScratchDatabase(backend.name, (s) => ((scratch = s), (db = s.database.db)));

    it('PostgreSQL refuses CREATE INDEX CONCURRENTLY inside a migration transaction (25001), which is why the flag exists', async () => {
      const { error } = await new Migrator({
        db,
        schema: 'mig_test_cic_tx',
        migrations: [events, { ...eventsKindIndex, transactional: true }],
        // The lint would refuse it first (concurrent-in-transaction); this test shows PostgreSQL's own refusal.
        allowLintErrors: ['concurrent-in-transaction'],
      }).up();
      expect(error?.details['sqlState']).toBe('25001');
    });

    it('CREATE INDEX CONCURRENTLY IF NOT EXISTS applies and reverts, and the session timeouts are reset afterwards', async () => {
      const schema = 'mig_test_cic';
      // A one-connection pool, so the connection the migrator used is the one inspected afterwards.
      const single: Database =
        backend.name === 'postgres'
          ? await openDatabase({ url: scratch.url!, poolSize: 1 })
          : scratch.database;
      try {
        const migrator = new Migrator({
          db: single.db,
          schema,
          migrations: [events, eventsKindIndex],
        });
        const pristine = await fingerprint(single.db, [schema]);
        const { error, results } = await migrator.up();
        expect(error).toBeUndefined();
        expect(results.map((r) => [r.version, r.status])).toEqual([
          [1, 'applied'],
          [2, 'applied'],
        ]);
        const index = (await fingerprint(single.db, [schema])).lines.find((l) =>
          l.startsWith(`index ${schema}.events_kind_idx `),
        );
        expect(index).toContain('valid=t');
        expect((await migrator.status()).applied.map((a) => a.version)).toEqual([1, 2]);
        const settings = await sql<{ lock: string; statement: string }>`
          select current_setting('lock_timeout') as lock, current_setting('statement_timeout') as statement`.execute(
          single.db,
        );
        expect(settings.rows[0]).toEqual({ lock: '0', statement: '0' });

        const down = await new Migrator({
          db: single.db,
          schema,
          migrations: [events, eventsKindIndex],
          removeBookkeepingAtZero: true,
        }).down({ to: 0 });
        expect(down.error).toBeUndefined();
        expect(await fingerprint(single.db, [schema])).toEqual(pristine);
      } finally {
        if (single !== scratch.database) await single.close();
      }
    });

    it('a failing non-transactional statement keeps (and journals) the earlier ones, records no version, logs the failure; a re-run resumes at the failed one', async () => {
      const schema = 'mig_test_cic_fail';
      let broken = true;
      const twoIndexes: Migration = {
        version: 2,
        name: 'two-indexes',
        transactional: false,
        up: ({ schema: s }) => [
          `create index concurrently if not exists events_kind_idx on ${s}.events (kind)`,
          broken
            ? `create index concurrently if not exists events_nope_idx on ${s}.events (nope)`
            : `create index concurrently if not exists events_id_kind_idx on ${s}.events (id, kind)`,
        ],
        down: ({ schema: s }) => [
          `drop index concurrently if exists ${s}.events_id_kind_idx`,
          `drop index concurrently if exists ${s}.events_kind_idx`,
        ],
      };
      const first = await new Migrator({ db, schema, migrations: [events, twoIndexes] }).up();
      expect(first.error?.message).toMatch(
        /^Migration 2 two-indexes \(up\) failed at statement 2 of 2: .*\(SQLSTATE 42703\); the statements before it are done and journaled, and the next run resumes there$/,
      );
      const lines = (await fingerprint(db, [schema])).lines;
      expect(lines.some((l) => l.startsWith(`index ${schema}.events_kind_idx `))).toBe(true);
      const migrator = new Migrator({ db, schema, migrations: [events, twoIndexes] });
      const status = await migrator.status();
      expect(status.current).toBe(1);
      // The committed statement is known: the migration is in flight, not silently half-done.
      expect(status.inFlight).toMatchObject([{ version: 2, direction: 'up', phasesDone: 1 }]);
      expect((await migrator.history(1))[0]).toMatchObject({ version: 2, outcome: 'failed' });

      broken = false; // the fix ships; the checksum is only recorded on success, so this is allowed
      const seen: MigrationEvent[] = [];
      const second = await new Migrator({ db, schema, migrations: [events, twoIndexes], onEvent: (e) => seen.push(e) }).up();
      expect(second.error).toBeUndefined();
      expect(seen.filter((e) => e.type === 'phase-skipped').map((e) => e.phase)).toEqual([0]);
      expect(seen.filter((e) => e.type === 'phase-end').map((e) => e.phase)).toEqual([1]);
      const after = await migrator.status();
      expect([after.current, after.inFlight]).toEqual([2, []]);
    });

    // It once said "the statements before it are done and journaled" when there were none.
    it('a failing first statement says nothing before it was done, and nothing is in flight', async () => {
      const schema = 'mig_test_cic_fail_first';
      const badFirst: Migration = {
        version: 2,
        name: 'bad-first',
        transactional: false,
        up: ({ schema: s }) => [
          `create index concurrently if not exists events_nope_idx on ${s}.events (nope)`,
          `create index concurrently if not exists events_kind_idx on ${s}.events (kind)`,
        ],
        down: ({ schema: s }) => [`drop index concurrently if exists ${s}.events_kind_idx`],
      };
      const migrator = new Migrator({ db, schema, migrations: [events, badFirst] });
      const { error } = await migrator.up();
      expect(error?.message).toMatch(
        /^Migration 2 bad-first \(up\) failed at statement 1 of 2: .*\(SQLSTATE 42703\); no statement before it; the next run starts again at statement 1$/,
      );
      const status = await migrator.status();
      expect([status.current, status.inFlight]).toEqual([1, []]);
    });
  });
}
