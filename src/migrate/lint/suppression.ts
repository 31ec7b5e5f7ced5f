import type { RuleFinding } from './lint-rule.js';
import type { SqlComment } from './tokenize.js';

/** What the `-- lint-ignore:` and `-- lint-fix:` comments before one statement say. */
export interface Suppressions {
  /** Rule id → the reason given. */
  readonly rules: ReadonlyMap<string, string>;
  /** Rule id → the fix to report instead of the rule's own, for a finding left standing. */
  readonly fixes: ReadonlyMap<string, string>;
  /** Malformed comments, reported as `lint-ignore-invalid`. */
  readonly problems: readonly RuleFinding[];
}

/**
 * `lint-ignore` or `lint-fix`, optionally marked with who wrote it
 * (`lint-ignore(dropColumnWithBackup):`, see generated-lint-comments.ts),
 * then a colon and the rest.
 */
const DIRECTIVE = /^\s*lint-(ignore|fix)\s*(?:\(\s*[A-Za-z][A-Za-z0-9]*\s*\))?\s*:\s*(.*)$/s;
const RULE_LIST = /^([a-z0-9-]+(?:\s*,\s*[a-z0-9-]+)*)\s*(.*)$/s;

/**
 * Reads `-- lint-ignore: <rule-id>[, <rule-id>…] <reason>` from the comments
 * written before a statement. The reason is required: a suppression is a
 * decision someone made about a live table, and the next reader needs it.
 * A suppression without one, or naming an unknown rule, silences nothing.
 *
 * `-- lint-fix: <rule-id>[, …] <fix>` silences nothing: it replaces the fix
 * reported with that rule's finding on the statement. Builders write it when
 * they know the better way forward for SQL they generated (the option that
 * takes the decision) than the rule's generic advice.
 */
export function readSuppressions(comments: readonly SqlComment[], knownRules: readonly string[]): Suppressions {
  const rules = new Map<string, string>();
  const fixes = new Map<string, string>();
  const problems: RuleFinding[] = [];
  for (const comment of comments) {
    const directive = DIRECTIVE.exec(comment.text);
    if (directive === null) continue;
    const kind = `lint-${directive[1]!}`;
    const parts = RULE_LIST.exec(directive[2]!.trim());
    const ids = parts?.[1]?.split(',').map((id) => id.trim()) ?? [];
    const text = parts?.[2]?.trim() ?? '';
    const unknown = ids.filter((id) => !knownRules.includes(id));
    const fix = `Write -- ${kind}: <rule-id> <${kind === 'lint-ignore' ? 'why this is safe here' : 'how to fix it'}>, with a rule id from docs/migration-lint.md.`;
    if (ids.length === 0 || unknown.length > 0) {
      problems.push({
        severity: 'error',
        message: `${kind} names ${ids.length === 0 ? 'no rule' : `unknown rule ${unknown.join(', ')}`}: it ${kind === 'lint-ignore' ? 'suppresses' : 'changes'} nothing`,
        fix,
      });
    } else if (text === '') {
      problems.push({
        severity: 'error',
        message:
          kind === 'lint-ignore'
            ? `lint-ignore: ${ids.join(', ')} gives no reason: a suppression must say why the statement is safe; it suppresses nothing`
            : `lint-fix: ${ids.join(', ')} gives no fix; it changes nothing`,
        fix,
      });
    } else {
      for (const id of ids) (kind === 'lint-ignore' ? rules : fixes).set(id, text);
    }
  }
  return { rules, fixes, problems };
}

/**
 * `-- lint-ignore:`/`-- lint-fix:` comments written after a statement on its
 * line (`…; -- lint-ignore: …`). A reader takes them for that statement's,
 * but only comments before a statement apply to it; rather than silence
 * the statement below, they apply to nothing and are reported.
 */
export function misplacedDirectives(comments: readonly SqlComment[]): RuleFinding[] {
  return comments
    .filter((comment) => DIRECTIVE.test(comment.text))
    .map((comment) => ({
      severity: 'error' as const,
      message: `"${comment.text.trim()}" is written after the statement, on its line: it applies to nothing (a lint comment applies to the statement that follows it)`,
      fix: 'Put the comment on its own line directly before the statement it is about.',
    }));
}
