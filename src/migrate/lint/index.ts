/**
 * The migration linter: reads a migration's SQL before anything runs and
 * reports statements that would lock, scan or rewrite live tables, break
 * running code, or cannot be reverted. Rules and how to suppress one:
 * docs/migration-lint.md.
 */
export { lintMigration, runnerSettingsOf } from './lint-migration.js';
export { lintStatements } from './lint-statements.js';
export type { LintFinding, LintReport, LintSeverity, SuppressedFinding } from './lint-finding.js';
export type { LintOptions, RunnerSettings } from './runner-settings.js';
export { RULE_IDS } from './rules/index.js';
