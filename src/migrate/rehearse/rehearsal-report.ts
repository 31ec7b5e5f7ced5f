import type { ChatkeepError } from '../../errors/index.js';
import type { MigrationResult } from '../migration-result.js';

/**
 * What a rehearsal found: for every migration it ran on the copy, each step
 * (a transaction, or a phase of a phased migration) with its duration and the
 * locks it held, and which steps held a write-blocking lock longer than the
 * budget. Built by {@link rehearse}; the CLI prints it (`migrate plan --rehearse`).
 */
export interface RehearsalReport {
  /** The copy the plan ran on, e.g. `PGlite clone of PGlite at /app/data`; never a password. */
  readonly copy: string;
  /**
   * `measured`: a second session sampled `pg_locks` while each step ran
   * (PostgreSQL). `estimated`: the database has one session (PGlite), so the
   * modes are the ones the lint reads from each statement and the held time
   * runs from the statement's start to its transaction's commit.
   */
  readonly lockSource: 'measured' | 'estimated';
  /** Measured only: the requested time between two `pg_locks` samples; a lock held for less can be missed. */
  readonly sampleIntervalMs?: number;
  /** The budget: a write-blocking lock on an existing relation held longer than this flags its step. */
  readonly maxLockMs: number;
  readonly durationMs: number;
  readonly migrations: readonly RehearsedMigration[];
  /** True when some step is flagged (held a write-blocking lock longer than `maxLockMs`). */
  readonly overBudget: boolean;
  /** A migration failed on the copy (it would fail on the target too, or the copy differs). */
  readonly error?: ChatkeepError;
  /** Things the numbers do not show, e.g. a monitor that stopped sampling. */
  readonly notes: readonly string[];
}

/** One migration as it ran on the copy. */
export interface RehearsedMigration extends MigrationResult {
  readonly steps: readonly RehearsedStep[];
}

/** One transaction (or phase) of a migration. */
export interface RehearsedStep {
  /** 0-based phase index; 0 for a migration that runs as one step. */
  readonly index: number;
  /** e.g. `3 statements in one transaction`, `index messages_preview_idx (concurrently)`. */
  readonly description: string;
  readonly durationMs: number;
  /** `skipped`: journaled as done by an earlier, interrupted run on the database that was copied. */
  readonly status: 'done' | 'failed' | 'skipped';
  /** Measured only: how many `pg_locks` samples fell inside the step. */
  readonly samples?: number;
  /** Strongest first, then longest. */
  readonly locks: readonly HeldLock[];
  /** A write-blocking lock on an existing relation was held longer than the budget. */
  readonly flagged: boolean;
}

/** A lock a step held on one relation. */
export interface HeldLock {
  /** `schema.name` of a table, index, sequence or view. */
  readonly relation: string;
  /** PostgreSQL's name for the mode, e.g. `ACCESS EXCLUSIVE`. */
  readonly mode: string;
  /** How long it was held, in ms (see {@link RehearsalReport.lockSource}). */
  readonly heldMs: number;
  /** The mode conflicts with ROW EXCLUSIVE: the application's INSERT/UPDATE/DELETE on the relation wait. */
  readonly blocksWrites: boolean;
  /** ACCESS EXCLUSIVE: plain SELECTs wait too. */
  readonly blocksReads: boolean;
  /**
   * The relation was created by this step: other sessions cannot see it
   * until the step commits, so nobody waits for this lock.
   */
  readonly newRelation: boolean;
}
