import type { Kysely } from 'kysely';
import type { ChatkeepTables, Database, DatabaseKind } from '../db/index.js';
import { wrapDriverError } from '../errors/index.js';
import type { SchemaSettings } from '../schema/index.js';
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
  /** Throws CK_STORE_CLOSED once the store is closed. */
  assertOpen(): void;
}

/** Runs a database call and turns driver errors into typed chatkeep errors. */
export async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw wrapDriverError(error);
  }
}
