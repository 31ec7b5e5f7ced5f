import { groupPhases, type Phase } from '../phases.js';
import { runnableStatements, type MigrationStatement } from '../steps.js';
import type { DdlStatement } from './ddl-statement.js';
import { describeStatement } from './describe-statement.js';
import type { LintFinding, SuppressedFinding } from './lint-finding.js';
import { splitStatements } from './split-statements.js';
import { readSuppressions } from './suppression.js';

export const DOWN_AFTER_PARTIAL_UP = {
  id: 'down-assumes-whole-up',
  summary: 'down drops, without IF EXISTS, something a later phase of up creates: a down past a stopped run of up fails on it',
} as const;

/** What a phase of `up` after the first creates, by kind (tables and columns qualified, index names bare). */
interface Created {
  readonly tables: Map<string, number>;
  readonly indexes: Map<string, number>;
  readonly columns: Map<string, number>;
}

/**
 * A migration whose `up` commits more than once (a phased or
 * non-transactional one) can stop half-way; a `down` past it then runs this
 * migration's `down` over whatever the phases done left (in-flight-rules.ts).
 * Everything the first phase creates is there by then — a run in flight has
 * at least one phase journaled — but what later phases create may not be.
 * A `DROP` of such an object without `IF EXISTS` fails there, and the `down`
 * stops with the migration still in flight.
 */
export function downAfterPartialUp(
  up: readonly MigrationStatement[],
  down: readonly MigrationStatement[],
  transactional: boolean,
  defaultSchema: string,
  knownRules: readonly string[],
): { readonly findings: readonly LintFinding[]; readonly suppressed: readonly SuppressedFinding[] } {
  const phases = groupPhases(runnableStatements(up, transactional), transactional);
  const findings: LintFinding[] = [];
  const suppressed: SuppressedFinding[] = [];
  if (phases.length < 2) return { findings, suppressed };
  const created = createdAfterFirstPhase(phases, defaultSchema);
  for (const [index, sql] of sqlOf(down)) {
    for (const statement of splitStatements(sql, index).statements) {
      const ddl = describeStatement(statement, defaultSchema);
      for (const { what, phase } of fragileDrops(ddl, created)) {
        const found: LintFinding = {
          rule: DOWN_AFTER_PARTIAL_UP.id,
          severity: 'warning',
          statementIndex: -1,
          message: `down statement ${index + 1} drops ${what} without IF EXISTS, but up creates it only in phase ${phase + 1} of ${phases.length}: a down past a run of up stopped before that phase fails here and leaves the migration in flight`,
          fix: `Write the drop with IF EXISTS (DROP INDEX IF EXISTS, DROP TABLE IF EXISTS, ALTER TABLE … DROP COLUMN IF EXISTS), so down works whatever the phases of up got done.`,
        };
        const reason = readSuppressions(statement.leadingComments, knownRules).rules.get(DOWN_AFTER_PARTIAL_UP.id);
        if (reason === undefined) findings.push(found);
        else suppressed.push({ ...found, reason });
      }
    }
  }
  return { findings, suppressed };
}

function createdAfterFirstPhase(phases: readonly Phase[], defaultSchema: string): Created {
  const created: Created = { tables: new Map(), indexes: new Map(), columns: new Map() };
  const first = <K>(map: Map<K, number>, key: K, phase: number) => {
    if (!map.has(key)) map.set(key, phase);
  };
  phases.forEach((phase, number) => {
    if (number === 0) return;
    if (phase.kind === 'concurrent-index') first(created.indexes, bareName(phase.name), number);
    const statements = phase.kind === 'sql' || phase.kind === 'non-transactional' ? phase.statements : [];
    for (const sql of statements) {
      for (const statement of splitStatements(sql, 0).statements) {
        const ddl = describeStatement(statement, defaultSchema);
        if (ddl.kind === 'create-table') first(created.tables, ddl.table, number);
        if (ddl.kind === 'create-index' && ddl.indexName !== undefined) first(created.indexes, bareName(ddl.indexName), number);
        if (ddl.kind === 'alter-table') {
          for (const action of ddl.actions) if (action.type === 'add-column') first(created.columns, `${ddl.table}.${action.column}`, number);
        }
      }
    }
  });
  return created;
}

/** The objects a down statement drops without IF EXISTS that only a later phase of up creates. */
function fragileDrops(ddl: DdlStatement, created: Created): { readonly what: string; readonly phase: number }[] {
  const found = (what: string, phase: number | undefined) => (phase === undefined ? [] : [{ what, phase }]);
  switch (ddl.kind) {
    case 'drop-table':
      return ddl.ifExists ? [] : ddl.tables.flatMap((table) => found(`table ${table}`, created.tables.get(table)));
    case 'drop-index':
      return ddl.ifExists ? [] : ddl.indexes.flatMap((index) => found(`index ${bareName(index)}`, created.indexes.get(bareName(index))));
    case 'alter-table':
      return ddl.actions.flatMap((action) =>
        action.type === 'drop-column' && !action.ifExists ? found(`column ${ddl.table}.${action.column}`, created.columns.get(`${ddl.table}.${action.column}`)) : [],
      );
    default:
      return [];
  }
}

/** The SQL of each entry of a rendered `down`, with its index. */
function sqlOf(statements: readonly MigrationStatement[]): [number, string][] {
  return statements.flatMap((statement, index): [number, string][] => {
    if (typeof statement === 'string') return [[index, statement]];
    return statement.kind === 'non-transactional' ? statement.statements.map((sql): [number, string] => [index, sql]) : [];
  });
}

function bareName(name: string): string {
  return name.slice(name.lastIndexOf('.') + 1);
}
