import type { Command } from 'commander';
import { isChatkeepError } from '../../errors/index.js';
import type { PlannedMigration } from '../../migrate/index.js';
import { describeStatement } from '../../migrate/lint/describe-statement.js';
import { splitStatements } from '../../migrate/lint/split-statements.js';
import { UsageError } from '../exit-codes.js';
import { globalOptions } from '../global-options.js';
import { helpEpilog } from '../help-text.js';
import { withMigrationSession } from '../migration-session.js';
import { parseMilliseconds, parseVersion } from '../option-parsers.js';
import { formatVersion, plural, type Output } from '../output.js';
import type { ProgramOptions } from '../program.js';
import { reportRun } from '../run-report.js';

interface MigrateDownOptions {
  readonly to: number;
  readonly yes?: boolean;
  readonly lockWait: number;
  readonly json?: boolean;
}

/**
 * `chatkeep migrate down --to <version> --yes`: reverts applied migrations
 * above the target, newest first, after undoing any whose `up` stopped
 * part-way above it (the migrator's rule, in-flight-rules.ts). Reverting drops tables and every row in
 * them, so it always prints what goes, and does nothing without `--yes`.
 */
export function registerMigrateDown(migrate: Command, output: Output, program: ProgramOptions = {}): Command {
  return migrate
    .command('down')
    .description(
      'revert applied migrations above --to, newest first, after undoing any whose up stopped part-way (DROPS their tables and data; needs --yes)',
    )
    .requiredOption(
      '--to <version>',
      'the version to go back to; 0 removes everything of chatkeep, its schema included',
      parseVersion,
    )
    .option('-y, --yes', 'really drop the tables listed in the warning')
    .option(
      '--lock-wait <ms>',
      'how long to wait for another migrator before giving up (exit 4)',
      parseMilliseconds,
      60_000,
    )
    .option('--json', 'print the outcome as JSON (progress and the warning go to stderr)')
    .addHelpText(
      'after',
      helpEpilog(
        'chatkeep migrate plan --down --to 1   # preview the SQL first',
        'chatkeep migrate down --to 1 --yes',
        'chatkeep migrate down --to 0 --yes   # remove chatkeep entirely',
      ),
    )
    .action(async (options: MigrateDownOptions, command: Command) => {
      const json = options.json === true;
      await withMigrationSession(
        globalOptions(command),
        output,
        async ({ migrator, where, schema }) => {
          let plan: PlannedMigration[];
          try {
            plan = await migrator.plan({ direction: 'down', to: options.to });
          } catch (error) {
            // A history problem (checksum drift, a missing or renamed migration, …) refuses the
            // revert: report it as `up` reports it, so `--json` still prints one document.
            if (!isChatkeepError(error) || !HISTORY_CODES.has(error.code)) throw error;
            await reportRun(output, { migrator, where, json, direction: 'down', error, results: [] });
            return;
          }
          if (plan.length === 0) {
            const { current } = await migrator.status();
            if (json) output.json({ database: where, direction: 'down', current, results: [] });
            else output.line(`Nothing to revert: ${where} is at version ${current}.`);
            return;
          }
          for (const line of dropWarning(plan, schema, options.to, where)) output.warn(line);
          if (options.yes !== true) {
            throw new UsageError(
              `nothing was changed: re-run with --yes to revert (preview the SQL with \`chatkeep migrate plan --down --to ${options.to}\`)`,
            );
          }
          const { error, results } = await migrator.down({ to: options.to });
          await reportRun(output, { migrator, where, json, direction: 'down', error, results });
        },
        { progressToStderr: json, lockWaitMs: options.lockWait, ...program, target: { direction: 'down', to: options.to } },
      );
    });
}

/** What `plan` throws when the recorded history disagrees with the migrations shipped. */
const HISTORY_CODES: ReadonlySet<string> = new Set(['CK_MIGRATION_CHECKSUM', 'CK_MIGRATION_HISTORY']);

/**
 * The warning printed before a revert: the migrations undone, and the tables
 * and columns dropped. They are read from the planned statements, so the
 * list is exactly what will run; at version 0 the migrator also removes its
 * bookkeeping tables and the schema it created. The statements are read with
 * the lint's lexer, not a pattern over the text: a table dropped after a
 * comment, as the second of `DROP TABLE a, b`, under a quoted name or in the
 * second statement of an entry must be on the list a person reads before
 * typing `--yes` (test/migrate/cli-down-warning.test.ts).
 */
export function dropWarning(
  plan: readonly PlannedMigration[],
  schema: string,
  to: number,
  where: string,
): string[] {
  const described = plan.flatMap((step) =>
    step.statements.flatMap((statement) => splitStatements(statement, 0).statements.map((parsed) => describeStatement(parsed, schema))),
  );
  const tables = [...new Set(described.flatMap((d) => (d.kind === 'drop-table' ? d.tables : [])))];
  if (to === 0) tables.push(`${schema}.schema_migrations`, `${schema}.schema_migrations_log`);
  // A column of a table that is dropped as well goes with it: listed once, as the table.
  const columns = [
    ...new Set(
      described.flatMap((d) =>
        d.kind === 'alter-table' && !tables.includes(d.table)
          ? d.actions.flatMap((action) => (action.type === 'drop-column' ? [`${d.table}.${action.column}`] : []))
          : [],
      ),
    ),
  ];
  return [
    `WARNING: reverting ${plural(plan.length, 'migration')} on ${where} down to version ${to}:`,
    ...plan.map((step) => `  ${formatVersion(step.version)} ${step.name}${step.inFlightUp === true ? ' (its up stopped part-way and is undone)' : ''}`),
    ...(tables.length > 0 ? ['These tables will be dropped, with every row in them:', ...tables.map((table) => `  ${table}`)] : []),
    ...(columns.length > 0 ? ['These columns will be dropped, with the value in every row:', ...columns.map((column) => `  ${column}`)] : []),
    ...(tables.length === 0 && columns.length === 0 ? ['No table or column is dropped.'] : []),
    ...(to === 0
      ? [
          `and the schema "${schema}" itself, if chatkeep created it and nothing else is left in it.`,
        ]
      : []),
  ];
}
