import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';
import pg from 'pg';
import { poolWithConnect } from './pool-with-connect.js';
import { rowScopeParams } from './row-scope.js';

/**
 * Row scope behind a pooler in transaction mode (`pooler: 'transaction'`).
 *
 * Directly on PostgreSQL the acting user is a session setting, sent when a
 * connection is reserved (row-scope.ts). Through a transaction pooler that
 * would go wrong twice: the setting stays on the server session that ran it,
 * where another client's next transaction reads it (and with it that user's
 * rows), and the statement after it may run on another server session,
 * which has no user or someone else's. A transaction is the only thing such
 * a pooler keeps on one server session, so here the scope is transaction
 * local (`set_config(…, true)`) and every statement runs in a transaction
 * that sets it first: Kysely's own transactions set it right after `begin`,
 * and a statement Kysely sends on its own is wrapped in one. That costs one
 * round trip more than a session setting per statement (begin and the
 * scope go together as one simple-protocol message), in this mode only.
 */

/** `begin` (or the `start transaction …` Kysely sent) and the call's scope, in one message: simple protocol, so no parameters. */
function beginScoped(begin = 'begin'): string {
  const [user, allUsers] = rowScopeParams();
  return `${begin}; select set_config('chatkeep.user_id', ${pg.escapeLiteral(user)}, true), set_config('chatkeep.all_users', ${pg.escapeLiteral(allUsers)}, true)`;
}

/** What Kysely sends to open and close a transaction (postgres-driver.js); savepoints run inside one and need nothing. */
const BEGIN = /^(begin|start transaction)\b/i;
const END = /^(commit|rollback)$/i;

type Query = (text: string, values?: readonly unknown[]) => Promise<PostgresQueryResult<unknown>>;

/**
 * Runs `work` in a transaction whose row scope is the call's, and commits
 * it; rolls back (best effort: a lost connection has no transaction left)
 * when `work` fails.
 */
export async function inScopedTransaction<T>(
  query: (text: string) => Promise<unknown>,
  work: () => Promise<T>,
): Promise<T> {
  await begin(query, beginScoped());
  let result: T;
  try {
    result = await work();
  } catch (error) {
    await query('rollback').catch(() => undefined);
    throw error;
  }
  await query('commit');
  return result;
}

/**
 * Sends `begin` and the scope. If the scope fails after `begin` ran, the
 * transaction is rolled back, so the connection (and the pooler's server
 * session, pinned to it while a transaction is open) is not returned to the
 * pool inside an aborted transaction.
 */
async function begin<R>(query: (text: string) => Promise<R>, text: string): Promise<R> {
  try {
    return await query(text);
  } catch (error) {
    await query('rollback').catch(() => undefined);
    throw error;
  }
}

/**
 * The pool Kysely draws from, with every statement in a transaction that
 * sets the call's row scope locally, while `enforced()` (the store turns it
 * on when the policies bind its role). Kysely runs one transaction at a
 * time on a connection and sends no statement of its own in between, so
 * following its `begin` and `commit`/`rollback` is enough to know whether a
 * statement is inside one.
 */
export function transactionScopedPool(pool: PostgresPool, enforced: () => boolean): PostgresPool {
  return poolWithConnect(pool, async () => {
    const client = await pool.connect();
    const query = client.query.bind(client) as Query;
    let inTransaction = false;
    const wrapped: PostgresPoolClient = {
      get processID() {
        return (client as unknown as { processID: number }).processID;
      },
      query: (async (text: string, values?: readonly unknown[]) => {
        if (!enforced()) return query(text, values);
        const sql = text.trim();
        if (BEGIN.test(sql)) {
          const results = (await begin(
            query,
            beginScoped(sql),
          )) as unknown as PostgresQueryResult<unknown>[];
          inTransaction = true;
          return results[0];
        }
        if (END.test(sql)) {
          inTransaction = false;
          return query(text, values);
        }
        if (inTransaction) return query(text, values);
        return inScopedTransaction(query, () => query(text, values));
      }) as PostgresPoolClient['query'],
      release: (destroy?: boolean) => client.release(destroy),
    };
    return wrapped;
  });
}
