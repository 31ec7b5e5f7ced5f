import { afterEach, describe, expect, it } from 'vitest';
import type { Migration } from '../../src/migrate/index.js';
import { freshTarget, inProcessChatkeep } from '../cli/in-process.js';
import { BACKENDS } from '../support/backends.js';

/**
 * `chatkeep migrate down` without `--yes` prints the tables the revert drops
 * "with every row in them" and changes nothing: the list is what a person
 * reads before typing `--yes`, so it must hold every table the planned SQL
 * drops, however the statement is written — after a comment, several tables
 * in one DROP, quoted names, several statements in one entry.
 */
const tables: Migration = {
  version: 1,
  name: 'tables',
  up: ({ schema: s }) => [
    `create table ${s}.accounts (id int primary key)`,
    `create table ${s}.invoices (id int primary key)`,
    `create table ${s}.payments (id int primary key)`,
    `create table ${s}."Ledger" (id int primary key)`,
    `create table ${s}.audit (id int primary key)`,
    `create table ${s}.notes (id int primary key)`,
  ],
  down: ({ schema: s }) => [
    `-- invoices and payments go together\ndrop table ${s}.payments, ${s}.invoices`,
    `/* the ledger */ DROP TABLE IF EXISTS ${s}."Ledger"`,
    `drop table ${s}.audit; drop table ${s}.notes`,
    `drop table ${s}.accounts`,
  ],
};

/** A later migration that only adds columns (and an index): its down drops columns, no table. */
const columns: Migration = {
  version: 2,
  name: 'columns',
  up: ({ schema: s }) => [
    `alter table ${s}.accounts add column email text, add column "Nickname" text`,
    `alter table ${s}.audit add column note text`,
    `create index accounts_email_idx on ${s}.accounts (email)`,
  ],
  down: ({ schema: s }) => [`drop index ${s}.accounts_email_idx`, `alter table ${s}.accounts drop column email, drop column "Nickname"`, `alter table ${s}.audit drop column note`],
};
const index: Migration = {
  version: 3,
  name: 'index',
  up: ({ schema: s }) => [`create index notes_id_idx on ${s}.notes (id)`],
  down: ({ schema: s }) => [`drop index ${s}.notes_id_idx`],
};

const chatkeep = inProcessChatkeep([tables, columns, index]);

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: migrate down's warning lists every table it drops`, () => {
    let cleanup: () => Promise<void> = async () => undefined;
    afterEach(() => cleanup());

    it('comments, several tables in one DROP, quoted names and several statements in one entry', async () => {
      const fresh = await freshTarget(backend.name, 'chatkeep-down-warning-');
      cleanup = fresh.cleanup;
      const run = (...args: string[]) => chatkeep([...fresh.where, '--schema', 'app', ...args]);
      expect((await run('migrate', 'up')).code).toBe(0);

      const refused = await run('migrate', 'down', '--to', '0');
      expect(refused.code).toBe(2);
      const lines = refused.stderr.split('\n');
      const start = lines.indexOf('These tables will be dropped, with every row in them:');
      expect(start, refused.stderr).toBeGreaterThan(-1);
      const listed = lines.slice(start + 1).filter((l) => l.startsWith('  ')).map((l) => l.trim());
      expect(listed.sort()).toEqual(
        ['app.Ledger', 'app.accounts', 'app.audit', 'app.invoices', 'app.notes', 'app.payments', 'app.schema_migrations', 'app.schema_migrations_log'].sort(),
      );
      // The dropped tables take their columns with them: no column is listed on its own.
      expect(refused.stderr).not.toContain('These columns will be dropped');
    });

    // A down that drops only columns once printed the tables heading over an empty list, and no word of the columns.
    it('a revert that drops columns lists them; one that drops neither says so', async () => {
      const fresh = await freshTarget(backend.name, 'chatkeep-down-columns-');
      cleanup = fresh.cleanup;
      const run = (...args: string[]) => chatkeep([...fresh.where, '--schema', 'app', ...args]);
      expect((await run('migrate', 'up')).code).toBe(0);

      const indexOnly = await run('migrate', 'down', '--to', '2');
      expect(indexOnly.code).toBe(2);
      expect(indexOnly.stderr).toContain('  0003 index\nNo table or column is dropped.\n');
      expect(indexOnly.stderr).not.toContain('will be dropped');

      const refused = await run('migrate', 'down', '--to', '1');
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(
        '  0002 columns\nThese columns will be dropped, with the value in every row:\n  app.accounts.email\n  app.accounts.Nickname\n  app.audit.note\n',
      );
      expect(refused.stderr).not.toContain('These tables will be dropped');
    });
  });
}
