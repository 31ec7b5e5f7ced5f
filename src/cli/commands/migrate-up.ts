import type { Command } from 'commander';
import { globalOptions } from '../global-options.js';
import { helpEpilog } from '../help-text.js';
import { loadSchema } from '../lazy-modules.js';
import { withMigrationSession } from '../migration-session.js';
import { parseLintRuleIds, parseMilliseconds, parseVersion } from '../option-parsers.js';
import type { Output } from '../output.js';
import type { ProgramOptions } from '../program.js';
import { reportRun } from '../run-report.js';

interface MigrateUpOptions {
  readonly to?: number;
  readonly allowLintErrors?: true | readonly string[];
  readonly lockWait: number;
  readonly json?: boolean;
}

/** `chatkeep migrate up [--to <version>]`: applies pending migrations in order, stopping at the first failure. */
export function registerMigrateUp(migrate: Command, output: Output, program: ProgramOptions = {}): Command {
  return migrate
    .command('up')
    .description('apply pending migrations, in order (all of them, or up to --to)')
    .option('--to <version>', 'stop after this version', parseVersion)
    .option(
      '--lock-wait <ms>',
      'how long to wait for another migrator before giving up (exit 4)',
      parseMilliseconds,
      60_000,
    )
    .option(
      '--allow-lint-errors [rules]',
      'run migrations the lint refuses: all of them, or only these comma-separated rule ids (docs/migration-lint.md)',
      parseLintRuleIds('--allow-lint-errors'),
    )
    .option('--json', 'print the outcome as JSON (progress goes to stderr)')
    .addHelpText(
      'after',
      helpEpilog(
        'chatkeep migrate up',
        'chatkeep migrate up --to 2',
        'chatkeep --database-url postgres://app@db/app migrate up --json',
        'chatkeep migrate up --allow-lint-errors drop-column,missing-down',
      ),
    )
    .action(async (options: MigrateUpOptions, command: Command) => {
      const json = options.json === true;
      await withMigrationSession(
        globalOptions(command),
        output,
        async ({ migrator, where, database, schema, migrations }) => {
          if (!json)
            output.line(
              `Migrating ${where}${options.to === undefined ? '' : ` up to version ${options.to}`}`,
            );
          const allow = options.allowLintErrors;
          const { error, results } = await migrator.up({
            ...(options.to === undefined ? {} : { to: options.to }),
            // Rule ids were checked by the option parser, before the database was opened.
            ...(allow === undefined ? {} : { allowLintErrors: allow }),
          });
          // Tables added just now reach the roles `migrate grant` gave chatkeep's store privileges.
          const applied = results.some((r) => r.status === 'applied');
          const { CHATKEEP_MIGRATIONS, extendStoreRoles } = await loadSchema();
          const grantedRoles = applied && migrations === CHATKEEP_MIGRATIONS ? await extendStoreRoles(database.db, schema) : [];
          await reportRun(output, { migrator, where, json, direction: 'up', error, results, grantedRoles });
        },
        { progressToStderr: json, lockWaitMs: options.lockWait, ...program, target: { direction: 'up', to: options.to } },
      );
    });
}
