import type { Invariant, InvariantOutcome } from '../migrate/index.js';
import type { PlannedInvariants } from '../migrate/planned-migration.js';

/**
 * How the CLI words invariants (docs/migrations.md, "Invariants"): in a
 * plan, what each promises and when it is checked; during `up`, each
 * outcome as it is known. Values are the migrator's counts and digests,
 * never row content.
 */

/**
 * What an invariant promises, with its kind, tables and columns:
 * `[row-count-preserved] app.notes (allowGrowth): at least as many rows after up as before`.
 */
export function describeInvariant(invariant: Invariant): string {
  switch (invariant.kind) {
    case 'row-count-preserved':
      return invariant.allowGrowth
        ? `[row-count-preserved] ${invariant.table} (allowGrowth): at least as many rows after up as before`
        : `[row-count-preserved] ${invariant.table}: as many rows after up as before`;
    case 'no-orphans':
      return `[no-orphans] ${invariant.childTable} (${invariant.childColumns.join(', ')}) → ${invariant.parentTable} (${invariant.parentColumns.join(', ')}): every child row whose key is all non-NULL has a parent`;
    case 'not-null':
      return `[not-null] ${invariant.table}.${invariant.column}: no NULL`;
    case 'table-checksum':
      return `[table-checksum] ${invariant.table}: exactly the rows it had before up`;
    case 'check':
      return `[check] ${invariant.name}: \`${oneLine(invariant.query)}\` returns true`;
  }
}

/**
 * What is measured for an invariant before `up` starts (`row count of
 * app.notes`), or undefined for the kinds that judge the state after `up`
 * alone.
 */
export function beforeValueOf(invariant: Invariant): string | undefined {
  if (invariant.kind === 'row-count-preserved') return `row count of ${invariant.table}`;
  if (invariant.kind === 'table-checksum') return `row count and digest of ${invariant.table}`;
  return undefined;
}

/**
 * The plan's comment lines for one migration's invariants: `before` goes
 * above its SQL (the values measured first), `after` below it (what is
 * checked, when, and how a broken invariant is undone). Empty when it
 * declares none.
 */
export function plannedInvariantLines(
  planned: PlannedInvariants,
  phased: boolean,
): { before: string[]; after: string[] } {
  const { invariants, check } = planned;
  if (invariants.length === 0) return { before: [], after: [] };
  const measured = invariants.map(beforeValueOf).filter((v) => v !== undefined);
  const before =
    measured.length === 0
      ? []
      : [
          `-- invariants: before up starts, measure ${measured.join('; ')}${check.beforeValuesStored ? ' (stored, so a run resumed after a kill compares with them)' : ''}`,
        ];
  const when =
    check.when === 'before-commit'
      ? 'checked before COMMIT, inside its transaction; a broken one rolls the whole migration back'
      : `checked after its last ${phased ? 'phase' : 'statement'}, when its work is committed, before its version is recorded; a broken one is undone by its down() and the migration runs again from the start next time`;
  const after = [
    `-- invariants (${invariants.length}): ${when}:`,
    ...invariants.map((i) => `--   ${describeInvariant(i)}`),
  ];
  return { before, after };
}

/**
 * `invariants: measuring before-values: row count of app.notes; …`, as `up`
 * prints it live when the migrator starts measuring (its
 * `invariants-measuring` event), or undefined when nothing is measured.
 */
export function measuringLine(invariants: readonly Invariant[], stored: boolean): string | undefined {
  const measured = invariants.map(beforeValueOf).filter((v) => v !== undefined);
  if (measured.length === 0) return undefined;
  return stored
    ? `invariants: measuring before-values (and storing them; a resumed run reads back the stored ones): ${measured.join('; ')}…`
    : `invariants: measuring before-values: ${measured.join('; ')}…`;
}

/** `invariants: checking 3…`, as `up` prints it live when the migrator starts checking (`invariants-checking`). */
export function checkingLine(invariants: readonly Invariant[]): string {
  return `invariants: checking ${invariants.length}…`;
}

/**
 * One checked invariant, as `up` prints it live:
 * `invariant ok      row count of app.notes preserved: expected 50 rows (as before up), observed 50 rows`.
 */
export function outcomeLine(outcome: InvariantOutcome): string {
  switch (outcome.status) {
    case 'passed':
      return `invariant ok      ${outcome.name}: expected ${outcome.expected}, observed ${outcome.observed}`;
    case 'failed':
      return `invariant FAILED  ${outcome.name}: expected ${outcome.expected}, observed ${outcome.observed}`;
    case 'skipped':
      return `invariant skipped ${outcome.name}: ${outcome.reason ?? 'not judged'}`;
  }
}

/** `3 passed` / `1 FAILED, 2 passed`: a migration's outcomes counted, for the closing report. */
export function outcomeTally(outcomes: readonly InvariantOutcome[]): string {
  const count = (status: InvariantOutcome['status']) =>
    outcomes.filter((o) => o.status === status).length;
  return [
    [count('failed'), 'FAILED'],
    [count('skipped'), 'skipped'],
    [count('passed'), 'passed'],
  ]
    .filter(([n]) => n !== 0)
    .map(([n, word]) => `${n} ${word}`)
    .join(', ');
}

/** A query (or any SQL) on one line, so it fits in a `--` comment. */
function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
