import type { MigrationDirection } from '../render-migration.js';
import type { DdlStatement } from './ddl-statement.js';
import { durationMs, type LintOptions, type RunnerSettings } from './runner-settings.js';
import { tableLocks } from './table-locks.js';
import { isWord, readName } from './token-helpers.js';

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
  /** Whether a type is a domain with constraints: true, false (another type), undefined (unknown); see {@link LintOptions.constrainedDomain}. */
  constrainedDomain(type: string): boolean | undefined;
  /** Whether the type (domain) was created in this migration, so no existing column uses it yet. */
  typeCreatedHere(type: string): boolean;
  /** Constraints `VALIDATE`d earlier in this migration, as `schema.table:name`. */
  readonly validated: ReadonlySet<string>;
  /** Constraints added `NOT VALID` earlier in this migration, as `schema.table:name`. */
  readonly addedNotValid: ReadonlySet<string>;
  /** Existing tables the transaction already holds a write-blocking lock on, in order (a Set: a lookup per statement stays O(1)). */
  readonly lockedTables: ReadonlySet<string>;
  /** Whether every table in {@link lockedTables} is known to be empty (kept as locks are taken, not recomputed per statement). */
  readonly lockedAllEmpty: boolean;
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
  #session = -1;
  /** What a plain `SET` left on the runner's connection for the rest of a non-transactional phase. */
  #sessionLockTimeoutMs: number | undefined;
  #sessionStatementTimeoutMs: number | undefined;
  readonly #options: LintOptions;
  readonly #created = new Set<string>();
  /** Tables created in this migration that it filled (CREATE TABLE AS, SELECT INTO, INSERT … SELECT), with the transaction that did. */
  readonly #filledIn = new Map<string, number>();
  /** Types created (or domains constrained) in this migration: whether each is a domain with constraints. */
  readonly #types = new Map<string, boolean>();
  readonly #createdTypes = new Set<string>();
  readonly #validated = new Set<string>();
  readonly #addedNotValid = new Set<string>();
  readonly #locked = new Set<string>();
  #lockedAllEmpty = true;
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
   *
   * `session` numbers the runner's settings scopes (run-phased.ts): a
   * transaction starts with the runner's `set_config(…, true)`, whatever the
   * session holds; a non-transactional phase (a `nonTransactional(…)` step,
   * or the SQL strings between steps of a `transactional: false` migration)
   * runs all its entries on one connection after one session-level
   * `set_config(…, false)`, so a plain `SET lock_timeout = 0` in one entry
   * is still in force in the next ones of that phase.
   */
  enter(transactional: boolean, transaction: number, session: number = transaction): void {
    this.#transactional = transactional;
    if (session !== this.#session) {
      this.#session = session;
      this.#sessionLockTimeoutMs = durationMs(this.#timeouts.lockTimeout);
      this.#sessionStatementTimeoutMs = durationMs(this.#timeouts.statementTimeout);
    }
    if (transaction === this.#transaction) return;
    this.#transaction = transaction;
    this.#locked.clear();
    this.#lockedAllEmpty = true;
    this.#addedNotValid.clear();
    this.#lockTimeoutMs = transactional ? durationMs(this.#timeouts.lockTimeout) : this.#sessionLockTimeoutMs;
    this.#statementTimeoutMs = transactional ? durationMs(this.#timeouts.statementTimeout) : this.#sessionStatementTimeoutMs;
  }

  get validated(): ReadonlySet<string> {
    return this.#validated;
  }
  get addedNotValid(): ReadonlySet<string> {
    return this.#addedNotValid;
  }
  get lockedTables(): ReadonlySet<string> {
    return this.#locked;
  }
  get lockedAllEmpty(): boolean {
    return this.#lockedAllEmpty;
  }
  get lockTimeoutMs(): number | undefined {
    return this.#lockTimeoutMs;
  }
  get statementTimeoutMs(): number | undefined {
    return this.#statementTimeoutMs;
  }

  sizeOf(table: string): TableSize {
    if (this.#created.has(table)) return this.#filledAndVisible(table) ? 'unknown' : 'new';
    const rows = this.#options.tableRows?.(table);
    if (rows === undefined || rows < 0 || !Number.isFinite(rows)) return 'unknown';
    return rows === 0 ? 'empty' : 'populated';
  }

  describeSize(table: string): string {
    switch (this.sizeOf(table)) {
      case 'new':
        return 'created in this migration';
      case 'unknown':
        if (this.#filledAndVisible(table)) return 'created and filled earlier in this migration, row count unknown';
        return 'row count unknown';
      case 'empty':
        return 'empty';
      case 'populated':
        return `~${Math.round(this.#options.tableRows?.(table) ?? 0).toLocaleString('en-US')} rows`;
    }
  }

  /**
   * A table this migration created and filled is invisible to others, so
   * free to index, only until that transaction commits: after it (a
   * non-transactional migration, a later phase) it is a committed table of
   * unknown size like any other, and a non-concurrent index build on it
   * blocks the writes of whoever uses it by then.
   */
  #filledAndVisible(table: string): boolean {
    const filledIn = this.#filledIn.get(table);
    return filledIn !== undefined && filledIn !== this.#transaction;
  }

  constrainedDomain(type: string): boolean | undefined {
    return this.#types.get(type) ?? this.#options.constrainedDomain?.(type);
  }

  typeCreatedHere(type: string): boolean {
    return this.#createdTypes.has(type);
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
      if (statement.withRows === true) this.#filledIn.set(statement.table, this.#transaction);
    }
    if (statement.kind === 'create-type') {
      this.#types.set(statement.type, statement.constrainedDomain);
      this.#createdTypes.add(statement.type);
    }
    if (statement.kind === 'alter-domain' && statement.constrains) this.#types.set(statement.domain, true);
    const inserted = insertSelectTarget(statement, this.#options.defaultSchema ?? 'public');
    if (inserted !== undefined && this.#created.has(inserted)) this.#filledIn.set(inserted, this.#transaction);
    if (statement.kind === 'alter-table') {
      for (const action of statement.actions) {
        if (action.type === 'validate-constraint') this.#validated.add(`${statement.table}:${action.name}`);
        if (action.type === 'add-constraint' && action.notValid && action.name !== undefined) {
          this.#addedNotValid.add(`${statement.table}:${action.name}`);
        }
      }
    }
    if (statement.kind === 'set-setting') {
      for (const { name, value, local } of statement.settings) {
        // RESET (and SET … TO DEFAULT) go back to the server's default, not to
        // the runner's SET LOCAL value: 0, wait forever, unless postgresql.conf
        // says otherwise.
        const ms = value === null || value === 'default' ? 0 : durationMs(value);
        // RESET ALL resets both (a SET ALL does not exist).
        const all = name === 'all' && value === null;
        // Outside a transaction block a session-level SET outlives its
        // (implicit) transaction; a SET LOCAL ends with it.
        const session = !local && !this.#transactional;
        if (all || name === 'lock_timeout') {
          this.#lockTimeoutMs = ms;
          if (session) this.#sessionLockTimeoutMs = ms;
        }
        if (all || name === 'statement_timeout') {
          this.#statementTimeoutMs = ms;
          if (session) this.#sessionStatementTimeoutMs = ms;
        }
      }
    }
    // Outside a transaction each statement commits and releases its locks;
    // an entry holding several statements is one implicit transaction.
    // (The lock list of a non-transactional entry is cleared by enter().)
    if (this.#transactional || statement.sharesEntry) {
      for (const { table } of tableLocks(statement)) {
        if (this.#locked.has(table)) continue;
        const size = this.sizeOf(table);
        if (size === 'new') continue;
        this.#locked.add(table);
        if (size !== 'empty') this.#lockedAllEmpty = false;
      }
    }
  }
}

/** The table of an `INSERT INTO t … SELECT …` (rows in bulk, not a few VALUES), qualified; undefined otherwise. */
function insertSelectTarget(statement: DdlStatement, defaultSchema: string): string | undefined {
  const t = statement.tokens;
  if (!isWord(t[0], 'insert') || !isWord(t[1], 'into') || !t.some((x) => isWord(x, 'select'))) return undefined;
  const parts = readName(t, 2)?.parts;
  if (parts === undefined) return undefined;
  return parts.length >= 2 ? `${parts[parts.length - 2]}.${parts[parts.length - 1]}` : `${defaultSchema}.${parts[0]}`;
}
