import type { Command } from 'commander';
import type {
  LintFinding,
  LintReport,
  PlannedMigration,
  PlanOptions,
  RehearsalCopy,
  RehearsalReport,
} from '../../migrate/index.js';
import { DEFAULT_MAX_LOCK_MS, DEFAULT_SAMPLE_INTERVAL_MS } from '../../migrate/rehearse/rehearse-defaults.js';
import { planInvariants, type PlannedInvariants } from '../../migrate/planned-migration.js';
import { EXIT_CODES, UsageError } from '../exit-codes.js';
import { globalOptions, type GlobalOptions } from '../global-options.js';
import { helpEpilog } from '../help-text.js';
import { loadMigrate } from '../lazy-modules.js';
import { plannedInvariantLines } from '../invariant-lines.js';
import { migrationProgress } from '../migration-progress.js';
import { withMigrationSession, type MigrationSession } from '../migration-session.js';
import { parseInteger, parseMilliseconds, parseVersion } from '../option-parsers.js';
import { Output, formatVersion } from '../output.js';
import type { ProgramOptions } from '../program.js';
import { printRehearsal, rehearsalJson } from '../rehearsal-output.js';

interface MigratePlanOptions {
  readonly to?: number;
  readonly down?: boolean;
  readonly json?: boolean;
  readonly rehearse?: boolean;
  readonly rehearseCopy?: boolean;
  readonly rehearseUrl?: string;
  readonly maxLock?: number;
  readonly sampleInterval?: number;
}

/**
 * `chatkeep migrate plan [--to <v>] [--down] [--rehearse …]`: the SQL `up`
 * (or `down`) would run, in order. Reads only: a reviewer can see exactly
 * what a deploy will execute. With `--rehearse`, the plan also runs on a
 * throw-away copy and the locks each step held are reported (docs/rehearse.md);
 * a migration failing on the copy exits 1, a step over the lock budget 5.
 */
export function registerMigratePlan(migrate: Command, output: Output, program: ProgramOptions = {}): Command {
  return migrate
    .command('plan')
    .description(
      'print the SQL that migrate up (or, with --down, migrate down) would run, in order, with its lint findings (and those a lint-ignore comment suppressed, with the reason) and the invariants checked after each migration; changes nothing (with --rehearse, runs it on a copy and reports the locks each step held)',
    )
    .option('--to <version>', 'target version (required with --down)', parseVersion)
    .option('--down', 'plan a revert to --to instead of an upgrade')
    .option('--json', 'print the plan as JSON')
    .option(
      '--rehearse',
      'also run the plan on a throw-away copy and report how long each step held which locks (PGlite: an in-memory clone; PostgreSQL: needs --rehearse-copy or --rehearse-url); the target is not changed',
    )
    .option(
      '--rehearse-copy',
      'PostgreSQL: copy the target with pg_dump | psql into a new database on its server, dropped afterwards (needs CREATEDB, pg_dump and psql; reads every table); implies --rehearse',
    )
    .option(
      '--rehearse-url <url>',
      'PostgreSQL: rehearse on this database, a copy you made (e.g. a restored snapshot); it is left migrated; implies --rehearse',
    )
    .option(
      '--max-lock <ms>',
      `with --rehearse: the lock budget; a step holding a lock that blocks writes (SHARE or stronger) on an existing table longer than this is flagged and the command exits 5 (default ${DEFAULT_MAX_LOCK_MS})`,
      parseMilliseconds,
    )
    .option(
      '--sample-interval <ms>',
      `with --rehearse on PostgreSQL: how often the lock monitor reads pg_locks (default ${DEFAULT_SAMPLE_INTERVAL_MS}); a lock held for less can be missed`,
      parseInteger('--sample-interval', 1, 60_000),
    )
    .addHelpText(
      'after',
      helpEpilog(
        'chatkeep migrate plan',
        'chatkeep migrate plan --to 2',
        'chatkeep migrate plan --down --to 0',
        'chatkeep migrate plan --rehearse --max-lock 500',
        'chatkeep --database-url postgres://app@db/app migrate plan --rehearse-copy --json',
        'chatkeep --database-url postgres://app@db/app migrate plan --rehearse-url postgres://app@db/app_snapshot',
      ) + REHEARSE_EXIT_HELP,
    )
    .action(async (options: MigratePlanOptions, command: Command) => {
      if (options.down === true && options.to === undefined) {
        throw new UsageError(
          'migrate plan --down needs --to <version> (0 plans removing everything)',
        );
      }
      const global = globalOptions(command);
      const rehearsing = rehearsalWanted(options, global);
      await withMigrationSession(
        global,
        output,
        async (session) => {
          const { migrator, where } = session;
          const target: PlanOptions =
            options.down === true && options.to !== undefined
              ? { direction: 'down', to: options.to }
              : options.to === undefined
                ? { direction: 'up' }
                : { direction: 'up', to: options.to };
          const plan = await migrator.plan(target);
          const lint = new Map((await migrator.lint(target)).map((l) => [l.version, l.report]));
          const invariants = plannedInvariantsOf(plan, session);
          const report = rehearsing ? await rehearsePlan(session, global, options, target, plan, output) : undefined;
          if (options.json === true) {
            output.json({
              database: where,
              direction: options.down === true ? 'down' : 'up',
              migrations: plan.map((p) => {
                const planned = invariants.get(p.version);
                return {
                  ...p,
                  lint: lint.get(p.version) ?? { findings: [], suppressed: [] },
                  invariants: planned?.invariants ?? [],
                  ...(planned !== undefined && planned.invariants.length > 0 ? { invariantCheck: planned.check } : {}),
                };
              }),
              ...(report !== undefined ? { rehearsal: rehearsalJson(report) } : {}),
            });
          } else {
            const { current } = await migrator.status();
            printPlan(output, plan, where, current, options.down === true ? 'down' : 'up', lint, invariants);
            if (report !== undefined) printRehearsal(output, report);
          }
          if (report?.error !== undefined) output.warn(`error [${report.error.code}]: the rehearsal failed: ${report.error.message}`);
          if (report?.error !== undefined) output.fail(EXIT_CODES.FAILED);
          else if (report?.overBudget === true) output.fail(EXIT_CODES.OVER_LOCK_BUDGET);
        },
        {
          withPGlite: rehearsing,
          ...program,
          // --down without --to was refused above.
          target: options.down === true ? { direction: 'down', to: options.to ?? 0 } : { direction: 'up', to: options.to },
        },
      );
    });
}

