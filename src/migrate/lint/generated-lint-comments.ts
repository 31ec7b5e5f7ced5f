import { ChatkeepError } from '../../errors/index.js';
import { RULE_IDS } from './rules/index.js';
import { readSuppressions } from './suppression.js';

/**
 * Lint comments that a migration builder (`dropTableWithBackup`,
 * `dropColumnWithBackup`, `expandColumn`) writes at the start of a statement
 * it generates: `-- lint-ignore(<builder>): <rules> <reason>` for a finding
 * the builder makes safe by construction, or that the user acknowledged
 * through the builder's `unusedBecause` option, and `-- lint-fix(<builder>):
 * <rule> <fix>` naming that option while the decision is still open.
 *
 * The `(<builder>)` mark is what lets the checksum leave these lines out
 * ({@link withoutGeneratedLintComments}): they say how to judge the SQL, not
 * what it does. The builders wrote none before, so without the mark an
 * upgrade would change the checksum of every migration already applied
 * with a builder, and `up` would refuse it as edited after it ran.
 * Hand-written `-- lint-ignore:` comments carry no mark and stay in the
 * checksum, as they always have: leaving them out now would change the
 * recorded checksums of migrations that contain them.
 */

/** One or more generated lint lines at the very start of a statement, as the builders write them. */
const GENERATED_PREFIX = /^(?:-- lint-(?:ignore|fix)\([A-Za-z][A-Za-z0-9]*\): [^\r\n]*\n)+/;

/** `-- lint-ignore(<source>): <rules> <reason>` and its line break. */
export function lintIgnoreLine(source: string, rules: readonly string[], reason: string): string {
  return `-- lint-ignore(${source}): ${rules.join(', ')} ${oneLine(reason)}\n`;
}

/** `-- lint-fix(<source>): <rule> <fix>` and its line break. */
export function lintFixLine(source: string, rule: string, fix: string): string {
  return `-- lint-fix(${source}): ${rule} ${oneLine(fix)}\n`;
}

/** `sql` with the generated lint lines before it. */
export function annotated(sql: string, ...lines: readonly string[]): string {
  return `${lines.join('')}${sql}`;
}

/**
 * `sql` without the generated lint lines at its start: the text the
 * checksum covers. A statement that starts with anything else, a
 * hand-written `-- lint-ignore:` included, is returned unchanged.
 *
 * @example withoutGeneratedLintComments('-- lint-ignore(expandColumn): drop-column v2 is gone\nalter table …') // 'alter table …'
 */
export function withoutGeneratedLintComments(sql: string): string {
  return sql.replace(GENERATED_PREFIX, '');
}

/**
 * Throws CK_CONFIG naming `field` unless `value` can be the reason of a
 * `-- lint-ignore` comment: a non-empty string on one line (a line break
 * would end the comment and turn the rest into SQL) that the lint reads
 * back unchanged.
 */
export function assertLintReason(field: string, value: unknown): string {
  const reason = typeof value === 'string' ? value.trim() : '';
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  const printable = reason !== '' && !/[\u0000-\u001f\u007f]/.test(reason);
  // Read back as the lint will: a reason starting with `, x` would be taken for another rule id.
  const comment = { text: ` lint-ignore: drop-column ${reason}`, start: 0, end: 0 };
  if (!printable || readSuppressions([comment], RULE_IDS).rules.get('drop-column') !== reason) {
    throw new ChatkeepError(
      'CK_CONFIG',
      `${field}: expected a non-empty reason on one line, without control characters (it becomes the reason of a -- lint-ignore comment), got ${JSON.stringify(value)}`,
      { field },
    );
  }
  return reason;
}

/** Builders' own texts are one line already; this keeps a slip from becoming SQL. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}
