import { sql } from 'kysely';
import { openDatabase, runInRowScope, type Database, type DatabaseKind, type DatabaseOptions } from '../db/index.js';
import { ChatkeepError, wrapDriverError } from '../errors/index.js';
import type { MigrationEventListener } from '../migrate/migration-event.js';
import type { MigrationStatus } from '../migrate/migration-status.js';
import {
  assertIdentifier,
  assertStorePrivileges,
  chatkeepMigrator,
  extendStoreRoles,
  settingsForDatabase,
  type RequestedSettings,
  type SchemaSettings,
} from '../schema/index.js';
import { ApiKeys } from './api-keys.js';
import { RateLimits } from './rate-limits.js';
import { Retention } from './retention.js';
import { Conversations } from './conversations.js';
import { eraseUser, type EraseReport } from './erase-user.js';
import { FeatureFlags } from './feature-flags.js';
import type { FlagCacheOptions } from './flag-cache.js';
import { Messages } from './messages.js';
import { Onboarding } from './onboarding.js';
import { forAllUsers, guarded, type StoreContext } from './store-context.js';
import { Turns } from './turns.js';
import { assertKnownStoreOptions } from './store-option-names.js';
import { timeOrderedIds } from './time-ordered-ids.js';
import { rulesFor } from './validation.js';

export interface StoreOptions extends DatabaseOptions, RequestedSettings {
  /** PostgreSQL schema chatkeep lives in (default `chatkeep`). The host's tables are never touched. */
  readonly schema?: string;
  /**
   * Apply pending migrations when opening (default true). With false, a
   * database that is not fully migrated is refused with CK_SCHEMA_NOT_READY;
   * run `chatkeep migrate up` in your deploy step instead.
   */
  readonly migrate?: boolean;
  /** Use an already-open database instead of opening one; `close()` then leaves it open. */
  readonly database?: Database;
  /** Migration progress, when `migrate` runs. */
  readonly onMigrationEvent?: MigrationEventListener;
  /**
   * The feature flags' in-process cache (default: snapshots live 1000 ms, at
   * most 1000 overrides held). A flag changed by another process is seen
   * within `ttlMs`; `ttlMs: 0` reads the database on every evaluation.
   */
  readonly flagCache?: FlagCacheOptions;
}

/**
 * An open chatkeep store. Every method takes the acting user first and only
 * ever sees that user's rows: another user's ids behave exactly like ids that
 * do not exist (SPEC R-SEC-1).
 */
export class Store {
  readonly conversations: Conversations;
  readonly messages: Messages;
  readonly turns: Turns;
  readonly onboarding: Onboarding;
  /** API keys for the HTTP front door. */
  readonly apiKeys: ApiKeys;
  /** Retention: purging inactive conversations in batches (system scope). */
  readonly retention: Retention;
  /** Feature flags with per-user percentage rollout (docs/flags.md). */
  readonly flags: FeatureFlags;
  /** Request counts shared by every server on this database (`--rate-limit-scope database`; system scope). */
  readonly rateLimits: RateLimits;
  /** Which database is underneath. */
  readonly kind: DatabaseKind;
  /** Printable location of the database (no password). */
  readonly description: string;
  /** The settings chatkeep's schema was installed with. */
  readonly settings: SchemaSettings;
  /**
   * Whether the database's row-level security policies bind the role this
   * store connects as (PostgreSQL, a role that neither owns chatkeep's
   * tables nor is a superuser: docs/security.md). Then the store tells the
   * database the acting user on every call, and a query can see no other
   * user's rows even if its own filter were wrong.
   */
  readonly rowLevelSecurity: boolean;
  readonly #ctx: StoreContext;
  readonly #database: Database;
  readonly #ownsDatabase: boolean;
  #closed = false;

