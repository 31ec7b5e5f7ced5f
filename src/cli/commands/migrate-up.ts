import type { Command } from 'commander';
import type { MigrationResult } from '../../migrate/index.js';
import { globalOptions } from '../global-options.js';
import { helpEpilog } from '../help-text.js';
import { withMigrationSession } from '../migration-session.js';
import { parseMilliseconds, parseVersion } from '../option-parsers.js';
import { errorJson, formatVersion, plural, type Output } from '../output.js';

interface MigrateUpOptions {
  readonly to?: number;
  readonly lockWait: number;
  readonly json?: boolean;
}

/** `chatkeep migrate up [--to <version>]`: applies pending migrations in order, stopping at the first failure. */
export function registerMigrateUp(migrate: Command, output: Output): Command {
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
    .option('--json', 'print the outcome as JSON (progress goes to stderr)')
    .addHelpText(
      'after',
      helpEpilog(
        'chatkeep migrate up',
        'chatkeep migrate up --to 2',
        'chatkeep --database-url postgres://app@db/app migrate up --json',
      ),
    )
    .action(async (options: MigrateUpOptions, command: Command) => {
      const json = options.json === true;
      await withMigrationSession(
        globalOptions(command),
        output,
        async ({ migrator, where }) => {
          if (!json)
            output.line(
              `Migrating ${where}${options.to === undefined ? '' : ` up to version ${options.to}`}`,
            );
          const { error, results } = await migrator.up(
            options.to === undefined ? {} : { to: options.to },
          );
          const { current } = await migrator.status();
          if (json) {
            output.json({
              database: where,
              direction: 'up',
              current,
              results,
              ...(error ? { error: errorJson(error) } : {}),
            });
          } else {
            printOutcome(output, 'applied', results, current, error === undefined);
          }
          if (error !== undefined) output.error(error);
        },
        { progressToStderr: json, lockWaitMs: options.lockWait },
      );
    });
}

/** The closing summary of `up` or `down`, shared by both. */
export function printOutcome(
  output: Output,
  verb: 'applied' | 'reverted',
  results: readonly MigrationResult[],
  current: number,
  ok: boolean,
): void {
  const done = results.filter((r) => r.status === 'applied' || r.status === 'reverted');
  const notRun = results.filter((r) => r.status === 'not-run');
  if (ok && done.length === 0) {
    output.line(`Nothing to do: the schema is at version ${current}.`);
    return;
  }
  const ms = done.reduce((sum, r) => sum + (r.durationMs ?? 0), 0);
  output.line(
    `${ok ? 'Done' : 'Stopped'}: ${verb} ${plural(done.length, 'migration')} in ${ms} ms; the schema is at version ${current}.`,
  );
  if (notRun.length > 0)
    output.line(
      `Not run: ${notRun.map((r) => `${formatVersion(r.version)} ${r.name}`).join(', ')}`,
    );
}
