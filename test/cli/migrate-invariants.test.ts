import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { fingerprint } from '../../src/migrate/index.js';
import { BACKENDS, createPgDatabase, PG_DUMP_SKIP } from '../support/backends.js';
import { hostChatkeep, target, type CliRun } from './cli-process.js';

type Location = { readonly url?: string; readonly dataDir?: string };

interface PlanJson {
  readonly migrations: readonly {
    readonly version: number;
    readonly phased: boolean;
    readonly invariants: readonly Record<string, unknown>[];
    readonly invariantCheck?: {
      readonly when: string;
      readonly rollback: string;
      readonly beforeValuesStored: boolean;
    };
  }[];
}

/** The lines of `text` equal to `line`, counted: a live line must not come back in the closing report. */
const occurrences = (text: string, line: string) =>
  text.split('\n').filter((l) => l === line).length;

/** Each of `starts` begins a line of `text`, in this order (other lines may come between). */
function expectInOrder(text: string, starts: readonly string[]): void {
  const lines = text.split('\n');
  const positions = starts.map((start) => lines.findIndex((l) => l.startsWith(start)));
  expect(
    starts.filter((_, i) => positions[i]! < 0),
    text,
  ).toEqual([]);
  expect([...positions].sort((a, b) => a - b), text).toEqual(positions);
}

/** Everything a rehearsal must leave as it was: the schema's fingerprint, the rows, the applied versions. */
async function databaseState(location: Location) {
  const database = await openDatabase(location.url !== undefined ? { url: location.url } : { dataDir: location.dataDir! });
  try {
    const digest = async (table: string) => {
      const { rows } = await sql<{ n: number; md5: string | null }>`
        select count(*)::int as n, md5(string_agg(t::text, '|' order by t::text)) as md5 from ${sql.table(table)} t`.execute(database.db);
      return rows[0];
    };
    const { rows: versions } = await sql<{ version: number }>`select version from app.schema_migrations order by version`.execute(database.db);
    return {
      schema: (await fingerprint(database.db, ['app'])).lines,
      notes: await digest('app.notes'),
      authors: await digest('app.authors'),
      versions: versions.map((v) => v.version),
    };
  } finally {
    await database.close();
  }
}

