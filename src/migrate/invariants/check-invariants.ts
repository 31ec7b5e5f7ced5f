import { sql, type Kysely } from 'kysely';
import { pgErrorFields } from '../../errors/index.js';
import { needsBefore, type Invariant, type InvariantOutcome } from './invariant.js';
import { judgeInvariant, measureInvariant } from './measure-invariant.js';

/** Where invariant queries run: inside the migration's own transaction, or on the bare connection. */
export interface InvariantScope {
  readonly inTransaction: boolean;
  readonly lockTimeout: string;
  readonly statementTimeout: string;
}

/** Before-values by invariant name; `missing` says why there are none for a resumed run. */
export interface Baseline {
  readonly values: Readonly<Record<string, string>>;
  readonly missing?: string;
}

/**
 * Runs one read in a scope of its own that is always rolled back: a
 * savepoint inside the migration's transaction (so a failing query does not
 * abort the migration's transaction, and the settings a checksum pins are
 * undone), or a transaction with the migration's timeouts. Invariants only
 * read; whatever a `check` query might change is discarded.
 */
async function scoped<T>(db: Kysely<any>, scope: InvariantScope, read: (db: Kysely<any>) => Promise<T>): Promise<T> {
  if (scope.inTransaction) {
    await sql`savepoint ck_invariant`.execute(db);
    try {
      return await read(db);
    } finally {
      await sql`rollback to savepoint ck_invariant`.execute(db);
      await sql`release savepoint ck_invariant`.execute(db);
    }
  }
  let result: { value: T } | undefined;
  await db
    .transaction()
    .execute(async (trx) => {
      await sql`select set_config('lock_timeout', ${scope.lockTimeout}, true), set_config('statement_timeout', ${scope.statementTimeout}, true)`.execute(trx);
      result = { value: await read(trx) };
      throw ROLLBACK;
    })
    .catch((error: unknown) => {
      if (error !== ROLLBACK) throw error;
    });
  return result!.value;
}

const ROLLBACK = Symbol('rollback');

/** A measurement that failed, naming the invariant. */
export class InvariantQueryError extends Error {
  constructor(
    readonly invariant: string,
    cause: unknown,
  ) {
    super(describeError(cause), { cause });
    this.name = 'InvariantQueryError';
  }
}

/** Measures the before-values of the invariants that compare with one. Throws InvariantQueryError. */
export async function measureBefore(db: Kysely<any>, invariants: readonly Invariant[], scope: InvariantScope): Promise<Record<string, string>> {
  const values: Record<string, string> = {};
  for (const invariant of invariants.filter(needsBefore)) {
    try {
      values[invariant.name] = await scoped(db, scope, (d) => measureInvariant(d, invariant));
    } catch (cause) {
      throw new InvariantQueryError(invariant.name, cause);
    }
  }
  return values;
}

/**
 * Checks every invariant (all of them, so the report is complete) and
 * reports each outcome as it is known. A query that fails (a table the
 * migration dropped, a typo in a `check`) is a failed invariant whose
 * observed value is the error. One whose before-value is missing is skipped.
 */
export async function checkInvariants(
  db: Kysely<any>,
  invariants: readonly Invariant[],
  baseline: Baseline,
  scope: InvariantScope,
  onOutcome: (outcome: InvariantOutcome) => void,
): Promise<InvariantOutcome[]> {
  const outcomes: InvariantOutcome[] = [];
  for (const invariant of invariants) {
    const started = performance.now();
    const base = { name: invariant.name, kind: invariant.kind };
    const before = baseline.values[invariant.name];
    let outcome: InvariantOutcome;
    if (needsBefore(invariant) && before === undefined) {
      outcome = {
        ...base,
        status: 'skipped',
        expected: '-',
        observed: '-',
        reason: baseline.missing ?? 'no before-value: the invariant was added after this migration started, so its true before cannot be known',
        durationMs: 0,
      };
    } else {
      try {
        const after = await scoped(db, scope, (d) => measureInvariant(d, invariant));
        const judged = judgeInvariant(invariant, before, after);
        outcome = { ...base, status: judged.passed ? 'passed' : 'failed', expected: judged.expected, observed: judged.observed, durationMs: elapsed(started) };
      } catch (cause) {
        const expected = judgeInvariant(invariant, before, before ?? (invariant.kind === 'check' ? 'true' : '0')).expected;
        outcome = { ...base, status: 'failed', expected, observed: `error: ${describeError(cause)}`, durationMs: elapsed(started) };
      }
    }
    outcomes.push(outcome);
    onOutcome(outcome);
  }
  return outcomes;
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}

/** PostgreSQL's message and SQLSTATE (no DETAIL: it can hold row values). */
function describeError(cause: unknown): string {
  const pg = pgErrorFields(cause);
  const message = cause instanceof Error ? cause.message : String(cause);
  return `${message}${pg?.code ? ` (SQLSTATE ${pg.code})` : ''}`;
}
