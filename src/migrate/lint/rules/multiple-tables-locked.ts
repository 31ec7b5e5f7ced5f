import { tableLocks } from '../table-locks.js';
import type { LintRule } from '../lint-rule.js';

/**
 * In one transaction every lock is held until commit, so DDL on several
 * existing tables blocks all of them at once for the whole migration, and
 * taking them in an order the application does not use invites deadlocks
 * (40P01) with application transactions.
 */
export const multipleTablesLocked: LintRule = {
  id: 'multiple-tables-locked',
  summary: 'One transaction takes write-blocking locks on several existing tables and holds them all until commit',
  check(statement, scope) {
    const held = scope.lockedTables;
    if (held.size === 0) return [];
    const fresh = tableLocks(statement).filter((l) => scope.sizeOf(l.table) !== 'new' && !held.has(l.table));
    if (fresh.length === 0) return [];
    // Locks on empty tables are held only as long as the (then quick) migration runs.
    const allEmpty = scope.lockedAllEmpty && fresh.every((l) => scope.sizeOf(l.table) === 'empty');
    const heldText = nameSome(held);
    return fresh.map((lock) => ({
      severity: allEmpty ? ('info' as const) : ('warning' as const),
      message: `Locks ${lock.table} (${lock.mode}) while the transaction already holds write-blocking locks on ${heldText}: all are held until commit, so writes to every one of them wait for the whole migration, and application transactions that lock them in another order can deadlock (40P01)`,
      fix: 'Split the migration so each transaction changes one existing table, or keep the statements after the first lock short.',
    }));
  },
};

/** Tables named in a message: at most this many, then a count, so a long migration's messages stay short (and linting it linear). */
const NAMED = 5;

/** `a, b` or `a, b, c, d, e and 12 more (17 tables)`: the first tables locked, in order, and how many in all. */
function nameSome(tables: ReadonlySet<string>): string {
  if (tables.size <= NAMED) return [...tables].join(', ');
  const first: string[] = [];
  for (const t of tables) {
    if (first.length === NAMED) break;
    first.push(t);
  }
  return `${first.join(', ')} and ${(tables.size - NAMED).toLocaleString('en-US')} more (${tables.size.toLocaleString('en-US')} tables)`;
}
