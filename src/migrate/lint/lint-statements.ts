import { describeStatement } from './describe-statement.js';
import type { LintFinding, LintReport, SuppressedFinding } from './lint-finding.js';
import { MigrationState } from './lint-scope.js';
import { MIGRATION_RULES, RULE_IDS, STATEMENT_RULES } from './rules/index.js';
import type { LintOptions, RunnerSettings } from './runner-settings.js';
import { splitStatements } from './split-statements.js';
import { misplacedDirectives, readSuppressions } from './suppression.js';

/**
 * Lints SQL statements (one migration direction, in order) as the runner
 * will execute them under `settings`. Each entry may hold several
 * statements; findings carry the entry's index. Never throws.
 *
 * Why a lexer and statement shapes rather than a full parser: the rules need
 * only the shape of DDL (which ALTER TABLE action, which table, NOT VALID or
 * not, the DEFAULT expression), which PostgreSQL's keyword-led grammar gives
 * away from the leading words once strings, identifiers, comments and dollar
 * quotes are lexed correctly. The real parser (libpg-query) is WebAssembly
 * loaded asynchronously, which would make the lint async and add a 1.5 MB
 * dependency to the migration engine. A statement the describer does not
 * recognise gets no finding: unusual SQL can be missed, never misread.
 *
 * @example
 * const { findings } = lintStatements(
 *   ['create index messages_created_idx on app.messages (created_at)'],
 *   { transactional: true, lockTimeout: '5s', statementTimeout: '5min' },
 *   { tableRows: () => 2_000_000 },
 * );
 * // [{ rule: 'add-index-non-concurrent', severity: 'error', statementIndex: 0, … }]
 */
export function lintStatements(
  statements: readonly string[],
  settings: RunnerSettings,
  options: LintOptions = {},
): LintReport {
  return lintEntries(
    statements.map((sql, index) => ({
      index,
      sql,
      transactional: settings.transactional,
      transaction: settings.transactional ? 0 : index,
    })),
    settings,
    options,
  );
}

/**
 * One migration entry and how the runner runs it. Entries with the same
 * `transaction` number (and `transactional: true`) share one transaction:
 * locks, and `NOT VALID` constraints added, carry over between them.
 */
export interface LintEntry {
  /** The index reported as `statementIndex`. */
  readonly index: number;
  readonly sql: string;
  readonly transactional: boolean;
  readonly transaction: number;
  /**
   * Entries with the same `session` run on one connection after one
   * session-level setting of the runner's timeouts (a non-transactional
   * phase), so a plain `SET` in one is still in force in the next. Defaults
   * to `transaction`.
   */
  readonly session?: number;
}

/** {@link lintStatements} for entries that do not all run the same way (a phased migration). */
export function lintEntries(
  entries: readonly LintEntry[],
  timeouts: Omit<RunnerSettings, 'transactional'>,
  options: LintOptions = {},
): LintReport {
  const state = new MigrationState(timeouts, options);
  const defaultSchema = options.defaultSchema ?? 'public';
  const findings: LintFinding[] = [];
  const suppressed: SuppressedFinding[] = [];
  const reportedOnce = new Set<string>();

  for (const { index, sql, transactional, transaction, session } of entries) {
    state.enter(transactional, transaction, session);
    const entry = splitStatements(sql, index);
    if (entry.error !== undefined) {
      findings.push({
        rule: MIGRATION_RULES.sqlSyntax.id,
        severity: 'error',
        statementIndex: index,
        message: `Statement ${index + 1} cannot be read: ${entry.error}; it is not linted`,
        fix: 'Close the literal, identifier, comment or dollar quote.',
      });
      continue;
    }
    for (const statement of entry.statements) {
      const ddl = describeStatement(statement, defaultSchema);
      const { rules: ignored, fixes, problems } = readSuppressions(statement.leadingComments, RULE_IDS);
      for (const problem of [...problems, ...misplacedDirectives(statement.trailingComments)]) {
        findings.push({ rule: MIGRATION_RULES.lintIgnoreInvalid.id, statementIndex: index, ...problem });
      }
      for (const rule of STATEMENT_RULES) {
        for (const raw of rule.check(ddl, state)) {
          if (raw.once !== undefined) {
            const key = `${rule.id}:${raw.once}`;
            if (reportedOnce.has(key)) continue;
            reportedOnce.add(key);
          }
          const found: LintFinding = {
            rule: rule.id,
            severity: raw.severity,
            statementIndex: index,
            message: raw.message,
            fix: fixes.get(rule.id) ?? raw.fix,
          };
          const reason = ignored.get(rule.id);
          if (reason === undefined) findings.push(found);
          else suppressed.push({ ...found, reason });
        }
      }
      state.advance(ddl);
    }
  }
  return { findings, suppressed };
}
