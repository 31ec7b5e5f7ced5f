import { PGlite } from '@electric-sql/pglite';
import { createHash } from 'node:crypto';
import { CompiledQuery, Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { ChatkeepError, wrapDriverError } from '../errors/index.js';
import { cachedClusterImage, saveClusterImage } from './cluster-image.js';
import { lockDataDir, prepareDataDir } from './data-dir.js';
import { MEMORY_DATA_DIR, redactUrl, resolveDatabaseOptions, type DatabaseOptions } from './database-options.js';
import { ROW_SCOPE_SQL, rowScopeParams } from './row-scope.js';
import { SerializedPGliteDialect } from './serialized-pglite-dialect.js';
import { discardingPool } from './discarding-pool.js';
import { survivingLostConnections } from './lost-connections.js';
import { sessionScopedPool } from './session-row-scope.js';
import { typedConnectError } from './connection-errors.js';
import { assertOwnSessions } from './session-pooling.js';
import { assertServerDefaults } from './transaction-pooler.js';
import { inScopedTransaction, transactionScopedPool } from './transaction-row-scope.js';
import { HOT_PATH_TYPES } from './timestamps.js';
import { applySessionSettings, CHATKEEP_TYPES } from './type-parsers.js';

export type DatabaseKind = 'pglite' | 'postgres';

/**
 * An open connection to one database: the Kysely instance everything above
 * `db/` uses, which backend it is, and how to close it. Nothing above this
 * module knows which driver is underneath.
 */
export interface Database {
  readonly kind: DatabaseKind;
  /** Printable location, never a password. */
  readonly description: string;
  readonly db: Kysely<any>;
  /**
   * Reached through a pooler in transaction mode (`pooler: 'transaction'`):
   * nothing may be kept in a session, so the store does not migrate, hot
   * statements go unnamed, and the row scope, when enforced, is set locally
   * in a transaction around every statement (transaction-row-scope.ts).
   */
  readonly transactionPooler: boolean;
  /**
   * Runs one statement of a hot path. On PostgreSQL it is sent as a named
   * prepared statement (parsed and planned once per connection, then only
   * bound and executed); on PGlite, which has no named statements, it goes
   * through Kysely like any other query. Outside any transaction. On
   * PostgreSQL a timestamptz comes back a Date read by `parseTimestamptz`
   * (timestamps.ts), the same Date the driver's slower parser makes.
   */
  hot<R>(statement: HotStatement, params: readonly unknown[]): Promise<R[]>;
  /**
   * The embedded database's PGlite instance (kind 'pglite' only), for the
   * few things only the driver can do — `migrate plan --rehearse` clones it.
   * Never open a second PGlite on the same folder: it would corrupt it.
   */
  readonly pglite?: PGlite;
  /**
   * Whether every reservation of a connection first sets the call's row
   * scope (db/row-scope.ts) for chatkeep's row-level security policies.
   */
  readonly rowScopeEnforced: boolean;
  /**
   * Turns that on, for good: the store calls it when the database applies
   * the policies to the role it connects as (PostgreSQL only; on PGlite the
   * role is a superuser, which no policy binds). Costs one round trip per
   * reservation, so it stays off where no policy applies.
   */
  enforceRowScope(): void;
  /**
   * Closes the database. On PostgreSQL, calls already handed to the pool get
   * `drainMs` (default 30,000) to finish; past it, connections still lent
   * out are ended under their callers, whose calls fail CK_DB_UNAVAILABLE,
   * so a call stuck on a server that stopped answering cannot hold close()
   * forever. PGlite has no pool and ignores it.
   */
  close(options?: { readonly drainMs?: number }): Promise<void>;
}

/** SQL text with a stable name for preparing it: make one per text, once. */
export interface HotStatement {
  readonly name: string;
  readonly text: string;
  /**
   * `hot` sends the statement without the round trip that sets the row scope
   * first, because it needs none: it sets the scope's two settings itself,
   * before anything it reads or writes (e.g. as a function argument,
   * evaluated before the function runs), or it touches no table a policy
   * protects. Every other use of the connection still sets the scope first.
   */
  readonly skipsRowScope?: boolean;
  /**
   * `'array'`: each row comes back as its values in column order, not an
   * object keyed by column name. The driver builds an array faster than an
   * object (~8 % of the driver's CPU for a 50-row page of 8 columns).
   */
  readonly rowMode?: 'array';
}

/** Names the statement after its text, so equal texts share one prepared statement per connection. */
export function hotStatement(text: string, options: { readonly skipsRowScope?: boolean; readonly rowMode?: 'array' } = {}): HotStatement {
  return {
    name: `ck_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`,
    text,
    ...(options.skipsRowScope === true ? { skipsRowScope: true } : {}),
    ...(options.rowMode === 'array' ? { rowMode: 'array' as const } : {}),
  };
}

/**
 * Opens the database the options select (`DATABASE_URL` and
 * `CHATKEEP_DATA_DIR` only fill in what they leave open: see
 * `DatabaseOptions`) and proves it answers. Throws CK_DB_UNAVAILABLE when
 * PostgreSQL cannot be reached and CK_DATA_DIR when the embedded data folder
 * cannot be used.
 *
 * @example
 * const database = await openDatabase({ dataDir: 'memory://' });
 */
export async function openDatabase(options: DatabaseOptions = {}): Promise<Database> {
  const resolved = resolveDatabaseOptions(options);
  if (resolved.kind === 'postgres') {
    return openPostgres(resolved.url, resolved.poolSize, resolved.connectTimeoutMs, resolved.transactionPooler);
  }
  return openPGlite(resolved.dataDir);
}

async function openPostgres(url: string, poolSize: number, connectTimeoutMs: number, transactionPooler: boolean): Promise<Database> {
  const session: pg.ClientConfig = {
    connectionString: url,
    connectionTimeoutMillis: connectTimeoutMs,
    application_name: 'chatkeep',
    // TCP keep-alive: a server that vanished without closing the socket (a
    // failover, a dropped route) is noticed instead of leaving a query
    // waiting for the kernel's retransmission limit, and middleboxes that
    // close idle connections see traffic on the pooled ones. The first probe
    // after 30 s idle, not the kernel's default 2 hours, which is past every
    // load balancer's idle timeout (AWS NLB 350 s, HAProxy often 5 min).
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEP_ALIVE_IDLE_MS,
    // Not the process-wide pg.types a host app may have changed (type-parsers.ts).
    types: CHATKEEP_TYPES,
  };
  // Behind a transaction pooler a SET would land on whichever server session ran it, another
  // client's next: the database's own defaults are checked instead (transaction-pooler.ts).
  const pool = survivingLostConnections(new pg.Pool({ ...session, max: poolSize, ...(transactionPooler ? {} : { onConnect: applySessionSettings }) }));
  const lent = lentClients(pool);
  let enforced = false;
  // The row scope is a session setting sent on every reservation (session-row-scope.ts), except behind a transaction
  // pooler, which keeps nothing of a session: there it is set locally in a transaction around
  // every statement (transaction-row-scope.ts).
  const db = new Kysely<any>({
    dialect: new PostgresDialect(
      transactionPooler
        ? { pool: transactionScopedPool(discardingPool(pool), () => enforced) }
        : { pool: sessionScopedPool(discardingPool(pool), () => enforced) },
    ),
  });
  const description = `PostgreSQL at ${redactUrl(url)}`;
  let first: pg.PoolClient;
  try {
    first = await pool.connect();
  } catch (cause) {
    await db.destroy().catch(() => undefined);
    const reason = cause instanceof Error ? cause.message || (cause as NodeJS.ErrnoException).code : String(cause);
    throw new ChatkeepError(
      'CK_DB_UNAVAILABLE',
      `Cannot reach ${description}: ${reason}`,
      { field: 'url' },
      { cause },
    );
  }
  try {
    if (transactionPooler) await assertServerDefaults(first, description);
    else await assertOwnSessions(first, session, description);
    first.release();
  } catch (error) {
    first.release(true);
    await db.destroy().catch(() => undefined);
    throw wrapDriverError(error);
  }
  return {
    kind: 'postgres',
    description,
    db,
    transactionPooler,
    hot: async <R>(statement: HotStatement, params: readonly unknown[]) => {
      // One shape for every hot query (rowMode undefined reads objects); pg's typings want the literal 'array'.
      // Unnamed behind a transaction pooler: a named statement is prepared on one server session and
      // would be missing (or another client's) on the next.
      const query = { ...(transactionPooler ? {} : { name: statement.name }), text: statement.text, values: [...params], types: HOT_PATH_TYPES, rowMode: statement.rowMode } as pg.QueryConfig;
      // Not pool.query: its error does not say whether the call got no connection (typedConnectError) or its statement failed.
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        throw typedConnectError(pool, error);
      }
      try {
        let rows: R[];
        if (!enforced || statement.skipsRowScope === true) {
          rows = await rowsOf<R>(client, query);
        } else if (transactionPooler) {
          rows = await inScopedTransaction(
            (text) => client.query(text),
            () => rowsOf<R>(client, query),
          );
        } else {
          await rowsOf(client, { name: 'ck_row_scope', text: ROW_SCOPE_SQL, values: rowScopeParams() });
          rows = await rowsOf<R>(client, query);
        }
        client.release();
        return rows;
      } catch (error) {
        // As pool.query does: a client that failed a query is not trusted again.
        client.release(error as Error);
        throw error;
      }
    },
    get rowScopeEnforced() {
      return enforced;
    },
    enforceRowScope: () => {
      enforced = true;
    },
    close: async (options = {}) => {
      const drainMs = options.drainMs ?? CLOSE_DRAIN_MS;
      if (!Number.isInteger(drainMs) || drainMs < 0) {
        throw new ChatkeepError('CK_CONFIG', 'drainMs: expected a whole number of milliseconds >= 0', { field: 'drainMs' });
      }
      await settled(pool, drainMs);
      // pool.end() waits for every lent connection to come back, so one whose call never ends (its
      // server stopped answering: a partition, a frozen host, no reset for ~15 min) held close()
      // forever. Past the drain each is ended under its holder: pg destroys the socket of a
      // connection with a query in flight, which fails that call (CK_DB_UNAVAILABLE) and returns it.
      for (const client of lent) void client.end().catch(() => undefined);
      await db.destroy();
      // Kysely ends the pool only if it started its driver (a first query): a Database closed
      // before one (only hot statements, or nothing) kept the open's connection idle in the pool,
      // open and answering hot statements after close().
      if (!pool.ending) await pool.end();
    },
  };
}

