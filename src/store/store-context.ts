import type { Kysely } from 'kysely';
import { ALL_USERS, type ChatkeepTables, type Database, type DatabaseKind, type RowScope } from '../db/index.js';
import { wrapDriverError } from '../errors/index.js';
import type { SchemaSettings } from '../schema/index.js';
import type { IdSource } from './time-ordered-ids.js';
import type { Rules } from './validation.js';

/**
 * What every store module shares: the Kysely instance scoped to chatkeep's
 * schema, the installed settings and the input rules derived from them.
 */
export interface StoreContext {
  /** Kysely bound to chatkeep's schema (`withSchema`). */
  readonly db: Kysely<ChatkeepTables>;
  readonly schema: string;
  /** Which backend: a few hot paths pick the faster of two equivalent forms. */
  readonly kind: DatabaseKind;
  /** Runs a hot-path statement (prepared on PostgreSQL); see Database.hot. */
  readonly hot: Database['hot'];
  readonly settings: SchemaSettings;
  readonly rules: Rules;
  /** The store's time-ordered (UUIDv7) ids for new rows. */
  readonly newId: IdSource;
  /** Throws CK_STORE_CLOSED once the store is closed. */
  assertOpen(): void;
  /**
   * Runs `work` in a row scope: under row-level security (migration 0007)
   * the database shows it that scope's rows only. Free where no policy
   * binds the store's role. Every database call of the store runs in one.
   */
  scoped<T>(scope: RowScope, work: () => Promise<T>): Promise<T>;
  /** Whether the row scope is sent to the database (the policies bind the store's role). */
  readonly rowScopeEnforced: boolean;
}

/** A database call on behalf of one user (in the store's spelling of the id), errors typed. */
export function forUser<T>(ctx: StoreContext, user: string, work: () => Promise<T>): Promise<T> {
  return guarded(() => ctx.scoped({ user }, work));
}

/** A database call of a system-scope operation, which sees every user's rows. */
export function forAllUsers<T>(ctx: StoreContext, work: () => Promise<T>): Promise<T> {
  return guarded(() => ctx.scoped(ALL_USERS, work));
}

/** Runs a database call and turns driver errors into typed chatkeep errors. */
export async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw wrapDriverError(error);
  }
}
