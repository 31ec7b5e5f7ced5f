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

const chatkeep = inProcessChatkeep([tables]);

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
    });
  });
}