/**
 * `migrate plan` lists the invariants each migration will check (what is
 * measured before, what is checked after, when, and how a broken one is
 * undone); `migrate up` (and `migrate plan --rehearse`, on its copy) says
 * when it starts measuring and checking, then prints each invariant as it
 * is checked, with expected and observed values, and the lint errors it
 * accepted, as they happen; the closing report only counts them. The real
 * CLI over the migration set of fixtures/host-migrations.ts (0002 phased,
 * 0003 one transaction that breaks its row count), on a real database per
 * backend.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(
    `${backend.name}: invariants and lint in migrate plan, plan --rehearse and migrate up`,
    () => {
      const cleanups: (() => Promise<void>)[] = [];
      /** A brand-new database for the CLI: a PGlite folder, or a PostgreSQL database. */
      const freshLocation = async (): Promise<Location> => {
        if (backend.name === 'pglite') {
          const dir = mkdtempSync(join(tmpdir(), 'chatkeep-cli-invariants-'));
          cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
          return { dataDir: join(dir, 'data') };
        }
        const scratch = await createPgDatabase();
        cleanups.push(scratch.drop);
        return { url: scratch.url };
      };
      const fresh = async (): Promise<string[]> => target(await freshLocation());
      let db: string[] = [];
      const run = (...args: string[]): Promise<CliRun> =>
        hostChatkeep([...db, '--schema', 'app', ...args]);

      beforeAll(async () => {
        db = await fresh();
      });
      afterAll(async () => {
        for (const cleanup of cleanups) await cleanup();
      });

      it(
        'plan lists, per migration, the before-values, then the invariants checked after its SQL, when, and how a broken one is undone',
        { timeout: 240_000 },
        async () => {
          // One after the other: PGlite allows one process per data folder.
          const text = await run('migrate', 'plan');
          const json = await run('migrate', 'plan', '--json');
          expect(text.code, text.stderr).toBe(0);
          const lines = text.stdout.split('\n');
          const at = (line: string) => {
            const index = lines.indexOf(line);
            expect(index, `${line}\n---\n${text.stdout}`).toBeGreaterThanOrEqual(0);
            return index;
          };
          // 0002, phased: measured (and stored) before its SQL, checked after its last phase, undone by down().
          const slug = [
            at(
              '-- invariants: before up starts, measure row count of app.notes (stored, so a run resumed after a kill compares with them)',
            ),
            at('alter table app.notes add column slug text;'),
            at(
              '-- invariants (3): checked after its last phase, when its work is committed, before its version is recorded; a broken one is undone by its down() and the migration runs again from the start next time:',
            ),
            at(
              '--   [row-count-preserved] app.notes (allowGrowth): at least as many rows after up as before',
            ),
            at('--   [not-null] app.notes.slug: no NULL'),
            at(
              '--   [check] slugs are lower-case: `select not exists (select 1 from app.notes where slug <> lower(slug))` returns true',
            ),
          ];
          // 0003, one transaction: checked before COMMIT, rolled back with it.
          const prune = [
            at('-- 0003 notes-prune (up, in one transaction)'),
            at(
              '-- invariants: before up starts, measure row count of app.notes; row count and digest of app.authors',
            ),
            at('alter table app.notes drop column legacy;'),
            at(
              '-- invariants (2): checked before COMMIT, inside its transaction; a broken one rolls the whole migration back:',
            ),
            at('--   [row-count-preserved] app.notes: as many rows after up as before'),
            at('--   [table-checksum] app.authors: exactly the rows it had before up'),
          ];
          // 0004, transactional: false: nothing measured before, checked after its last statement.
          const index = [
            at('-- 0004 notes-title-idx (up, NOT transactional: statements run one by one, each journaled, so a stopped run resumes at the one that failed)'),
            at('create index concurrently if not exists notes_title_idx on app.notes (title);'),
            at(
              '-- invariants (1): checked after its last statement, when its work is committed, before its version is recorded; a broken one is undone by its down() and the migration runs again from the start next time:',
            ),
            at(
              '--   [no-orphans] app.notes (author_id) → app.authors (id): every child row whose key is all non-NULL has a parent',
            ),
          ];
          expect(
            lines.slice(index[0], index[1]).filter((l) => l.startsWith('-- invariants')),
          ).toEqual([]);
          for (const order of [slug, prune, index])
            expect([...order].sort((a, b) => a - b)).toEqual(order);
          // 0001 declares none: no invariant line between its header and 0002's.
          expect(
            lines
              .slice(at('-- 0001 notes (up, in one transaction)'), slug[0])
              .filter((l) => l.startsWith('-- invariants')),
          ).toEqual([]);

          expect(json.code, json.stderr).toBe(0);
          const plan = JSON.parse(json.stdout) as PlanJson;
          expect(
            plan.migrations.map((m) => [m.version, m.invariants.length, m.invariantCheck]),
          ).toEqual([
            [1, 0, undefined],
            [2, 3, { when: 'after-commit', rollback: 'down', beforeValuesStored: true }],
            [3, 2, { when: 'before-commit', rollback: 'transaction', beforeValuesStored: false }],
            [4, 1, { when: 'after-commit', rollback: 'down', beforeValuesStored: false }],
          ]);
          expect(plan.migrations[1]!.invariants[0]).toEqual({
            kind: 'row-count-preserved',
            name: 'row count of app.notes preserved',
            table: 'app.notes',
            allowGrowth: true,
            measuredBefore: true,
          });
          expect(plan.migrations[2]!.invariants[1]).toMatchObject({
            kind: 'table-checksum',
            table: 'app.authors',
            measuredBefore: true,
          });

          // The plan of a revert has no invariants: they are checked after up only.
          const down = await run('migrate', 'plan', '--down', '--to', '0');
          expect(down.code, down.stderr).toBe(0);
          expect(down.stdout).toContain('Nothing to do.');
        },
      );

      it(
        'up prints the accepted lint error first, then each invariant as it is checked (passed, and the one that broke, with expected and observed), once',
        { timeout: 240_000 },
        async () => {
          const result = await run('migrate', 'up', '--allow-lint-errors', 'drop-column');
          expect(result.code, result.stderr).toBe(1);
          const out = result.stdout.split('\n');
          const err = result.stderr.split('\n');

          // The accepted lint error: a warning on stderr, before anything ran.
          expect(err[0]).toBe(
            'warning: 0003 notes-prune runs despite lint error drop-column (statement 2), accepted by --allow-lint-errors: DROP COLUMN app.notes.legacy (row count unknown): the values are gone for good (down can only re-add an empty column), and application code still selecting or inserting it fails',
          );

          const okRowCount =
            '  invariant ok      row count of app.notes preserved: expected at least 40 rows (as before up), observed 40 rows';
          const failedRowCount =
            '  invariant FAILED  row count of app.notes preserved: expected 40 rows (as before up), observed 39 rows';
          // Measuring and checking are announced as they start (seconds each on a big table).
          const live = [
            'applying 0002 notes-slug…',
            '  invariants: measuring before-values (and storing them; a resumed run reads back the stored ones): row count of app.notes…',
            '  phase 1/2: 1 statement in one transaction…',
            '  phase 2/2 done (',
            '  invariants: checking 3…',
            okRowCount,
            '  invariant ok      app.notes.slug has no NULL: expected 0 NULLs, observed 0 NULLs',
            '  invariant ok      slugs are lower-case: expected true, observed true',
            'applying 0003 notes-prune…',
            '  invariants: measuring before-values: row count of app.notes; row count and digest of app.authors…',
            '  invariants: checking 2…',
            failedRowCount,
            'Stopped: applied 2 migrations in',
          ];
          expectInOrder(result.stdout, live);
          expect(
            out.some((l) =>
              /^ {2}invariant ok {6}checksum of app\.authors unchanged: expected 5 rows, digest [0-9a-f]{16} \(as before up\), observed 5 rows, digest [0-9a-f]{16}$/.test(
                l,
              ),
            ),
          ).toBe(true);
          expect(out.some((l) => /^applied {2}0002 notes-slug \(\d+ ms\)$/.test(l))).toBe(true);

          // How the broken migration was undone, beside its FAILED line.
          expect(err).toContain(
            '  an invariant broke: rolled back with its transaction, nothing of it was committed',
          );
          expect(err.some((l) => /^FAILED {3}0003 notes-prune after \d+ ms$/.test(l))).toBe(true);

          // The closing report counts; each detail was printed once, live.
          expect(out).toContain('Invariants of 0002 notes-slug: 3 passed');
          expect(out).toContain(
            'Invariants of 0003 notes-prune: 1 FAILED, 1 passed; undone: rolled back with its transaction',
          );
          expect(occurrences(result.stdout, failedRowCount)).toBe(1);
          expect(occurrences(result.stdout, okRowCount)).toBe(1);
          expect(result.stderr).toContain(
            'error [CK_MIGRATION_INVARIANT]: Migration 3 notes-prune (up): invariant "row count of app.notes preserved" failed: expected 40 rows (as before up), observed 39 rows; rolled back',
          );

          const status = JSON.parse((await run('migrate', 'status', '--json')).stdout) as {
            current: number;
            latest: number;
          };
          expect(status).toMatchObject({ current: 2, latest: 4 });
        },
      );

      it(
        '--json: a phased migration that breaks an invariant is undone by down(); the live lines go to stderr, stdout is one JSON document',
        { timeout: 240_000 },
        async () => {
          const args = await fresh();
          const result = await hostChatkeep(
            [...args, '--schema', 'app', 'migrate', 'up', '--to', '2', '--json'],
            { HOST_BREAK_SLUG: '1' },
          );
          expect(result.code, result.stderr).toBe(1);
          const report = JSON.parse(result.stdout) as {
            current: number;
            results: {
              version: number;
              status: string;
              rollback?: string;
              invariants?: { status: string }[];
            }[];
          };
          expect(report.current).toBe(1);
          expect(report.results[1]).toMatchObject({
            version: 2,
            status: 'failed',
            rollback: 'down',
          });
          expect(report.results[1]!.invariants!.map((i) => i.status)).toEqual([
            'passed',
            'failed',
            'passed',
          ]);

          const live = [
            'applying 0002 notes-slug…',
            '  invariants: measuring before-values (and storing them; a resumed run reads back the stored ones): row count of app.notes…',
            '  invariants: checking 3…',
            '  invariant ok      row count of app.notes preserved: expected at least 40 rows (as before up), observed 40 rows',
            '  invariant FAILED  app.notes.slug has no NULL: expected 0 NULLs, observed 1 NULL',
            '  invariant ok      slugs are lower-case: expected true, observed true',
            'FAILED   0002 notes-slug after',
            '  an invariant broke: its work is committed; undoing it with its down()…',
            'reverting 0002 notes-slug…',
            'reverted  0002 notes-slug (',
            'error [CK_MIGRATION_INVARIANT]: Migration 2 notes-slug (up): invariant "app.notes.slug has no NULL" failed: expected 0 NULLs, observed 1 NULL; undone by its down()',
          ];
          expectInOrder(result.stderr, live);
        },
      );

      // The rehearsal copies the database: pg_dump | psql on PostgreSQL.
      const rehearseArgs = backend.name === 'postgres' ? ['--rehearse-copy'] : ['--rehearse'];

      it.skipIf(backend.name === 'postgres' && PG_DUMP_SKIP)(
        'plan --rehearse: invariants that hold are measured, checked and printed live for the copy, counted in the report; exit 0, the database unchanged',
        { timeout: 240_000 },
        async () => {
          const location = await freshLocation();
          const host = (...args: string[]) => hostChatkeep([...target(location), '--schema', 'app', ...args]);
          const setup = await host('migrate', 'up', '--to', '1');
          expect(setup.code, setup.stderr).toBe(0);
          const before = await databaseState(location);

          // A generous lock budget: only the invariants decide the exit code here.
          const result = await host('migrate', 'plan', '--to', '2', ...rehearseArgs, '--max-lock', '60000');
          expect(result.code, result.stderr).toBe(0);
          // Live, on stderr, marked as the rehearsal's.
          expectInOrder(result.stderr, [
            '[rehearsal] applying 0002 notes-slug…',
            '[rehearsal]   invariants: measuring before-values (and storing them; a resumed run reads back the stored ones): row count of app.notes…',
            '[rehearsal]   phase 1/2: 1 statement in one transaction…',
            '[rehearsal]   phase 2/2 done (',
            '[rehearsal]   invariants: checking 3…',
            '[rehearsal]   invariant ok      row count of app.notes preserved: expected at least 40 rows (as before up), observed 40 rows',
            '[rehearsal]   invariant ok      app.notes.slug has no NULL: expected 0 NULLs, observed 0 NULLs',
            '[rehearsal]   invariant ok      slugs are lower-case: expected true, observed true',
            '[rehearsal] applied  0002 notes-slug (',
          ]);
          // The report on stdout counts them under the migration (SQL comments).
          expect(result.stdout).toMatch(/^-- 0002 notes-slug \(up, applied, [\d,]+ ms\)\n-- {4}invariants: 3 passed$/m);
          expect(result.stdout).not.toContain('The rehearsal FAILED');
          expect(await databaseState(location)).toEqual(before);
        },
      );

      it.skipIf(backend.name === 'postgres' && PG_DUMP_SKIP)(
        'plan --rehearse: a broken invariant is printed FAILED with expected and observed, the rehearsal fails with CK_MIGRATION_INVARIANT (exit 1); the database unchanged',
        { timeout: 240_000 },
        async () => {
          const location = await freshLocation();
          const host = (...args: string[]) => hostChatkeep([...target(location), '--schema', 'app', ...args]);
          const setup = await host('migrate', 'up', '--to', '2');
          expect(setup.code, setup.stderr).toBe(0);
          const before = await databaseState(location);

          // Plans 0003 (deletes a row, promises the row count) and 0004; the
          // rehearsal accepts 0003's lint error to measure it.
          const result = await host('migrate', 'plan', ...rehearseArgs, '--max-lock', '60000');
          expect(result.code, result.stderr).toBe(1);
          expectInOrder(result.stderr, [
            '[rehearsal] applying 0003 notes-prune…',
            '[rehearsal]   invariants: measuring before-values: row count of app.notes; row count and digest of app.authors…',
            '[rehearsal]   invariants: checking 2…',
            '[rehearsal]   invariant FAILED  row count of app.notes preserved: expected 40 rows (as before up), observed 39 rows',
            '[rehearsal]   invariant ok      checksum of app.authors unchanged: expected 5 rows, digest ',
            '[rehearsal] FAILED   0003 notes-prune after ',
            '[rehearsal]   an invariant broke: rolled back with its transaction, nothing of it was committed',
            'error [CK_MIGRATION_INVARIANT]: the rehearsal failed: Migration 3 notes-prune (up): invariant "row count of app.notes preserved" failed: expected 40 rows (as before up), observed 39 rows; rolled back',
          ]);
          expect(result.stderr).not.toContain('[rehearsal] applying 0004');
          expect(result.stdout).toMatch(/^-- 0003 notes-prune \(up, failed, [\d,]+ ms\)\n-- {4}invariants: 1 FAILED, 1 passed$/m);
          expect(result.stdout).toContain(
            '-- The rehearsal FAILED: Migration 3 notes-prune (up): invariant "row count of app.notes preserved" failed: expected 40 rows (as before up), observed 39 rows; rolled back',
          );
          expect(await databaseState(location)).toEqual(before);
        },
      );
    },
  );
}