const REHEARSE_EXIT_HELP = `
With --rehearse, exit code 1 also means a migration failed on the copy, and
exit code 5 that a step held a lock that blocks writes longer than --max-lock.
`;

/** Whether to rehearse, after checking the rehearsal options fit the database (usage errors, exit 2). */
function rehearsalWanted(options: MigratePlanOptions, global: GlobalOptions): boolean {
  const rehearsing = options.rehearse === true || options.rehearseCopy === true || options.rehearseUrl !== undefined;
  if (!rehearsing) {
    if (options.maxLock !== undefined || options.sampleInterval !== undefined) {
      throw new UsageError('--max-lock and --sample-interval only apply with --rehearse');
    }
    return false;
  }
  if (global.databaseUrl === undefined) {
    if (options.rehearseCopy === true || options.rehearseUrl !== undefined) {
      throw new UsageError('--rehearse-copy and --rehearse-url are for PostgreSQL; on the embedded database --rehearse clones it in memory');
    }
    return true;
  }
  if (options.rehearseCopy === true && options.rehearseUrl !== undefined) {
    throw new UsageError('give either --rehearse-copy or --rehearse-url, not both');
  }
  if (options.rehearseCopy !== true && options.rehearseUrl === undefined) {
    throw new UsageError(
      '--rehearse on PostgreSQL needs a copy to run on: --rehearse-copy (pg_dump | psql into a new database on the same server, dropped afterwards) ' +
        'or --rehearse-url <url> (a copy you made, e.g. a restored snapshot; it is left migrated). See docs/rehearse.md.',
    );
  }
  return true;
}

/**
 * The invariants each planned `up` would check, by version (none for
 * `down`). A malformed `invariants()` is CK_CONFIG here, as `up` would
 * refuse it.
 */
function plannedInvariantsOf(plan: readonly PlannedMigration[], session: MigrationSession): ReadonlyMap<number, PlannedInvariants> {
  const planned = new Map<number, PlannedInvariants>();
  for (const step of plan) {
    const migration = session.migrations.find((m) => m.version === step.version);
    if (step.direction === 'up' && migration !== undefined) planned.set(step.version, planInvariants(migration, session.context));
  }
  return planned;
}

