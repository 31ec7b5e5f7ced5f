import type { Kysely } from 'kysely';
import { ChatkeepError } from '../errors/index.js';
import { assertIdentifier } from './identifier.js';
import { RULE_IDS } from './lint/index.js';
import { defaultLockKey, normaliseLockKey } from './lock-key.js';
import type { Migration, MigrationContext } from './migration.js';
import type { MigrationEventListener } from './migration-event.js';
import { validateMigrations } from './validate-migrations.js';

/** How a {@link Migrator} is built. Only `db` and `migrations` are required. */
export interface MigratorOptions {
  /** Any Kysely instance on PostgreSQL or PGlite; the migrator borrows one connection per run. */
  readonly db: Kysely<any>;
  /** The whole migration set, versions ascending. Validated at construction. */
  readonly migrations: readonly Migration[];
  /**
   * The schema the set owns: passed to every migration as `context.schema`
   * and home of the bookkeeping tables. Default `'chatkeep'`.
   */
  readonly schema?: string;
  /** The version table's name; the log is `<table>_log`. Default `'schema_migrations'`. */
  readonly table?: string;
  /** Passed to every migration as `context.settings` (part of the checksum through the SQL). */
  readonly settings?: Readonly<Record<string, unknown>>;
  /** Advisory lock key. Default: derived from schema and table (see `defaultLockKey`). */
  readonly lockKey?: bigint | number;
  /** How long `up`/`down` wait for another runner before failing with CK_MIGRATION_LOCK. Default 60000. */
  readonly lockWaitMs?: number;
  /** How often a waiting runner retries the lock. Default 200. */
  readonly pollIntervalMs?: number;
  /**
   * When `down({ to: 0 })` leaves nothing applied, also drop the bookkeeping
   * tables, and the schema if the migrator created it and it is empty, so the
   * database is exactly as before the first `up`. Default false.
   */
  readonly removeBookkeepingAtZero?: boolean;
  /** Progress events for a CLI or log to print. */
  readonly onEvent?: MigrationEventListener;
  /**
   * `up` refuses, before anything runs, a pending migration with
   * unsuppressed lint errors (CK_MIGRATION_LINT; docs/migration-lint.md).
   * `true` accepts every lint error, a list of rule ids accepts those rules
   * only (e.g. `['missing-down']` for a team that ships irreversible
   * migrations). Default false; `up({ allowLintErrors })` overrides it.
   */
  readonly allowLintErrors?: AllowLintErrors;
}

/** Which lint errors `up` accepts: none (false), all (true), or those of the listed rule ids. */
export type AllowLintErrors = boolean | readonly string[];

/** {@link MigratorOptions} with defaults applied and every value checked. */
export interface ResolvedMigratorOptions {
  readonly db: Kysely<any>;
  readonly migrations: readonly Migration[];
  readonly context: MigrationContext;
  readonly table: string;
  readonly lockKey: bigint;
  readonly lockWaitMs: number;
  readonly pollIntervalMs: number;
  readonly removeBookkeepingAtZero: boolean;
  readonly onEvent: MigrationEventListener | undefined;
  readonly allowLintErrors: AllowLintErrors;
}

/** Applies defaults and validates; throws CK_CONFIG naming the field at fault. */
export function resolveMigratorOptions(options: MigratorOptions): ResolvedMigratorOptions {
  if (
    typeof options !== 'object' ||
    options === null ||
    typeof options.db !== 'object' ||
    options.db === null
  ) {
    throw new ChatkeepError('CK_CONFIG', 'db: expected a Kysely instance', { field: 'db' });
  }
  validateMigrations(options.migrations);
  options.migrations.forEach((m, index) => {
    if (m.invariants !== undefined && typeof m.invariants !== 'function') {
      throw new ChatkeepError('CK_CONFIG', `migrations[${index}].invariants: expected a function of the context (migration ${m.version} ${m.name})`, {
        field: 'migrations',
      });
    }
  });
  const schema = assertIdentifier('schema', options.schema ?? 'chatkeep');
  // The log table is `<table>_log`, which must fit PostgreSQL's 63-byte limit too.
  const table = assertIdentifier('table', options.table ?? 'schema_migrations', 59);
  const settings = options.settings ?? {};
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
    throw new ChatkeepError('CK_CONFIG', 'settings: expected a plain object', {
      field: 'settings',
    });
  }
  const lockWaitMs = options.lockWaitMs ?? 60_000;
  if (!Number.isSafeInteger(lockWaitMs) || lockWaitMs < 0) {
    throw new ChatkeepError('CK_CONFIG', 'lockWaitMs: expected an integer >= 0', {
      field: 'lockWaitMs',
    });
  }
  const pollIntervalMs = options.pollIntervalMs ?? 200;
  if (!Number.isSafeInteger(pollIntervalMs) || pollIntervalMs < 1) {
    throw new ChatkeepError('CK_CONFIG', 'pollIntervalMs: expected a positive integer', {
      field: 'pollIntervalMs',
    });
  }
  if (options.onEvent !== undefined && typeof options.onEvent !== 'function') {
    throw new ChatkeepError('CK_CONFIG', 'onEvent: expected a function', { field: 'onEvent' });
  }
  const allowLintErrors = checkAllowLintErrors(options.allowLintErrors ?? false);
  return {
    db: options.db,
    migrations: [...options.migrations],
    context: Object.freeze({ schema, settings: Object.freeze({ ...settings }) }),
    table,
    lockKey:
      options.lockKey === undefined
        ? defaultLockKey(schema, table)
        : normaliseLockKey(options.lockKey),
    lockWaitMs,
    pollIntervalMs,
    removeBookkeepingAtZero: options.removeBookkeepingAtZero ?? false,
    onEvent: options.onEvent,
    allowLintErrors,
  };
}

/** Checks an `allowLintErrors` value (options or `up()`); throws CK_CONFIG naming an unknown rule id. */
export function checkAllowLintErrors(value: unknown): AllowLintErrors {
  if (typeof value === 'boolean') return value;
  if (Array.isArray(value) && value.every((id) => typeof id === 'string')) {
    const unknown = value.filter((id: string) => !RULE_IDS.includes(id));
    if (unknown.length === 0) return Object.freeze([...(value as string[])]);
    throw new ChatkeepError('CK_CONFIG', `allowLintErrors: unknown lint rule ${unknown.join(', ')} (rule ids: docs/migration-lint.md)`, {
      field: 'allowLintErrors',
    });
  }
  throw new ChatkeepError('CK_CONFIG', 'allowLintErrors: expected true, false or a list of lint rule ids', { field: 'allowLintErrors' });
}
