import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { Migrator } from '../../src/migrate/index.js';
import { BACKENDS, processTarget } from '../support/backends.js';
import { killAfter, runScript, type ChildRun } from '../support/child-runner.js';
import { LEDGER_STATEMENTS, ledgerMigrations } from './fixtures/statement-migrations.js';

/**
 * A non-transactional migration of plain SQL commits statement by statement
 * and journals each one (issue 4's step journal). Killed with SIGKILL at
 * random moments, the next run must resume at the first statement not yet
 * journaled: earlier statements are not re-run (at most the one whose commit
 * the kill separated from its journal row), none is skipped, and the end
 * state is that of a run never interrupted.
 */
const runner = fileURLToPath(new URL('./fixtures/run-statements.ts', import.meta.url));

const eventsOf = (run: ChildRun, type: string) =>
  run
    .output()
    .split('\n')
    .filter((line) => line.includes(`"type":"${type}"`))
    .map((line) => JSON.parse(line) as { phase?: number; version?: number });

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: kill -9 during a non-transactional migration`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterAll(async () => {
      for (const cleanup of cleanups) await cleanup();
    });
    const open = (t: string) => openDatabase(t.startsWith('postgres') ? { url: t } : { dataDir: t });

    // Seven PGlite processes start one after another: ~15 s on an idle 2-core machine, 45-55 s on a busy one.
    it('killed six times mid-statement, each run resumes at the first unjournaled statement and the end state equals an uninterrupted run', { timeout: 120_000 }, async () => {
      const target = await processTarget(backend.name, cleanups);
      const schema = 'stmt_kill';
      let database = await open(target);
      await new Migrator({ db: database.db, schema, migrations: ledgerMigrations() }).up({ to: 1 });
      await database.close();

      let kills = 0;
      const skippedPerRun: number[] = [];
      for (let attempt = 0; attempt < 6; attempt++) {
        const victim = runScript(runner, [target, schema, '150']);
        // Let it finish at least one statement in this run, then kill it somewhere in the next ones.
        // At most 300 ms later: two more 150 ms statements at most, so three runs cannot finish all
        // ten and at least three runs are really killed, the fourth resuming past ≥ 3 statements.
        await killAfter(victim, '"type":"phase-end"', { jitter: 300 });
        if (victim.child.exitCode === null) kills++;
        skippedPerRun.push(eventsOf(victim, 'phase-skipped').length);
        // A resumed run starts exactly where the journal says: skipped phases are 0..k-1, and the first one it runs is k.
        const skipped = eventsOf(victim, 'phase-skipped').map((e) => e.phase);
        expect(skipped).toEqual(skipped.map((_, i) => i));
        const started = eventsOf(victim, 'phase-start').map((e) => e.phase);
        if (started.length > 0) expect(started[0]).toBe(skipped.length);
      }
      const finisher = runScript(runner, [target, schema, '150']);
      expect(await finisher.exited, finisher.output()).toBe(0);

      database = await open(target);
      try {
        const migrator = new Migrator({ db: database.db, schema, migrations: ledgerMigrations() });
        const status = await migrator.status();
        expect([status.current, status.inFlight, status.problems]).toEqual([2, [], []]);

        const { rows: slices } = await sql<{ slice: number; n: number | string }>`
          select slice, count(*) as n from ${sql.table(`${schema}.ledger`)} group by slice order by slice`.execute(database.db);
        expect(slices.map((r) => [r.slice, Number(r.n)])).toEqual(
          Array.from({ length: LEDGER_STATEMENTS }, (_, i) => [i + 1, 200]),
        );

        const { rows: runs } = await sql<{ statement: number }>`
          select statement from ${sql.table(`${schema}.runs`)} order by at, statement`.execute(database.db);
        const commits = runs.map((r) => r.statement);
        // Statements committed in order, none skipped: drop immediate repeats and it is 1..N.
        expect(commits.filter((s, i) => s !== commits[i - 1])).toEqual(Array.from({ length: LEDGER_STATEMENTS }, (_, i) => i + 1));
        // Re-runs: only a kill between a statement's commit and its journal row can cause one.
        expect(commits.length - LEDGER_STATEMENTS).toBeLessThanOrEqual(kills);
      } finally {
        await database.close();
      }
      // The scenario really resumed past done work (so re-running everything would have shown above).
      expect(kills).toBeGreaterThanOrEqual(3);
      expect(Math.max(...skippedPerRun)).toBeGreaterThanOrEqual(3);
    });
  });
}
