import { ChatkeepError, pgErrorFields } from '../errors/index.js';
import type { MigrationStep } from './select-steps.js';

/**
 * Where in a migration a failure happened: before the first statement (while
 * applying the timeouts), at a statement (0-based index), while writing the
 * version row, or at COMMIT (deferred constraints fail there).
 */
export type FailurePhase = 'settings' | number | 'bookkeeping' | 'commit';

/**
 * The CK_MIGRATION_FAILED error for a failed step. The message names the
 * migration, the statement (1-based, "statement 2 of 3") and PostgreSQL's
 * message and SQLSTATE; the driver error stays available as `cause`. No
 * statement text or parameter values are copied: the message goes to logs.
 */
export function migrationFailure(
  step: MigrationStep,
  phase: FailurePhase,
  statementCount: number,
  cause: unknown,
): ChatkeepError {
  const { version, name } = step.migration;
  const pg = pgErrorFields(cause);
  const reason = failureReason(cause);
  const where =
    typeof phase === 'number'
      ? `at statement ${phase + 1} of ${statementCount}`
      : phase === 'settings'
        ? 'while setting lock_timeout/statement_timeout'
        : phase === 'bookkeeping'
          ? 'while recording it in the version table'
          : 'at commit';
  // Only a migration in one transaction fails here; the phased runner reports its own.
  const aftermath = 'rolled back; the database is as before this migration';
  const message = `Migration ${version} ${name} (${step.direction}) failed ${where}: ${reason}${dependentObjects(cause)}${pg?.code ? ` (SQLSTATE ${pg.code})` : ''}; ${aftermath}`;
  return new ChatkeepError(
    'CK_MIGRATION_FAILED',
    message,
    {
      version,
      name,
      direction: step.direction,
      ...(typeof phase === 'number' ? { statement: phase + 1 } : { phase }),
      ...(pg?.code ? { sqlState: pg.code } : {}),
    },
    { cause },
  );
}

/**
 * For "cannot drop … because other objects depend on it" (SQLSTATE 2BP01):
 * PostgreSQL's DETAIL, which names the dependent objects (`view report
 * depends on table app.messages`), as ` (<detail>; drop or change them
 * first)`; otherwise ''. Without it the person running `down` is told that
 * something depends on the table, not what. It holds catalogue names only,
 * never row data, unlike the DETAIL of other errors, which is not copied.
 */
export function dependentObjects(cause: unknown): string {
  if (pgErrorFields(cause)?.code !== '2BP01') return '';
  const detail = (cause as { detail?: unknown }).detail;
  if (typeof detail !== 'string' || detail.trim() === '') return '';
  const lines = detail.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  const shown = lines.slice(0, 5).join('; ');
  return ` (${shown}${lines.length > 5 ? `; and ${lines.length - 5} more` : ''}; drop or change them first)`;
}

/**
 * The message of a migration's error, as it goes to logs, events and the
 * migration log table. PostgreSQL's data errors (SQLSTATE class 22) quote
 * the value that failed: `invalid input syntax for type integer:
 * "alice@example.com"` is a row's content, which would outlive an erase of
 * its user in `schema_migrations_log`. That value is cut out
 * (`… integer: "…"`); the SQLSTATE still says what went wrong, and the
 * person can find the row with the migration's own SQL. Other classes quote
 * names (of columns, constraints), never values, and are kept whole.
 */
export function failureReason(cause: unknown): string {
  const message = cause instanceof Error ? cause.message : String(cause);
  if (pgErrorFields(cause)?.code?.startsWith('22') !== true) return message;
  return message.replace(/"[\s\S]*"/, '"…"');
}
