import type { Kysely, LogEvent } from 'kysely';

/**
 * A RehearsalCopy is where a rehearsal runs: a throw-away copy of the target
 * database that it makes (or connects to), opens and discards. The target is
 * never written to. Made by `pgliteClone`, `postgresDumpCopy` or
 * `postgresScratch`.
 */
export interface RehearsalCopy {
  /** What will be copied from where, for messages; never a password. */
  readonly description: string;
  /**
   * Makes the copy and opens it. Throws CK_CONFIG naming the problem when a
   * copy cannot be made (a missing tool, a refused CREATE DATABASE, the
   * target itself given as the scratch database).
   */
  open(options: OpenCopyOptions): Promise<OpenedCopy>;
}

export interface OpenCopyOptions {
  /** Tags the copy's sessions (PostgreSQL `application_name`), so a monitor can find their locks. */
  readonly applicationName: string;
  /** Sees every query the Kysely instance runs, with its duration (Kysely's `log` option). */
  readonly log?: (event: LogEvent) => void;
  /**
   * Aborted when the rehearsal is stopped (the CLI: SIGINT, SIGTERM). A copy
   * being made stops making it, removes what it made so far, and rejects
   * (CK_SHUTTING_DOWN); a copy that ignores it is discarded once open.
   */
  readonly signal?: AbortSignal;
}

/** An open copy. `discard` closes it and removes what the copy made. */
export interface OpenedCopy {
  readonly kind: 'pglite' | 'postgres';
  /** e.g. `PGlite clone (in memory) of PGlite at /app/data`. */
  readonly description: string;
  readonly db: Kysely<any>;
  /**
   * PostgreSQL: a URL other sessions can connect to the copy with (the lock
   * monitor does). Undefined for a database with one session (PGlite).
   */
  readonly url?: string;
  /** What about the copy bears on the numbers (e.g. a scratch database far smaller than the target); the report lists them. */
  readonly notes?: readonly string[];
  /** True when `discard` removes the copy; false for a scratch database the rehearsal leaves migrated. */
  readonly disposable: boolean;
  discard(): Promise<void>;
}
