import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { backfill, concurrentIndex, type Migration } from '../../src/migrate/index.js';
import { lintAgainstDatabase } from '../../src/migrate/live-lint.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

/**
 * `checkpoint-pressure`: a backfill or index build whose WAL would exceed
 * max_wal_size makes checkpoints run back to back, and the application's
 * commits stall on their fsyncs (bench/migrate at 10 M rows). The live lint
 * warns, from the table's real size on disk and the server's setting.
 */
const migration: Migration = {
  version: 1,
  name: 'notes-slug',
  up: ({ schema: s }) => [
    `alter table ${s}.notes add column slug text`,
    backfill({ table: `${s}.notes`, key: ['id'], set: 'slug = lower(title)', where: 'slug is null' }),
    concurrentIndex({ name: 'notes_slug_idx', table: `${s}.notes`, columns: 'slug' }),
  ],
  down: ({ schema: s }) => [`alter table ${s}.notes drop column slug`],
};

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: checkpoint-pressure`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    it(backend.name === 'postgres'
      ? 'warns for each backfill and index step over a table whose WAL would exceed max_wal_size, and only then'
      : 'says nothing on PGlite, which has no concurrent writers to stall', async () => {
      const db = scratch.database.db;
      await sql`create schema cp`.execute(db);
      await sql`create table cp.notes (id int primary key, title text not null)`.execute(db);
      await sql`insert into cp.notes select g, 'Note ' || g || repeat(' text', 20) from generate_series(1, 5000) g`.execute(db);
      const context = { schema: 'cp', settings: {} };
      const steps = [{ migration, direction: 'up' as const }];

      const tight = await lintAgainstDatabase(db, steps, context, { maxWalBytes: 64 * 1024 });
      const pressure = tight[0]!.report.findings.filter((f) => f.rule === 'checkpoint-pressure');
      if (backend.name === 'pglite') {
        expect(pressure).toEqual([]);
        return;
      }
      expect(pressure.map((f) => [f.statementIndex, f.severity])).toEqual([[1, 'warning'], [2, 'warning']]);
      expect(pressure[0]!.message).toMatch(/^backfilling cp\.notes \(\d+ MB on disk\) writes roughly \d+ MB of WAL or more, over max_wal_size \(0 MB\)/);
      expect(pressure[1]!.message).toContain('building index notes_slug_idx on cp.notes');
      expect(pressure[0]!.fix).toContain("ALTER SYSTEM SET max_wal_size = '2GB'");
      // Findings stay in statement order.
      const order = tight[0]!.report.findings.map((f) => f.statementIndex);
      expect(order).toEqual([...order].sort((a, b) => a - b));

      // With the server's own max_wal_size (1 GB by default) a 1 MB table is no pressure.
      const roomy = await lintAgainstDatabase(db, steps, context);
      expect(roomy[0]!.report.findings.filter((f) => f.rule === 'checkpoint-pressure')).toEqual([]);
    });
  });
}