/**
 * The rows of one query, sent in pg's callback form. Its promise form
 * (`await client.query(config)`) cost this process about 40 µs more CPU per
 * history read (median of five interleaved runs at concurrency 8: 171 µs
 * against 129 µs; `pool.query`, used before, 120 µs), most of it in the
 * garbage collector: more objects lived past a scavenge. On two cores that
 * CPU is taken from PostgreSQL (bench/README "The history-read regression").
 * The rows are all a hot statement's caller reads.
 */
function rowsOf<R>(client: pg.PoolClient, query: pg.QueryConfig): Promise<R[]> {
  return new Promise((resolve, reject) => {
    client.query(query, (error: Error | undefined, result: pg.QueryResult) => (error ? reject(error) : resolve(result.rows as R[])));
  });
}

/** Idle time of a pooled connection's socket before TCP sends its first keep-alive probe. */
export const KEEP_ALIVE_IDLE_MS = 30_000;

/** How long close() lets work already handed to the pool finish before ending it anyway. */
const CLOSE_DRAIN_MS = 30_000;

/** The pool's connections lent out right now, as pg-pool reports them ('acquire', 'release', 'remove'). */
function lentClients(pool: pg.Pool): ReadonlySet<pg.PoolClient> {
  const lent = new Set<pg.PoolClient>();
  pool.on('acquire', (client) => lent.add(client));
  pool.on('release', (_error, client) => lent.delete(client));
  pool.on('remove', (client) => lent.delete(client as pg.PoolClient));
  return lent;
}

