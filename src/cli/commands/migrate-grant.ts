import type { Command } from 'commander';
import { ChatkeepError } from '../../errors/index.js';
import { resolveDatabaseOptions } from '../../db/database-options.js';
import { databaseOptions, globalOptions } from '../global-options.js';
import { helpEpilog } from '../help-text.js';
import { loadSchema } from '../lazy-modules.js';
import { withMigrationSession } from '../migration-session.js';
import type { Output } from '../output.js';
import type { ProgramOptions } from '../program.js';

/**
 * `chatkeep migrate grant <role>`: gives an existing PostgreSQL role exactly
 * what a store needs on chatkeep's schema, so a server connecting as it is
 * bound by the row-level security policies (docs/security.md). Refused on
 * PGlite (one superuser session, which no policy binds) and while
 * migrations are pending (grants cover the tables that exist when it runs).
 */
export function registerMigrateGrant(migrate: Command, output: Output, program: ProgramOptions = {}): Command {
  return migrate
    .command('grant')
    .argument('<role>', 'an existing PostgreSQL role that neither owns chatkeep\'s tables nor is a superuser')
    .description(
      "give <role> exactly what the store needs (read/write chatkeep's data, read its migration history, nothing to change the schema), so row-level security binds a server that connects as it; PostgreSQL only; run as the schema's owner after `migrate up`; a later `migrate up` run as the owner grants the tables it adds to the roles granted here",
    )
    .addHelpText(
      'after',
      helpEpilog(
        'psql -c "create role chat_app login password \'…\'" && chatkeep migrate grant chat_app',
        'DATABASE_URL=postgres://chat_app:…@db/app chatkeep serve',
      ),
    )
    .action(async (role: string, _options: unknown, command: Command) => {
      const globals = globalOptions(command);
      // Checked before anything is opened: on PGlite that would create the data folder.
      if (resolveDatabaseOptions(databaseOptions(globals)).kind !== 'postgres') {
        throw new ChatkeepError('CK_CONFIG', 'migrate grant is for PostgreSQL: the embedded database has one superuser session, which no row-level security policy binds', {
          field: 'databaseUrl',
        });
      }
      await withMigrationSession(
        globals,
        output,
        async ({ database, migrator, schema, where }) => {
          const status = await migrator.status();
          if (status.problems[0] !== undefined) throw status.problems[0];
          if (status.pending.length > 0) {
            throw new ChatkeepError('CK_SCHEMA_NOT_READY', `${status.pending.length} migration(s) pending: run \`chatkeep migrate up\` first, then grant`, {
              pending: status.pending.map((m) => m.version),
            });
          }
          const { grantStoreRole } = await loadSchema();
          await grantStoreRole(database.db, { role, schema });
          output.line(`Database: ${where}`);
          output.line(`Granted role "${role}" what a chatkeep store needs; row-level security binds it.`);
          output.line(`Serve as "${role}" (its own DATABASE_URL); keep migrating as the owner: \`migrate up\` grants "${role}" the tables it adds.`);
        },
        program,
      );
    });
}
