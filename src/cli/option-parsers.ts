import { InvalidArgumentError } from 'commander';
// The rule list itself, not migrate/index.js: the command tree must not load the drivers (see program.ts).
import { RULE_IDS } from '../migrate/lint/rules/index.js';

/** `--to <version>`: a migration version, 0 meaning "before the first migration". */
export function parseVersion(value: string): number {
  if (!/^\d{1,9}$/.test(value))
    throw new InvalidArgumentError('expected a migration version: a whole number >= 0, e.g. 2');
  return Number(value);
}

/** A duration in milliseconds, e.g. `--lock-wait 5000`. */
export function parseMilliseconds(value: string): number {
  if (!/^\d{1,9}$/.test(value))
    throw new InvalidArgumentError('expected milliseconds: a whole number >= 0, e.g. 5000');
  return Number(value);
}

/** A whole number within [min, max], e.g. `--port 8787`; `name` is only for the message. */
export function parseInteger(name: string, min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d{1,10}$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`${name}: expected a whole number from ${min} to ${max}`);
    }
    return Number(value);
  };
}

/**
 * A comma-separated list of lint rule ids, e.g. `--allow-lint-errors
 * drop-column,missing-down`. An unknown id is refused here, before the
 * database is opened (or its folder created), naming the option.
 */
export function parseLintRuleIds(name: string): (value: string) => readonly string[] {
  return (value) => {
    const ids = value.split(',').map((id) => id.trim()).filter((id) => id !== '');
    const unknown = ids.filter((id) => !RULE_IDS.includes(id));
    if (ids.length === 0 || unknown.length > 0) {
      throw new InvalidArgumentError(
        `${name}: ${ids.length === 0 ? 'expected comma-separated lint rule ids' : `unknown lint rule ${unknown.join(', ')}`} (rule ids: docs/migration-lint.md, e.g. drop-column,missing-down)`,
      );
    }
    return ids;
  };
}