/**
 * Resolves once no query holds or waits for one of the pool's connections
 * (or after `limitMs`). `pool.end()` alone serves nobody still queued for a
 * connection: those calls would hang until the connect timeout and fail with
 * a bare driver error. A call that reaches the pool after it ended is
 * CK_STORE_CLOSED (wrapDriverError).
 */
async function settled(pool: pg.Pool, limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs;
  while ((pool.waitingCount > 0 || pool.idleCount < pool.totalCount) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function openPGlite(dataDir: string): Promise<Database> {
  if (dataDir === MEMORY_DATA_DIR) {
    const image = cachedClusterImage();
    const pglite = await PGlite.create(image === undefined ? {} : { loadDataDir: image });
    if (image === undefined) await saveClusterImage(pglite);
    const db = new Kysely<any>({ dialect: new SerializedPGliteDialect({ pglite }) });
    return {
      kind: 'pglite',
      description: 'PGlite in memory',
      db,
      transactionPooler: false,
      hot: viaKysely(db),
      pglite,
      rowScopeEnforced: false,
      enforceRowScope: pgliteHasNoRowScope,
      close: () => closePGlite(db, pglite),
    };
  }
  const dir = await prepareDataDir(dataDir);
  const unlock = lockDataDir(dir);
  let pglite: PGlite;
  try {
    pglite = await PGlite.create(dir);
  } catch (cause) {
    unlock();
    throw new ChatkeepError('CK_DATA_DIR', `Data folder ${dir} cannot be opened: ${(cause as Error).message}`, { field: 'dataDir' }, { cause });
  }
  const db = new Kysely<any>({ dialect: new SerializedPGliteDialect({ pglite }) });
  let closed = false;
  return {
    kind: 'pglite',
    description: `PGlite at ${dir}`,
    db,
    transactionPooler: false,
    hot: viaKysely(db),
    pglite,
    rowScopeEnforced: false,
    enforceRowScope: pgliteHasNoRowScope,
    close: async () => {
      if (closed) return;
      closed = true;
      try {
        await closePGlite(db, pglite);
      } finally {
        unlock();
      }
    },
  };
}

/**
 * Kysely starts its driver on the first query and its destroy() does nothing
 * for a driver never started: a Database closed before any query left PGlite
 * open and answering (and, file-backed, its folder unlocked while still in
 * use). So PGlite is closed here too when Kysely did not.
 */
async function closePGlite(db: Kysely<any>, pglite: PGlite): Promise<void> {
  await db.destroy();
  if (!pglite.closed) await pglite.close();
}

function pgliteHasNoRowScope(): never {
  throw new ChatkeepError('CK_CONFIG', 'Row-level security is enforced on PostgreSQL only: PGlite connects as a superuser, which no policy binds', {
    field: 'url',
  });
}

function viaKysely(db: Kysely<any>): Database['hot'] {
  return async <R>(statement: HotStatement, params: readonly unknown[]) => {
    const { rows } = await db.executeQuery<Record<string, unknown>>(CompiledQuery.raw(statement.text, [...params]));
    // Column names are distinct in a hot statement, so the values come in column order.
    return (statement.rowMode === 'array' ? rows.map((row) => Object.values(row)) : rows) as R[];
  };
}
