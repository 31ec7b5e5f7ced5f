import { describeStatement } from '../lint/describe-statement.js';
import type { DdlStatement } from '../lint/ddl-statement.js';
import { splitStatements } from '../lint/split-statements.js';
import { tableLocks } from '../lint/table-locks.js';
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
      for (const { table, mode } of locksOf(ddl)) {
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

/** The lint's write-blocking locks, plus the SHARE UPDATE EXCLUSIVE of concurrent builds and VALIDATE (blocks DDL and VACUUM, not writes). */
function locksOf(ddl: DdlStatement): readonly { table: string; mode: string }[] {
  if (ddl.kind === 'create-index' && ddl.concurrently) return [{ table: ddl.table, mode: 'SHARE UPDATE EXCLUSIVE' }];
  if (ddl.kind === 'alter-table' && ddl.actions.length > 0 && ddl.actions.every((a) => a.type === 'validate-constraint')) {
    return [{ table: ddl.table, mode: 'SHARE UPDATE EXCLUSIVE' }];
  }
  return tableLocks(ddl);
}
