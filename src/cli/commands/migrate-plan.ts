import type { Command } from 'commander';
import type { PlannedMigration } from '../../migrate/index.js';
import { UsageError } from '../exit-codes.js';
import { globalOptions } from '../global-options.js';
import { helpEpilog } from '../help-text.js';
import { withMigrationSession } from '../migration-session.js';
import { parseVersion } from '../option-parsers.js';
import { formatVersion, type Output } from '../output.js';

interface MigratePlanOptions {
  readonly to?: number;
  readonly down?: boolean;
  readonly json?: boolean;
}

/**
 * `chatkeep migrate plan [--to <v>] [--down]`: the SQL `up` (or `down`)
 * would run, in order. Reads only: a reviewer can see exactly what a deploy
 * will execute.
 */
export function registerMigratePlan(migrate: Command, output: Output): Command {
  return migrate
    .command('plan')
    .description(
      'print the SQL that migrate up (or, with --down, migrate down) would run, in order; changes nothing',
    )
    .option('--to <version>', 'target version (required with --down)', parseVersion)
    .option('--down', 'plan a revert to --to instead of an upgrade')
    .option('--json', 'print the plan as JSON')
    .addHelpText(
      'after',
      helpEpilog(
        'chatkeep migrate plan',
        'chatkeep migrate plan --to 2',
        'chatkeep migrate plan --down --to 0',
      ),
    )
    .action(async (options: MigratePlanOptions, command: Command) => {
      if (options.down === true && options.to === undefined) {
        throw new UsageError(
          'migrate plan --down needs --to <version> (0 plans removing everything)',
        );
      }
      await withMigrationSession(globalOptions(command), output, async ({ migrator, where }) => {
        const plan =
          options.down === true && options.to !== undefined
            ? await migrator.plan({ direction: 'down', to: options.to })
            : await migrator.plan(
                options.to === undefined
                  ? { direction: 'up' }
                  : { direction: 'up', to: options.to },
              );
        if (options.json === true) {
          output.json({
            database: where,
            direction: options.down === true ? 'down' : 'up',
            migrations: plan,
          });
          return;
        }
        const { current } = await migrator.status();
        printPlan(output, plan, where, current, options.down === true ? 'down' : 'up');
      });
    });
}

function printPlan(
  output: Output,
  plan: readonly PlannedMigration[],
  where: string,
  current: number,
  direction: 'up' | 'down',
): void {
  output.line(`-- chatkeep migrate plan (${direction}) for ${where}, now at version ${current}`);
  output.line(
    '-- Nothing has been executed; this is the SQL `chatkeep migrate ' + direction + '` would run.',
  );
  if (plan.length === 0) {
    output.line(`-- Nothing to do.`);
    return;
  }
  for (const step of plan) {
    output.line();
    output.line(
      `-- ${formatVersion(step.version)} ${step.name} (${step.direction}, ${step.transactional ? 'in one transaction' : 'NOT transactional: statements run one by one'})`,
    );
    for (const statement of step.statements)
      output.line(`${statement.trim().replace(/;\s*$/, '')};`);
  }
}
