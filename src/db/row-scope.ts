import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Whose rows the database lets a call see when row-level security applies
 * (SPEC R-SEC-1's defence in depth): one user's, or every user's for the
 * store's few system-scope operations (retention, sweeps, API-key lookup).
 */
export type RowScope = { readonly user: string } | { readonly allUsers: true };

export const ALL_USERS: RowScope = Object.freeze({ allUsers: true });

/**
 * Sets the two session settings chatkeep's policies read (migration 0007).
 * Session-level, not transaction-local, so it needs no transaction around a
 * one-statement call; it is sent on every reservation of a connection, so a
 * connection never carries the previous holder's scope into a call.
 */
export const ROW_SCOPE_SQL = `select set_config('chatkeep.user_id', $1, false), set_config('chatkeep.all_users', $2, false)`;

/**
 * SQL for the user in parameter `param` that, when evaluated, makes it the
 * row scope (and turns the all-users scope off), cast to the users' id type
 * `type`. For a statement that must set its own scope before the policies
 * read it, in one round trip: as a function argument (evaluated before the
 * function runs), or as a scalar subquery compared with an index key (an
 * InitPlan, run when the scan starts, before any row is read or checked).
 * Transaction-local: such a statement runs on its own, so the scope ends
 * with it and stays nowhere after — not on the connection, nor behind a
 * transaction pooler on a server session another client gets next.
 */
export function selfScopingUser(param: string, type: string): string {
  return `(set_config('chatkeep.user_id', ${param}::text, true) || left(set_config('chatkeep.all_users', 'off', true), 0))::${type}`;
}

/**
 * The scope travels with the async call, not as an argument, because it
 * must reach the connection pool's reservation hook below Kysely. Only ever
 * entered while row-level security is enforced: on Node 20 a first `run`
 * switches on promise hooks for the whole process, a cost the default
 * (owner or superuser, where no policy applies) should not pay.
 */
const current = new AsyncLocalStorage<RowScope>();

export function runInRowScope<T>(scope: RowScope, work: () => Promise<T>): Promise<T> {
  return current.run(scope, work);
}

/**
 * The parameters of {@link ROW_SCOPE_SQL} for the call in progress. Outside
 * any scope they name no user: a query that forgot its scope sees no row,
 * never the previous caller's.
 */
export function rowScopeParams(): [string, string] {
  const scope = current.getStore();
  if (scope === undefined) return ['', 'off'];
  return 'user' in scope ? [scope.user, 'off'] : ['', 'on'];
}
