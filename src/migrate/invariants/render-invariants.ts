import { ChatkeepError } from '../../errors/index.js';
import type { Migration, MigrationContext } from '../migration.js';
import type { Invariant } from './invariant.js';

const IDENT = /^[a-z_][a-z0-9_$]*$/;
const QUALIFIED = /^[a-z_][a-z0-9_$]*\.[a-z_][a-z0-9_$]*$/;

/**
 * The invariants a migration declares, rendered with its context and
 * checked: a migration whose `invariants()` throws or returns something
 * malformed is reported as CK_CONFIG naming it, before anything runs (like
 * `renderMigration` does for `up`/`down`). Tables must be `schema.table`
 * (no search_path guessing) and columns plain lower-case identifiers, so
 * they can be quoted exactly.
 */
export function renderInvariants(migration: Migration, context: MigrationContext): readonly Invariant[] {
  if (migration.invariants === undefined) return [];
  let rendered: unknown;
  try {
    rendered = migration.invariants(context);
  } catch (cause) {
    throw configError(migration, `invariants() threw: ${cause instanceof Error ? cause.message : String(cause)}`, cause);
  }
  if (!Array.isArray(rendered)) throw configError(migration, 'invariants() must return an array of invariants');
  const names = new Set<string>();
  for (const invariant of rendered as unknown[]) {
    const problem = invalidInvariant(invariant);
    if (problem !== undefined) throw configError(migration, `invariants(): ${problem}`);
    const { name } = invariant as Invariant;
    if (names.has(name)) throw configError(migration, `invariants(): "${name}" is declared twice (the name is what identifies an invariant)`);
    names.add(name);
  }
  return rendered as readonly Invariant[];
}

/** A reason the value is not a well-formed invariant, or undefined. */
function invalidInvariant(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'an entry is not an invariant (use rowCountPreserved, noOrphans, notNull, tableChecksum or check)';
  const inv = value as Invariant;
  if (typeof inv.name !== 'string' || inv.name.trim() === '') return 'an invariant needs a non-empty name';
  const table = (field: string, v: unknown) => (typeof v === 'string' && QUALIFIED.test(v) ? undefined : `${inv.name}: ${field} must be schema.table, got ${JSON.stringify(v)}`);
  const columns = (field: string, v: unknown) =>
    Array.isArray(v) && v.length > 0 && v.every((c) => typeof c === 'string' && IDENT.test(c)) ? undefined : `${inv.name}: ${field} must be plain lower-case column names`;
  switch (inv.kind) {
    case 'row-count-preserved':
    case 'table-checksum':
      return table('table', inv.table);
    case 'not-null':
      return table('table', inv.table) ?? (typeof inv.column === 'string' && IDENT.test(inv.column) ? undefined : `${inv.name}: column must be a plain lower-case column name`);
    case 'no-orphans':
      return (
        table('childTable', inv.childTable) ??
        table('parentTable', inv.parentTable) ??
        columns('childColumns', inv.childColumns) ??
        columns('parentColumns', inv.parentColumns) ??
        (inv.childColumns.length === inv.parentColumns.length ? undefined : `${inv.name}: childColumns and parentColumns differ in length`)
      );
    case 'check':
      return typeof inv.query === 'string' && inv.query.trim() !== '' ? undefined : `${inv.name}: check needs a query`;
    default:
      return `unknown invariant kind ${JSON.stringify((inv as { kind?: unknown }).kind)}`;
  }
}

function configError(migration: Migration, problem: string, cause?: unknown): ChatkeepError {
  return new ChatkeepError(
    'CK_CONFIG',
    `Migration ${migration.version} ${migration.name}: ${problem}`,
    { field: 'migrations', version: migration.version, name: migration.name },
    cause === undefined ? undefined : { cause },
  );
}
