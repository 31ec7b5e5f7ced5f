import { ChatkeepError } from '../errors/index.js';
import type { LintFinding, LintReport } from './lint/index.js';
import type { Migration } from './migration.js';
import type { AllowLintErrors } from './migrator-options.js';
import { statementText, type MigrationStatement } from './steps.js';

/** A pending migration's lint errors that `up` does not accept. */
export interface LintBlock {
  readonly migration: Migration;
  readonly statements: readonly MigrationStatement[];
  readonly errors: readonly LintFinding[];
}

/**
 * The unsuppressed `error` findings of a report, minus those `allow`
 * accepts. Suppressed findings (`-- lint-ignore: <rule> <reason>`) never
 * count: someone wrote down why the statement is safe.
 */
export function lintErrors(report: LintReport, allow: AllowLintErrors): LintFinding[] {
  if (allow === true) return [];
  return report.findings.filter((f) => f.severity === 'error' && !(Array.isArray(allow) && allow.includes(f.rule)));
}

/** Every error of a report, for `lint-errors-allowed` events and results, whatever `allow` says. */
export function allLintErrors(report: LintReport): LintFinding[] {
  return report.findings.filter((f) => f.severity === 'error');
}

/**
 * CK_MIGRATION_LINT: `up` refused to start because pending migrations have
 * lint errors. The message names each migration, each rule id and the
 * statement (its number in `up()` and its first 100 characters: migration
 * SQL is code, not row data) and the finding's fix (for a step builder's
 * destructive statement: its `unusedBecause` option), then the three ways
 * forward.
 *
 * @example
 * // Refused to run: 1 pending migration has lint errors; nothing was run or written.
 * //   Migration 2 notes-body-idx (up), statement 1 [add-index-non-concurrent] `create index notes_body_idx on app.notes (body)`: CREATE INDEX on app.notes (~5,000 rows) …
 */
export function lintRefusal(blocks: readonly LintBlock[]): ChatkeepError {
  const lines = blocks.flatMap(({ migration, statements, errors }) =>
    errors.map((f) => {
      const where = f.statementIndex < 0 ? 'the whole migration' : `statement ${f.statementIndex + 1}`;
      const excerpt = f.statementIndex < 0 ? '' : ` \`${excerptOf(statements[f.statementIndex])}\``;
      return `  Migration ${migration.version} ${migration.name} (up), ${where} [${f.rule}]${excerpt}: ${f.message}\n    fix: ${f.fix}`;
    }),
  );
  const count = blocks.length === 1 ? '1 pending migration has' : `${blocks.length} pending migrations have`;
  const message = [
    `Refused to run: ${count} lint errors; nothing was run or written.`,
    ...lines,
    'Fix the statement (each finding\'s safe alternative: docs/migration-lint.md or `chatkeep migrate plan`), suppress it with `-- lint-ignore: <rule> <why it is safe>` before the statement, or accept the risk with allowLintErrors.',
  ].join('\n');
  const first = blocks[0]!;
  return new ChatkeepError('CK_MIGRATION_LINT', message, {
    version: first.migration.version,
    name: first.migration.name,
    rules: [...new Set(blocks.flatMap((b) => b.errors.map((f) => f.rule)))],
    migrations: blocks.map(({ migration, statements, errors }) => ({
      version: migration.version,
      name: migration.name,
      findings: errors.map((f) => ({
        rule: f.rule,
        statement: f.statementIndex < 0 ? null : f.statementIndex + 1,
        sql: f.statementIndex < 0 ? null : excerptOf(statements[f.statementIndex]),
        message: f.message,
        fix: f.fix,
      })),
    })),
  });
}

function excerptOf(statement: MigrationStatement | undefined): string {
  if (statement === undefined) return '';
  const text = statementText(statement)
    .split('\n')
    .filter((line) => !/^\s*--/.test(line))
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > 100 ? `${text.slice(0, 99)}…` : text;
}