/** Runs the plan on a copy of the session's database; the target itself is only read. */
async function rehearsePlan(
  session: MigrationSession,
  global: GlobalOptions,
  options: MigratePlanOptions,
  target: PlanOptions,
  plan: readonly PlannedMigration[],
  output: Output,
): Promise<RehearsalReport> {
  const { pgliteClone, postgresDumpCopy, postgresScratch, rehearse } = await loadMigrate();
  const copy: RehearsalCopy =
    session.pglite !== undefined
      ? pgliteClone(session.pglite, session.database.description)
      : options.rehearseUrl !== undefined
        ? postgresScratch(options.rehearseUrl, { target: session.database.db })
        : postgresDumpCopy(global.databaseUrl!);
  output.warn(`rehearsing on a ${copy.description}…`);
  // Progress of the rehearsal goes to stderr, marked, so nobody reads
  // "applied 0004" as a change to the target.
  const progress = new Output(
    { write: (text) => output.writeErr(text) },
    { write: (text) => output.writeErr(text.replace(/^(?=.)/gm, '[rehearsal] ')) },
  );
  // Ctrl-C or SIGTERM mid-rehearsal: a PostgreSQL copy is a full copy of
  // the target's data on a server, so it is removed before the process
  // exits (pg_dump and psql killed, the copy dropped, a migration on it
  // ended; exit 1, CK_SHUTTING_DOWN). A second signal exits at once. A PGlite
  // clone lives in this process's memory and goes with it: the default
  // (exit at once) is right there.
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) process.exit(signal === 'SIGINT' ? 130 : 143);
    output.warn(`${signal}: stopping the rehearsal and removing its copy (send it again to exit at once, leaving the copy)…`);
    stop.abort(signal);
  };
  if (session.pglite === undefined) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  try {
    return await rehearse({
      copy,
      signal: stop.signal,
      // The options the session's migrator is built with
      // (migration-session.ts); were they to drift, the checksums recorded on
      // the copy would not match and expectPlan would refuse the rehearsal.
      migrator: {
        migrations: session.migrations,
        schema: session.schema,
        settings: session.context.settings,
        removeBookkeepingAtZero: true,
        // The rehearsal accepts every lint error and says so in its report.
        onEvent: migrationProgress(progress, { toStderr: true, acceptedLintErrors: false }),
      },
      plan: target,
      expectPlan: plan,
      ...(options.maxLock !== undefined ? { maxLockMs: options.maxLock } : {}),
      ...(options.sampleInterval !== undefined ? { sampleIntervalMs: options.sampleInterval } : {}),
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function printPlan(
  output: Output,
  plan: readonly PlannedMigration[],
  where: string,
  current: number,
  direction: 'up' | 'down',
  lint: ReadonlyMap<number, LintReport>,
  invariants: ReadonlyMap<number, PlannedInvariants>,
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
      `-- ${formatVersion(step.version)} ${step.name} (${step.direction}${step.inFlightUp === true ? ' of an up in flight, never recorded: undoes its half-done work' : ''}, ${step.phased ? 'phased: SQL runs in transactions between steps; every phase is journaled and a killed run resumes' : step.transactional ? 'in one transaction' : 'NOT transactional: statements run one by one, each journaled, so a stopped run resumes at the one that failed'})`,
    );
    // Lint before the SQL, so a reviewer sees the danger first (docs/migration-lint.md).
    const report = lint.get(step.version);
    for (const finding of report?.findings ?? []) {
      output.line(`-- lint ${finding.severity.toUpperCase()} ${finding.rule}${statementOf(finding)}: ${finding.message}`);
      output.line(`--   fix: ${finding.fix}`);
    }
    // Then what a `-- lint-ignore` waved through, with its reason: the
    // comment in the SQL below gives the reason but not what was found, and
    // a waved-through error is exactly what the reviewer has to judge.
    for (const finding of report?.suppressed ?? []) {
      output.line(`-- lint ignored ${finding.severity.toUpperCase()} ${finding.rule}${statementOf(finding)}: ${finding.message}`);
      // A reason in a /* block comment */ may span lines; each printed line must stay a comment.
      output.line(`--   because: ${finding.reason.replace(/\s*[\r\n]+\s*/g, ' ')}`);
    }
    // Invariants in the order they act: before-values are measured before
    // the SQL runs, everything is checked after it (docs/migrations.md).
    const checks = invariants.get(step.version);
    const { before, after } = checks === undefined ? { before: [], after: [] } : plannedInvariantLines(checks, step.phased);
    for (const line of before) output.line(line);
    for (const statement of step.statements)
      output.line(`${statement.trim().replace(/;\s*$/, '')};`);
    for (const line of after) output.line(line);
  }
}

/** ` (statement n)`, 1-based, or nothing for a finding about the whole migration. */
function statementOf(finding: LintFinding): string {
  return finding.statementIndex >= 0 ? ` (statement ${finding.statementIndex + 1})` : '';
}
