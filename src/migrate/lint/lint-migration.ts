import type { Migration, MigrationContext } from '../migration.js';
import { renderMigration, type MigrationDirection } from '../render-migration.js';
import { DEFAULT_LOCK_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT } from '../run-step.js';
import { hasSteps, statementText, type MigrationStatement } from '../steps.js';
import type { LintFinding, LintReport } from './lint-finding.js';
import { downAfterPartialUp } from './down-after-partial-up.js';
import { lintEntries, type LintEntry } from './lint-statements.js';
import { MIGRATION_RULES, RULE_IDS } from './rules/index.js';
import type { LintOptions, RunnerSettings } from './runner-settings.js';

/** The transaction and timeouts the runner (run-step.ts) will use for `migration`. */
export function runnerSettingsOf(migration: Migration): RunnerSettings {
  return {
    transactional: migration.transactional ?? true,
    lockTimeout: migration.lockTimeout ?? DEFAULT_LOCK_TIMEOUT,
    statementTimeout: migration.statementTimeout ?? DEFAULT_STATEMENT_TIMEOUT,
  };
}

/**
 * Lints one direction (default `up`) of `migration` rendered with `context`,
 * under the runner settings the migration declares, and checks that it can
 * be reverted (`missing-down`). Never throws: a migration that fails to
 * render is a `render-error` finding.
 *
 * @example
 * const report = lintMigration(addTags, { schema: 'app', settings: {} }, {
 *   tableRows: (table) => rowEstimates.get(table),
 * });
 * for (const f of report.findings) console.log(`${f.severity} ${f.rule}: ${f.message}`);
 */
export function lintMigration(
  migration: Migration,
  context: MigrationContext,
  options: LintOptions = {},
): LintReport {
  const direction: MigrationDirection = options.direction ?? 'up';
  const findings: LintFinding[] = [];
  const rendered = render(migration, direction, context);
  if (typeof rendered === 'string') {
    findings.push(migrationFinding(direction === 'down' ? MIGRATION_RULES.missingDown.id : MIGRATION_RULES.renderError.id, rendered));
    return { findings, suppressed: [] };
  }
  const settings = runnerSettingsOf(migration);
  const report = lintEntries(entriesOf(rendered, settings.transactional), settings, options);
  findings.push(...report.findings);

  const down = direction === 'down' ? rendered : render(migration, 'down', context);
  const up = direction === 'up' ? rendered : render(migration, 'up', context);
  const suppressed = [...report.suppressed];
  if (typeof up !== 'string' && typeof down !== 'string') {
    const partial = downAfterPartialUp(up, down, settings.transactional, options.defaultSchema ?? 'public', RULE_IDS);
    findings.push(...partial.findings);
    suppressed.push(...partial.suppressed);
  }
  if (typeof down === 'string' || down.length === 0) {
    findings.push(
      migrationFinding(
        MIGRATION_RULES.missingDown.id,
        typeof down === 'string' ? down : `Migration ${migration.version} ${migration.name}: down() returns no statements`,
      ),
    );
  }
  return { findings, suppressed };
}

/**
 * How the runner runs each rendered statement: plain SQL in the migration's
 * transaction (a phased migration commits between phases: each run of SQL
 * strings is one transaction, each step its own); `nonTransactional` and
 * `concurrentIndex` steps outside any transaction. Backfill and verify steps
 * are not linted: the runner batches the one and only reads with the other.
 */
function entriesOf(statements: readonly MigrationStatement[], transactional: boolean): LintEntry[] {
  // Sessions as run-phased.ts scopes the runner's timeouts: each phase run
  // outside a transaction sets them once for the session, and a plain SET
  // in it lasts to the phase's end. runnableStatements makes every string of
  // a `transactional: false` migration without steps a phase of its own; with
  // steps, a run of strings is one phase (groupPhases).
  const stringsShareSession = !transactional && hasSteps(statements);
  let transaction = 0;
  let session = 0;
  let previousWasSql = true;
  return statements.flatMap((statement, index): LintEntry[] => {
    if (typeof statement === 'string') {
      if (!previousWasSql || !transactional) transaction++;
      if (!previousWasSql || !(transactional || stringsShareSession)) session++;
      previousWasSql = true;
      return [{ index, sql: statement, transactional, transaction, session }];
    }
    previousWasSql = false;
    switch (statement.kind) {
      case 'concurrent-index':
        return [{ index, sql: statementText(statement), transactional: false, transaction: ++transaction, session: ++session }];
      case 'non-transactional': {
        const stepSession = ++session;
        return statement.statements.map((sql) => ({ index, sql, transactional: false, transaction: ++transaction, session: stepSession }));
      }
      default:
        return [];
    }
  });
}

function render(migration: Migration, direction: MigrationDirection, context: MigrationContext): readonly MigrationStatement[] | string {
  try {
    return renderMigration(migration, direction, context);
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

function migrationFinding(rule: string, why: string): LintFinding {
  return rule === MIGRATION_RULES.missingDown.id
    ? {
        rule,
        severity: 'error',
        statementIndex: -1,
        message: `${why}: the migration cannot be reverted, so a bad deploy cannot be rolled back`,
        fix: 'Write down() as the exact inverse of up() (prove it with fingerprint before/after up+down); for destructive steps keep a backup in up so down can restore the data.',
      }
    : { rule, severity: 'error', statementIndex: -1, message: why, fix: 'Make up()/down() return an array of non-empty SQL strings.' };
}
