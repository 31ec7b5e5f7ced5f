import type { RuleFinding } from './lint-rule.js';
import type { SqlComment } from './tokenize.js';

/** What the `-- lint-ignore:` comments before one statement say. */
export interface Suppressions {
  /** Rule id → the reason given. */
  readonly rules: ReadonlyMap<string, string>;
  /** Malformed suppressions, reported as `lint-ignore-invalid`. */
  readonly problems: readonly RuleFinding[];
}

const DIRECTIVE = /^\s*lint-ignore\s*:\s*(.*)$/s;
const RULE_LIST = /^([a-z0-9-]+(?:\s*,\s*[a-z0-9-]+)*)\s*(.*)$/s;

/**
 * Reads `-- lint-ignore: <rule-id>[, <rule-id>…] <reason>` from the comments
 * written before a statement. The reason is required: a suppression is a
 * decision someone made about a live table, and the next reader needs it.
 * A suppression without one, or naming an unknown rule, silences nothing.
 */
export function readSuppressions(comments: readonly SqlComment[], knownRules: readonly string[]): Suppressions {
  const rules = new Map<string, string>();
  const problems: RuleFinding[] = [];
  for (const comment of comments) {
    const directive = DIRECTIVE.exec(comment.text);
    if (directive === null) continue;
    const parts = RULE_LIST.exec(directive[1]!.trim());
    const ids = parts?.[1]?.split(',').map((id) => id.trim()) ?? [];
    const reason = parts?.[2]?.trim() ?? '';
    const unknown = ids.filter((id) => !knownRules.includes(id));
    const fix = 'Write -- lint-ignore: <rule-id> <why this is safe here>, with a rule id from docs/migration-lint.md.';
    if (ids.length === 0 || unknown.length > 0) {
      problems.push({
        severity: 'error',
        message: `lint-ignore names ${ids.length === 0 ? 'no rule' : `unknown rule ${unknown.join(', ')}`}: it suppresses nothing`,
        fix,
      });
    } else if (reason === '') {
      problems.push({
        severity: 'error',
        message: `lint-ignore: ${ids.join(', ')} gives no reason: a suppression must say why the statement is safe; it suppresses nothing`,
        fix,
      });
    } else {
      for (const id of ids) rules.set(id, reason);
    }
  }
  return { rules, problems };
}
