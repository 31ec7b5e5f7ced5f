import type { SqlStatement } from './split-statements.js';

/**
 * A lint comment a builder wrote (generated-lint-comments.ts): the syntax
 * suppression.ts reads, with the `(<builder>)` mark required, up to the
 * rule ids.
 */
const MARKED =
  /^\s*lint-(?:ignore|fix)\s*\(\s*([A-Za-z][A-Za-z0-9]*)\s*\)\s*:\s*([a-z0-9-]+(?:\s*,\s*[a-z0-9-]+)*)/;

/**
 * The builder that generated `statement`, as far as `rule` is concerned: the
 * name marking a `-- lint-ignore(<builder>):` or `-- lint-fix(<builder>):`
 * comment before it that names `rule`; undefined for hand-written SQL. A
 * rule uses it to describe generated SQL truthfully (a builder may keep
 * what the bare statement would lose), never to change a severity: that
 * stays with the suppression the comment carries.
 *
 * @example
 * // the statement `-- lint-fix(dropColumnWithBackup): drop-column …\nalter table app.notes drop column mood`
 * generatedBy(statement, 'drop-column') // 'dropColumnWithBackup'
 */
export function generatedBy(statement: SqlStatement, rule: string): string | undefined {
  for (const comment of statement.leadingComments) {
    const marked = MARKED.exec(comment.text);
    if (marked?.[2]?.split(',').some((id) => id.trim() === rule) === true) return marked[1];
  }
  return undefined;
}