  /** @internal use {@link openStore} */
  constructor(database: Database, schema: string, settings: SchemaSettings, ownsDatabase: boolean, flagCache: FlagCacheOptions = {}) {
    this.#database = database;
    this.#ownsDatabase = ownsDatabase;
    this.kind = database.kind;
    this.description = database.description;
    this.settings = settings;
    this.rowLevelSecurity = database.rowScopeEnforced;
    this.#ctx = {
      db: database.db.withSchema(schema),
      schema,
      kind: database.kind,
      hot: database.hot,
      settings,
      rules: rulesFor(settings),
      newId: timeOrderedIds(),
      assertOpen: () => {
        if (this.#closed) throw new ChatkeepError('CK_STORE_CLOSED');
      },
      scoped: (scope, work) => (database.rowScopeEnforced ? runInRowScope(scope, work) : work()),
      get rowScopeEnforced() {
        return database.rowScopeEnforced;
      },
    };
    this.conversations = new Conversations(this.#ctx);
    this.messages = new Messages(this.#ctx);
    this.turns = new Turns(this.#ctx, this.messages);
    this.onboarding = new Onboarding(this.#ctx);
    this.apiKeys = new ApiKeys(this.#ctx);
    this.retention = new Retention(this.#ctx);
    this.flags = new FeatureFlags(this.#ctx, flagCache);
    this.rateLimits = new RateLimits(this.#ctx);
  }

  /**
   * Deletes everything chatkeep holds about one user, and nothing else.
   * @example const report = await store.eraseUser('user-1');
   */
  async eraseUser(userId: string): Promise<EraseReport> {
    const report = await eraseUser(this.#ctx, userId);
    // The erased user's flag overrides may sit in the flag cache; do not let them outlive the erase.
    this.flags.forgetCache();
    return report;
  }

  /**
   * Where chatkeep's own schema stands: applied and pending migrations, and
   * phased migrations in flight (phases done, rows backfilled so far) — what
   * `chatkeep migrate status` prints, for an admin API or a dashboard to poll
   * while another process migrates. Reads only; never migrates.
   */
  async schemaStatus(): Promise<MigrationStatus> {
    this.#ctx.assertOpen();
    return forAllUsers(this.#ctx, () => chatkeepMigrator(this.#database.db, { schema: this.#ctx.schema, settings: this.settings }).status());
  }

  /** Throws (CK_DB_UNAVAILABLE, CK_STORE_CLOSED) unless the database answers a trivial query; for readiness probes. */
  async ping(): Promise<void> {
    this.#ctx.assertOpen();
    await guarded(() => sql`select 1`.execute(this.#ctx.db));
  }

  /** Closes the database (unless it was passed in). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsDatabase) await this.#database.close();
  }
}

/**
 * Opens a store: the embedded database by default (`./.chatkeep/data`, or
 * `dataDir`), PostgreSQL when `url` is given, or when `DATABASE_URL` is set
 * and `dataDir` is not (what is passed beats the environment; see
 * `DatabaseOptions`), migrating it to the current schema unless `migrate: false`.
 *
 * @example
 * import { openStore } from 'chatkeep';
 * const store = await openStore({ dataDir: 'memory://' });
 * const c = await store.conversations.create('user-1', { title: 'Hello' });
 * await store.turns.append('user-1', c.id, { user: 'Hi', assistant: 'Hello!' });
 * await store.close();
 */
export async function openStore(options: StoreOptions = {}): Promise<Store> {
  assertKnownStoreOptions(options);
  const schema = assertIdentifier('schema', options.schema ?? 'chatkeep');
  assertFlagCacheOptions(options.flagCache);
  if (options.pooler === 'transaction' && options.migrate === true) throw transactionPoolerRefusal();
  const database = options.database ?? (await openDatabase(options));
  const owns = options.database === undefined;
  try {
    // Migrating holds a session-level advisory lock, which a transaction pooler would hand to another client.
    const migrate = options.migrate ?? !database.transactionPooler;
    if (migrate && database.transactionPooler) throw transactionPoolerRefusal();
    const settings = await settingsForDatabase(database.db, schema, options);
    const migrator = chatkeepMigrator(database.db, {
      schema,
      settings,
      ...(options.onMigrationEvent !== undefined ? { onEvent: options.onMigrationEvent } : {}),
    });
    if (!migrate) {
      const status = await migrator.status();
      if (status.problems[0] !== undefined) throw status.problems[0];
      if (status.pending.length > 0) {
        throw new ChatkeepError(
          'CK_SCHEMA_NOT_READY',
          `chatkeep's schema is at version ${status.current}, ${status.pending.length} migration(s) pending; run \`chatkeep migrate up\`${database.transactionPooler ? THROUGH_POOLER : ''}`,
          { pending: status.pending.map((m) => m.version) },
        );
      }
    } else {
      const result = await migrator.up();
      if (result.error !== undefined) throw result.error;
      // Tables added just now reach the roles that serve stores from this schema.
      if (result.results.some((r) => r.status === 'applied')) await extendStoreRoles(database.db, schema);
    }
    // Policies bind a role that neither owns the tables nor is a superuser
    // (migration 0007); only then is the row scope worth its round trip.
    const { rows } = await sql<{ active: boolean }>`select row_security_active(format('%I.messages', ${schema}::text)) as active`.execute(database.db);
    if (rows[0]?.active === true) {
      await assertStorePrivileges(database.db, schema);
      if (!database.rowScopeEnforced) database.enforceRowScope();
    }
    return new Store(database, schema, settings, owns, options.flagCache);
  } catch (error) {
    if (owns) await database.close().catch(() => undefined);
    // A server gone between the open and the schema check is CK_DB_UNAVAILABLE, not a bare
    // ECONNREFUSED. Any other driver error keeps PostgreSQL's own words ("permission denied for
    // schema chatkeep"), which a CK_INTERNAL "Database error 42501" would hide.
    const wrapped = wrapDriverError(error);
    throw wrapped instanceof ChatkeepError && wrapped.code === 'CK_DB_UNAVAILABLE' ? wrapped : error;
  }
}

/** Where to migrate from, for a store opened through a transaction pooler. */
const THROUGH_POOLER = ' against PostgreSQL itself (or a session-mode pooler), not through the transaction pooler';

/** Migrating is what a store cannot do through a pooler in transaction mode, and what to do instead. */
function transactionPoolerRefusal(): ChatkeepError {
  return new ChatkeepError(
    'CK_CONFIG',
    "migrate: migrations hold a session-level lock, which a transaction pooler would hand to another client; run `chatkeep migrate up` against PostgreSQL itself (or a session-mode pooler), and open with pooler: 'transaction' and migrate: false",
    { field: 'migrate' },
  );
}

/**
 * Checked before anything is opened: `ttlMs: Infinity` (a cache never
 * refreshed, so flags changed by other processes are never seen) or `NaN`
 * (compared false with everything) would otherwise be taken silently.
 */
function assertFlagCacheOptions(options: FlagCacheOptions | undefined): void {
  const bounded = (field: 'ttlMs' | 'maxOverrides', max: number) => {
    const value = options?.[field];
    if (value !== undefined && !(Number.isInteger(value) && value >= 0 && value <= max)) {
      throw new ChatkeepError('CK_CONFIG', `flagCache.${field}: expected a whole number from 0 to ${max.toLocaleString('en')}`, { field: `flagCache.${field}` });
    }
  };
  bounded('ttlMs', 86_400_000);
  bounded('maxOverrides', 10_000_000);
}
