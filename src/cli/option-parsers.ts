import { InvalidArgumentError } from 'commander';
// The rule list itself, not migrate/index.js: the command tree must not load the drivers (see program.ts).
import { RULE_IDS } from '../migrate/lint/rules/index.js';

/** `--to <version>`: a migration version, 0 meaning "before the first migration". */
export function parseVersion(value: string): number {
  if (!/^\d{1,9}$/.test(value))
    // The limit is said: "a whole number >= 0" refused 1234567890, which is one.
    throw new InvalidArgumentError('expected a migration version: a whole number from 0 to 999999999, e.g. 2');
  return Number(value);
}

/** A duration in milliseconds, e.g. `--lock-wait 5000`. */
export function parseMilliseconds(value: string): number {
  if (!/^\d{1,9}$/.test(value))
    throw new InvalidArgumentError('expected milliseconds: a whole number from 0 to 999999999, e.g. 5000');
  return Number(value);
}

/**
 * `--host <address>` of a listening command. Node.js listens on every
 * interface when given an empty address, so an empty `--host ""` or an
 * exported but empty `CHATKEEP_HOST=` once exposed a server meant for
 * loopback to the network (and turned off the MCP server's loopback Host
 * check): refused instead, as an empty `PORT` is.
 */
export function parseHost(name: string): (value: string) => string {
  return (value) => {
    if (value.trim() === '') {
      throw new InvalidArgumentError(
        `${name}: empty; an empty address would listen on every network interface. Give one: 127.0.0.1 (the default, this machine only) or 0.0.0.0 (all interfaces)`,
      );
    }
    return value;
  };
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
