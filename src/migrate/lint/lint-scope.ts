import type { MigrationDirection } from '../render-migration.js';
import type { DdlStatement } from './ddl-statement.js';
import { durationMs, type LintOptions, type RunnerSettings } from './runner-settings.js';
import { tableLocks } from './table-locks.js';

/**
 * What the lint knows about a table a statement touches: created earlier in
 * this migration (nobody else can see it inside the transaction, nothing to
 * scan), known empty, known populated, or unknown (no `tableRows` estimate).
 */
export type TableSize = 'new' | 'empty' | 'populated' | 'unknown';

/** What a rule sees: the runner's settings and what the statements before this one did. */
export interface LintScope {
  readonly settings: RunnerSettings;
  readonly direction: MigrationDirection;
  sizeOf(table: string): TableSize;
  /** "~1,200 rows", "empty", "created in this migration" or "row count unknown", for messages. */
  describeSize(table: string): string;
  columnType(table: string, column: string): string | undefined;
  /** Constraints `VALIDATE`d earlier in this migration, as `schema.table:name`. */
  readonly validated: ReadonlySet<string>;
  /** Constraints added `NOT VALID` earlier in this migration, as `schema.table:name`. */
  readonly addedNotValid: ReadonlySet<string>;
  /** Existing tables the transaction already holds a write-blocking lock on, in order. */
  readonly lockedTables: readonly string[];
  /** `lock_timeout` in force for this statement, in ms (0 = none); undefined when unreadable. */
  readonly lockTimeoutMs: number | undefined;
  readonly statementTimeoutMs: number | undefined;
}

/**
 * The {@link LintScope} of each statement in turn: `advance` folds a
 * statement's effects (tables created, constraints validated, locks taken,
 * `SET lock_timeout`) into the scope the next statement is judged in.
 */
export class MigrationState implements LintScope {
  readonly direction: MigrationDirection;
  readonly #timeouts: Omit<RunnerSettings, 'transactional'>;
  #transactional = true;
  #transaction = -1;
  readonly #options: LintOptions;
  readonly #created = new Set<string>();
  readonly #validated = new Set<string>();
  readonly #addedNotValid = new Set<string>();
  readonly #locked: string[] = [];
  #lockTimeoutMs: number | undefined;
  #statementTimeoutMs: number | undefined;

  constructor(timeouts: Omit<RunnerSettings, 'transactional'>, options: LintOptions) {
    this.direction = options.direction ?? 'up';
    this.#timeouts = { lockTimeout: timeouts.lockTimeout, statementTimeout: timeouts.statementTimeout };
    this.#options = options;
    this.#lockTimeoutMs = durationMs(timeouts.lockTimeout);
    this.#statementTimeoutMs = durationMs(timeouts.statementTimeout);
  }

  get settings(): RunnerSettings {
    return { ...this.#timeouts, transactional: this.#transactional };
  }

  /**
   * Starts a migration entry. A new transaction (a new phase, or every entry
   * of a non-transactional migration) releases the locks of the previous
   * one, forgets its NOT VALID constraints and its SET LOCAL timeouts.
   */
  enter(transactional: boolean, transaction: number): void {
    this.#transactional = transactional;
    if (transaction === this.#transaction) return;
    this.#transaction = transaction;
    this.#locked.length = 0;
    this.#addedNotValid.clear();
    this.#lockTimeoutMs = durationMs(this.#timeouts.lockTimeout);
    this.#statementTimeoutMs = durationMs(this.#timeouts.statementTimeout);
  }

  get validated(): ReadonlySet<string> {
    return this.#validated;
  }
  get addedNotValid(): ReadonlySet<string> {
    return this.#addedNotValid;
  }
  get lockedTables(): readonly string[] {
    return this.#locked;
  }
  get lockTimeoutMs(): number | undefined {
    return this.#lockTimeoutMs;
  }
  get statementTimeoutMs(): number | undefined {
    return this.#statementTimeoutMs;
  }

  sizeOf(table: string): TableSize {
    if (this.#created.has(table)) return 'new';
    const rows = this.#options.tableRows?.(table);
    if (rows === undefined || rows < 0 || !Number.isFinite(rows)) return 'unknown';
    return rows === 0 ? 'empty' : 'populated';
  }

  describeSize(table: string): string {
    switch (this.sizeOf(table)) {
      case 'new':
        return 'created in this migration';
      case 'empty':
        return 'empty';
      case 'unknown':
        return 'row count unknown';
      case 'populated':
        return `~${Math.round(this.#options.tableRows?.(table) ?? 0).toLocaleString('en-US')} rows`;
    }
  }

  columnType(table: string, column: string): string | undefined {
    return this.#created.has(table) ? undefined : this.#options.columnType?.(table, column);
  }

  /** Records what `statement` did, for the statements after it. */
  advance(statement: DdlStatement): void {
    // CREATE TABLE IF NOT EXISTS of a table that already exists is a no-op:
    // the table keeps its rows and stays visible to the application, so it
    // must not count as created here (which would silence every later
    // statement on it, a DROP TABLE included). `tableRows` answers for
    // existing tables only; a negative estimate is an existing table never
    // analysed.
    const exists = (table: string) => this.#options.tableRows?.(table) !== undefined;
    if (statement.kind === 'create-table' && !(statement.ifNotExists && exists(statement.table))) {
      this.#created.add(statement.table);
    }
    if (statement.kind === 'alter-table') {
      for (const action of statement.actions) {
        if (action.type === 'validate-constraint') this.#validated.add(`${statement.table}:${action.name}`);
        if (action.type === 'add-constraint' && action.notValid && action.name !== undefined) {
          this.#addedNotValid.add(`${statement.table}:${action.name}`);
        }
      }
    }
    if (statement.kind === 'set-setting') {
      for (const { name, value } of statement.settings) {
        // RESET (and SET … TO DEFAULT) go back to the server's default, not to
        // the runner's SET LOCAL value: 0, wait forever, unless postgresql.conf
        // says otherwise.
        const ms = value === null || value === 'default' ? 0 : durationMs(value);
        // RESET ALL resets both (a SET ALL does not exist).
        const all = name === 'all' && value === null;
        if (all || name === 'lock_timeout') this.#lockTimeoutMs = ms;
        if (all || name === 'statement_timeout') this.#statementTimeoutMs = ms;
      }
    }
    // Outside a transaction each statement commits and releases its locks;
    // an entry holding several statements is one implicit transaction.
    // (The lock list of a non-transactional entry is cleared by enter().)
    if (this.#transactional || statement.sharesEntry) {
      for (const { table } of tableLocks(statement)) {
        if (this.sizeOf(table) !== 'new' && !this.#locked.includes(table)) this.#locked.push(table);
      }
    }
  }
}
