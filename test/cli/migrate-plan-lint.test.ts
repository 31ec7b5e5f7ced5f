import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropColumnWithBackup } from '../../src/migrate/backups/index.js';
import type { Migration, SuppressedFinding } from '../../src/migrate/index.js';
import { BACKENDS } from '../support/backends.js';
import { freshTarget, inProcessChatkeep } from './in-process.js';

const REASON = 'app 4.2 stopped reading and writing mood; every instance upgraded on 2024-05-02';

/**
 * 0001 creates and fills app.notes; 0002 drops notes.mood with
 * dropColumnWithBackup, the decision taken with `unusedBecause`; 0003 and
 * 0004 build indexes without CONCURRENTLY under hand-written suppressions,
 * the second in a block comment whose reason spans two lines.
 */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'notes',
    up: ({ schema: s }) => [
      `create table ${s}.notes (id int primary key, title text not null, mood text)`,
      `insert into ${s}.notes select g, 'Note ' || g, 'ok' from generate_series(1, 50) g`,
    ],
    down: ({ schema: s }) => [`drop table ${s}.notes`],
  },
  {
    version: 2,
    name: 'drop-mood',
    up: ({ schema: s }) => dropMood(s).up,
    down: ({ schema: s }) => dropMood(s).down,
  },
  {
    version: 3,
    name: 'notes-title-idx',
    up: ({ schema: s }) => [
      `-- lint-ignore: add-index-non-concurrent notes stays under 100 rows until launch\ncreate index notes_title_idx on ${s}.notes (title)`,
    ],
    down: ({ schema: s }) => [`drop index ${s}.notes_title_idx`],
  },
  {
    version: 4,
    name: 'notes-id-title-idx',
    up: ({ schema: s }) => [
      `/* lint-ignore: add-index-non-concurrent built before launch,\n   while nobody writes */\ncreate index notes_id_title_idx on ${s}.notes (id, title)`,
    ],
    down: ({ schema: s }) => [`drop index ${s}.notes_id_title_idx`],
  },
];

function dropMood(s: string) {
  return dropColumnWithBackup({
    table: `${s}.notes`,
    column: 'mood',
    key: ['id'],
    version: 2,
    definition: { type: 'text' },
    unusedBecause: REASON,
  });
}

/** The real CLI (`runCli`) in this process, over {@link MIGRATIONS}. */
const chatkeep = inProcessChatkeep(MIGRATIONS);

/**
 * `migrate plan` shows a reviewer what a `-- lint-ignore` waved through and
 * why, after the findings left standing and before the SQL: the text plan
 * prints each suppressed finding with its reason, whether a builder's
 * option (`unusedBecause`) or a hand-written comment suppressed it; the
 * JSON plan lists them under `lint.suppressed`.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(
    `${backend.name}: migrate plan shows suppressed lint findings with their reason`,
    () => {
      let where: string[] = [];
      let cleanup: () => Promise<void> = async () => undefined;
      const run = (...args: string[]) => chatkeep([...where, '--schema', 'app', ...args]);

      beforeAll(async () => {
        ({ where, cleanup } = await freshTarget(backend.name, 'chatkeep-plan-lint-'));
        // Stand at 0001, so the lint sees app.notes populated.
        const up = await run('migrate', 'up', '--to', '1');
        expect(up.code, up.stderr).toBe(0);
      });
      afterAll(() => cleanup());

      it('the text plan prints each ignored finding and its reason after the findings left standing, before the SQL; nothing runs', async () => {
        const plan = await run('migrate', 'plan');
        expect(plan.code, plan.stderr).toBe(0);
        const lines = plan.stdout.split('\n');
        const at = (predicate: (line: string) => boolean, what: string) => {
          const index = lines.findIndex(predicate);
          expect(index, `${what}\n---\n${plan.stdout}`).toBeGreaterThanOrEqual(0);
          return index;
        };
        const line = (text: string) => at((l) => l === text, text);

        // 0002: the builder's lint-table warning stands; the drop was waved through by unusedBecause.
        const header2 = line('-- 0002 drop-mood (up, in one transaction)');
        const standing = at(
          (l) => l.startsWith('-- lint WARNING lock-table (statement 2): '),
          'the lock-table warning, in the format it always had',
        );
        expect(lines[standing + 1]).toMatch(/^-- {3}fix: /);
        const ignored = line(
          '-- lint ignored ERROR drop-column (statement 6): DROP COLUMN app.notes.mood (~50 rows) by dropColumnWithBackup: the values are kept in its backup table and down restores them; the danger left is application code still selecting or inserting the column, which fails from here on',
        );
        expect(lines[ignored + 1]).toBe(`--   because: ${REASON}`);
        const firstSql = line('create schema if not exists app__ck_backup_v2;');
        expect([header2, standing, ignored, firstSql]).toEqual(
          [header2, standing, ignored, firstSql].sort((a, b) => a - b),
        );

        // 0003: a hand-written -- lint-ignore.
        const header3 = line('-- 0003 notes-title-idx (up, in one transaction)');
        const ignored3 = at(
          (l) =>
            l.startsWith(
              '-- lint ignored ERROR add-index-non-concurrent (statement 1): CREATE INDEX notes_title_idx on app.notes',
            ),
          'the ignored index finding',
        );
        expect(lines[ignored3 + 1]).toBe('--   because: notes stays under 100 rows until launch');
        expect(header3).toBeLessThan(ignored3);
        expect(ignored3).toBeLessThan(line('create index notes_title_idx on app.notes (title);'));

        // 0004: a reason over two lines of a block comment is printed on one comment line.
        const ignored4 = at(
          (l) =>
            l.startsWith(
              '-- lint ignored ERROR add-index-non-concurrent (statement 1): CREATE INDEX notes_id_title_idx',
            ),
          'the ignored finding of 0004',
        );
        expect(lines[ignored4 + 1]).toBe('--   because: built before launch, while nobody writes');

        // Read-only: the plan changed nothing.
        const status = await run('migrate', 'status', '--json');
        expect(status.code, status.stderr).toBe(0);
        expect((JSON.parse(status.stdout) as { current: number }).current).toBe(1);
      });

      it('the JSON plan carries the same suppressed findings under lint.suppressed', async () => {
        const plan = await run('migrate', 'plan', '--json');
        expect(plan.code, plan.stderr).toBe(0);
        const { migrations } = JSON.parse(plan.stdout) as {
          migrations: { version: number; lint: { suppressed: SuppressedFinding[] } }[];
        };
        const suppressed = (version: number) =>
          migrations
            .find((m) => m.version === version)!
            .lint.suppressed.map((f) => [f.rule, f.statementIndex, f.reason]);
        expect(suppressed(2)).toEqual([['drop-column', 5, REASON]]);
        expect(suppressed(3)).toEqual([
          ['add-index-non-concurrent', 0, 'notes stays under 100 rows until launch'],
        ]);
      });
    },
  );
}
