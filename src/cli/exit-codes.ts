import { CommanderError } from 'commander';
import { isChatkeepError, type ErrorCode } from '../errors/index.js';

/**
 * The exit codes scripts can rely on. They are part of the CLI's contract:
 * documented in `chatkeep --help` and docs/cli.md, and only ever extended.
 */
export const EXIT_CODES = {
  /** The command did what was asked (a status with pending migrations included). */
  OK: 0,
  /** The operation failed: a migration failed, checksum drift, history mismatch, demo failure. */
  FAILED: 1,
  /** Usage error: unknown command or option, a missing or bad option value, `down` without `--yes`. */
  USAGE: 2,
  /** The database cannot be reached or the data folder cannot be used (CK_DB_UNAVAILABLE, CK_DATA_DIR). */
  UNAVAILABLE: 3,
  /** Timed out waiting for the migration lock: another runner is migrating (CK_MIGRATION_LOCK). */
  LOCK_TIMEOUT: 4,
  /** `migrate plan --rehearse`: the plan ran on the copy, but a step held a write-blocking lock longer than `--max-lock`. */
  OVER_LOCK_BUDGET: 5,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/** Error codes that mean the caller asked for something malformed, not that the operation failed. */
const USAGE_CODES: ReadonlySet<ErrorCode> = new Set([
  'CK_CONFIG',
  'CK_MIGRATION_TARGET',
  'CK_VALIDATION',
]);

/**
 * The exit code for anything a command threw. Commander's own errors carry
 * exit code 1 for every usage problem; they become 2 so that "you typed it
 * wrong" and "it ran and failed" are distinguishable. Help and version
 * (commander exit code 0) stay 0.
 */
export function exitCodeFor(error: unknown): ExitCode {
  if (error instanceof CommanderError)
    return error.exitCode === 0 ? EXIT_CODES.OK : EXIT_CODES.USAGE;
  if (error instanceof UsageError) return EXIT_CODES.USAGE;
  if (!isChatkeepError(error)) return EXIT_CODES.FAILED;
  if (error.code === 'CK_DB_UNAVAILABLE' || error.code === 'CK_DATA_DIR')
    return EXIT_CODES.UNAVAILABLE;
  if (error.code === 'CK_MIGRATION_LOCK') return EXIT_CODES.LOCK_TIMEOUT;
  if (USAGE_CODES.has(error.code)) return EXIT_CODES.USAGE;
  return EXIT_CODES.FAILED;
}

/** A usage problem found by a command itself (e.g. `migrate down` without `--yes`); exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * A command that ran and could not do its job for a reason the user can act
 * on (e.g. `serve`'s port is taken); exits 1 and is printed as `error: …`,
 * without the CK_INTERNAL label that marks a bug.
 */
export class CommandFailure extends Error {
  override readonly name = 'CommandFailure';
}

/** The `--help` epilog listing the exit codes. */
export const EXIT_CODES_HELP = `
Exit codes:
  0  success (migrate status: also when migrations are pending)
  1  operation failed: migration failed, checksum drift, history mismatch
  2  usage error: unknown command or option, bad or missing value, down without --yes
  3  database unreachable or data folder unusable (CK_DB_UNAVAILABLE, CK_DATA_DIR)
  4  timed out waiting for the migration lock (CK_MIGRATION_LOCK)
  5  migrate plan --rehearse: a step held a write-blocking lock longer than --max-lock`;
