import type { Command } from 'commander';
import type { LintReport, PlannedMigration, PlanOptions } from '../../migrate/index.js';
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
        const target: PlanOptions =
          options.down === true && options.to !== undefined
            ? { direction: 'down', to: options.to }
            : options.to === undefined
              ? { direction: 'up' }
              : { direction: 'up', to: options.to };
        const plan = await migrator.plan(target);
        const lint = new Map((await migrator.lint(target)).map((l) => [l.version, l.report]));
        if (options.json === true) {
          output.json({
            database: where,
            direction: options.down === true ? 'down' : 'up',
            migrations: plan.map((p) => ({ ...p, lint: lint.get(p.version) ?? { findings: [], suppressed: [] } })),
          });
          return;
        }
        const { current } = await migrator.status();
        printPlan(output, plan, where, current, options.down === true ? 'down' : 'up', lint);
      });
    });
}

function printPlan(
  output: Output,
  plan: readonly PlannedMigration[],
  where: string,
  current: number,
  direction: 'up' | 'down',
  lint: ReadonlyMap<number, LintReport>,
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
      `-- ${formatVersion(step.version)} ${step.name} (${step.direction}, ${step.phased ? 'phased: SQL runs in transactions between steps; every phase is journaled and a killed run resumes' : step.transactional ? 'in one transaction' : 'NOT transactional: statements run one by one'})`,
    );
    // Lint before the SQL, so a reviewer sees the danger first (docs/migration-lint.md).
    for (const finding of lint.get(step.version)?.findings ?? []) {
      const at = finding.statementIndex >= 0 ? ` (statement ${finding.statementIndex + 1})` : '';
      output.line(`-- lint ${finding.severity.toUpperCase()} ${finding.rule}${at}: ${finding.message}`);
      output.line(`--   fix: ${finding.fix}`);
    }
    for (const statement of step.statements)
      output.line(`${statement.trim().replace(/;\s*$/, '')};`);
  }
}
