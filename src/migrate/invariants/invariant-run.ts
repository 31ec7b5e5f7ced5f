import type { Kysely } from 'kysely';
import type { Migration } from '../migration.js';
import type { MigrationEvent } from '../migration-event.js';
import { checkInvariants, InvariantQueryError, measureBefore, type Baseline, type InvariantScope } from './check-invariants.js';
import { needsBefore, type Invariant, type InvariantOutcome } from './invariant.js';
import type { InvariantBaselines } from './invariant-baselines.js';
import { beforeNotMeasurable, invariantFailure } from './invariant-failure.js';

/**
 * The invariants of one migration during one `up` run: measures the
 * before-values just before the migration starts, checks everything after
 * its work and before it is recorded ({@link InvariantRun.check}, the
 * runners' `beforeRecord` hook), and keeps the outcomes for the result.
 *
 * An atomic migration (transactional, no steps) keeps its before-values in
 * memory and is checked inside its own transaction, so a broken invariant
 * rolls back everything. Any other migration commits as it goes, so its
 * before-values are stored ({@link InvariantBaselines}) before it starts and
 * read back by a resumed run; a broken invariant is undone by its `down`.
 */
export class InvariantRun {
  readonly #migration: Migration;
  readonly #invariants: readonly Invariant[];
  readonly #atomic: boolean;
  readonly #timeouts: { readonly lockTimeout: string; readonly statementTimeout: string };
  readonly #baselines: InvariantBaselines;
  readonly #emit: (event: MigrationEvent) => void;
  #baseline: Baseline = { values: {} };
  #outcomes: InvariantOutcome[] = [];

  constructor(options: {
    readonly migration: Migration;
    readonly invariants: readonly Invariant[];
    readonly atomic: boolean;
    readonly lockTimeout: string;
    readonly statementTimeout: string;
    readonly baselines: InvariantBaselines;
    readonly emit: (event: MigrationEvent) => void;
  }) {
    this.#migration = options.migration;
    this.#invariants = options.invariants;
    this.#atomic = options.atomic;
    this.#timeouts = { lockTimeout: options.lockTimeout, statementTimeout: options.statementTimeout };
    this.#baselines = options.baselines;
    this.#emit = options.emit;
  }

  /** What was checked, in declaration order (empty until `check` ran). */
  get outcomes(): readonly InvariantOutcome[] {
    return this.#outcomes;
  }

  get failed(): readonly InvariantOutcome[] {
    return this.#outcomes.filter((o) => o.status === 'failed');
  }

  /** Whether this migration's before-values live in the baseline table (it is not atomic). */
  get stored(): boolean {
    return !this.#atomic && this.#invariants.some(needsBefore);
  }

  /**
   * Measures the before-values (announced first with an
   * `invariants-measuring` event), or reads back those an earlier,
   * interrupted run stored. `inFlight` says whether some of the migration's
   * work is already done (journaled phases): then values that were never
   * stored cannot be measured truthfully any more and those invariants are
   * skipped. Throws CK_MIGRATION_INVARIANT when a value cannot be measured
   * (nothing of the migration has run at that point). `remeasure`: stored
   * values are measured again and replaced, because the earlier run that
   * stored them changed nothing (see the migrator's firstPhaseLeavesNoTrace).
   */
  async prepare(conn: Kysely<any>, inFlight: boolean, remeasure = false): Promise<void> {
    if (!this.#invariants.some(needsBefore)) return;
    if (this.stored) {
      const stored = await this.#baselines.read(conn, this.#migration.version);
      if (stored !== undefined && !remeasure) {
        this.#baseline = { values: stored };
        return;
      }
      if (inFlight) {
        this.#baseline = { values: {}, missing: 'no before-value: this migration was already in flight when its before-values would have been measured (started by an older chatkeep, or before the invariant was declared)' };
        return;
      }
    }
    // Announced first: on a large table a count or a checksum takes seconds,
    // and without an event the CLI would go quiet meanwhile.
    const { version, name } = this.#migration;
    this.#emit({ type: 'invariants-measuring', version, name, direction: 'up', invariants: this.#invariants.filter(needsBefore), beforeValuesStored: this.stored });
    const values = await this.#measure(conn);
    if (this.stored) {
      await this.#baselines.ensure(conn);
      await this.#baselines.write(conn, this.#migration.version, values);
    }
    this.#baseline = { values };
  }

  /**
   * Checks every invariant after the migration's work, before its version
   * row is written (an `invariants-checking` event, then one
   * `invariant-checked` per invariant): on the migration's transaction for
   * an atomic migration, on the bare connection otherwise. Throws
   * CK_MIGRATION_INVARIANT when any fails, which rolls back the transaction
   * (atomic) or leaves the work in place for the migrator to undo with
   * `down`.
   */
  readonly check = async (db: Kysely<any>): Promise<void> => {
    const { version, name } = this.#migration;
    this.#emit({ type: 'invariants-checking', version, name, direction: 'up', invariants: this.#invariants });
    this.#outcomes = await checkInvariants(db, this.#invariants, this.#baseline, this.#scope(), (invariant) => {
      this.#emit({ type: 'invariant-checked', version, name, direction: 'up', invariant });
    });
    const failed = this.failed;
    if (failed.length > 0) throw invariantFailure(this.#migration, failed, this.#atomic ? 'transaction' : 'pending');
  };

  /** Drops the stored before-values: the migration was recorded or undone. */
  async forget(conn: Kysely<any>): Promise<void> {
    if (this.stored) await this.#baselines.clear(conn, this.#migration.version);
  }

  async #measure(conn: Kysely<any>): Promise<Record<string, string>> {
    try {
      return await measureBefore(conn, this.#invariants, { ...this.#scope(), inTransaction: false });
    } catch (error) {
      if (error instanceof InvariantQueryError) throw beforeNotMeasurable(this.#migration, error.invariant, error);
      throw error;
    }
  }

  #scope(): InvariantScope {
    return { inTransaction: this.#atomic, ...this.#timeouts };
  }
}
