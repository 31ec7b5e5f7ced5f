import { describeStatement } from '../lint/describe-statement.js';
import type { DdlStatement } from '../lint/ddl-statement.js';
import { splitStatements } from '../lint/split-statements.js';
import { tableLocks } from '../lint/table-locks.js';
import { findWord, isWord, readName, wordsAt } from '../lint/token-helpers.js';
import type { Token } from '../lint/tokenize.js';
import type { Phase } from '../phases.js';
import { statementText } from '../steps.js';
import { blocksReads, blocksWrites } from './lock-modes.js';
import type { HeldLock } from './rehearsal-report.js';
import type { TimedStep } from './step-timeline.js';

/** One query the copy ran, from Kysely's query log (`performance.now()` times). */
export interface LoggedQuery {
  readonly sql: string;
  readonly start: number;
  readonly end: number;
}

/**
 * The locks a step held on a single-session database (PGlite), where no
 * second session can watch: the modes are the ones the lint reads from each
 * statement (`tableLocks`, after the PostgreSQL manual), and the time is
 * measured from the query log — from the start of the statement that takes
 * the lock to the end of its transaction (the step's end; locks are held
 * until commit), or to the statement's own end when it ran in autocommit.
 * Statements the lint does not recognise contribute no lock, and backfill
 * and verify steps only take row locks and ACCESS SHARE, which are left out.
 */
export function estimatedLocks(step: TimedStep, phase: Phase | undefined, defaultSchema: string, log: readonly LoggedQuery[]): HeldLock[] {
  if (phase === undefined || step.status === 'skipped') return [];
  const transactional = phase.kind === 'sql' && phase.transactional;
  const texts =
    phase.kind === 'sql' || phase.kind === 'non-transactional'
      ? phase.statements
      : phase.kind === 'concurrent-index'
        ? [statementText(phase)]
        : [];
  const used = new Set<LoggedQuery>();
  const created = new Set<string>();
  const held = new Map<string, HeldLock>();
  for (const text of texts) {
    const query = log.find((q) => !used.has(q) && q.sql === text && q.start >= step.start - 1 && q.end <= step.end + 1);
    if (query !== undefined) used.add(query);
    const from = query?.start ?? step.start;
    const until = transactional || query === undefined ? step.end : query.end;
    for (const statement of splitStatements(text, 0).statements) {
      const ddl = describeStatement(statement, defaultSchema);
      for (const { table, mode } of locksOf(ddl, defaultSchema)) {
        const lock: HeldLock = {
          relation: table,
          mode,
          heldMs: Math.round(Math.max(0, until - from)),
          blocksWrites: blocksWrites(mode),
          blocksReads: blocksReads(mode),
          newRelation: created.has(table),
        };
        const key = `${table}/${mode}`;
        const earlier = held.get(key);
        // The same lock taken again in one transaction is still the first one, held until commit.
        if (earlier === undefined || earlier.heldMs < lock.heldMs) held.set(key, lock);
      }
      // Invisible to other sessions until commit: a table created in this transaction blocks nobody.
      if (transactional && ddl.kind === 'create-table') created.add(ddl.table);
    }
  }
  return [...held.values()];
}

/**
 * The lint's write-blocking locks, plus the SHARE UPDATE EXCLUSIVE of
 * concurrent builds and VALIDATE (blocks DDL and VACUUM, not writes), plus
 * DROP INDEX's lock on the index. The lint has no table lock for DROP INDEX
 * (the statement does not name the table), but a plain one holds ACCESS
 * EXCLUSIVE on the index and its table until commit, so every read and write
 * of the table waits (manual, DROP INDEX); the index is the relation the
 * statement names, and a lock on it blocks the same writers.
 */
function locksOf(ddl: DdlStatement, defaultSchema: string): readonly { table: string; mode: string }[] {
  if (ddl.kind === 'other') return otherLocks(ddl.tokens, defaultSchema);
  if (ddl.kind === 'drop-index') return ddl.indexes.map((index) => ({ table: index, mode: ddl.concurrently ? 'SHARE UPDATE EXCLUSIVE' : 'ACCESS EXCLUSIVE' }));
  if (ddl.kind === 'create-index' && ddl.concurrently) return [{ table: ddl.table, mode: 'SHARE UPDATE EXCLUSIVE' }];
  if (ddl.kind === 'alter-table' && ddl.actions.length > 0 && ddl.actions.every((a) => a.type === 'validate-constraint')) {
    return [{ table: ddl.table, mode: 'SHARE UPDATE EXCLUSIVE' }];
  }
  return tableLocks(ddl);
}

/**
 * Write-blocking locks of statements the lint has no shape for, read from
 * their tokens (PostgreSQL manual, table 13.2 and each command's page): a
 * trigger is created under SHARE ROW EXCLUSIVE on its table and dropped
 * under ACCESS EXCLUSIVE; CREATE/ALTER/DROP POLICY take ACCESS EXCLUSIVE on
 * the table; REFRESH MATERIALIZED VIEW takes ACCESS EXCLUSIVE on the view
 * (EXCLUSIVE with CONCURRENTLY, which still lets reads through). Without
 * them a PGlite rehearsal said "no lock that blocks the application" where
 * PostgreSQL measures every write waiting.
 */
function otherLocks(tokens: readonly Token[], defaultSchema: string): readonly { table: string; mode: string }[] {
  const named = (at: number, mode: string) => {
    const name = at < 0 ? undefined : readName(tokens, at);
    if (name === undefined) return [];
    const { parts } = name;
    const table = parts.length >= 2 ? `${parts[parts.length - 2]}.${parts[parts.length - 1]}` : `${defaultSchema}.${parts[0] ?? ''}`;
    return [{ table, mode }];
  };
  const on = (from: number) => {
    const at = findWord(tokens, 'on', from);
    return at < 0 ? -1 : at + 1;
  };
  const trigger = findWord(tokens, 'trigger');
  if (isWord(tokens[0], 'create') && trigger > 0 && trigger <= 4) return named(on(trigger), 'SHARE ROW EXCLUSIVE');
  if (wordsAt(tokens, 0, 'drop', 'trigger')) return named(on(2), 'ACCESS EXCLUSIVE');
  if (isWord(tokens[0], 'create', 'alter', 'drop') && isWord(tokens[1], 'policy')) return named(on(2), 'ACCESS EXCLUSIVE');
  if (wordsAt(tokens, 0, 'refresh', 'materialized', 'view')) {
    const concurrently = isWord(tokens[3], 'concurrently');
    return named(concurrently ? 4 : 3, concurrently ? 'EXCLUSIVE' : 'ACCESS EXCLUSIVE');
  }
  return [];
}
