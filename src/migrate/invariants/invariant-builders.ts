import type {
  CheckInvariant,
  NoOrphansInvariant,
  NotNullInvariant,
  RowCountPreservedInvariant,
  TableChecksumInvariant,
} from './invariant.js';

/**
 * The table keeps its row count across `up`: counted just before `up`
 * starts, compared after. With `allowGrowth`, more rows pass (writers keep
 * inserting during a phased migration); fewer rows always fail.
 *
 * @example
 * invariants: ({ schema }) => [rowCountPreserved(`${schema}.messages`, { allowGrowth: true })]
 */
export function rowCountPreserved(table: string, options: { readonly allowGrowth?: boolean } = {}): RowCountPreservedInvariant {
  return { kind: 'row-count-preserved', name: `row count of ${table} preserved`, table, allowGrowth: options.allowGrowth === true };
}

/**
 * Every row of `childTable` whose `childColumns` are all non-NULL matches a
 * row of `parentTable` on `parentColumns` (what a foreign key would
 * enforce): for data moved or re-keyed by a migration.
 *
 * @example
 * noOrphans(`${schema}.onboarding_sessions`, ['user_id', 'conversation_id'], `${schema}.conversations`, ['user_id', 'id'])
 */
export function noOrphans(
  childTable: string,
  childColumns: string | readonly string[],
  parentTable: string,
  parentColumns: string | readonly string[],
): NoOrphansInvariant {
  const child = typeof childColumns === 'string' ? [childColumns] : [...childColumns];
  const parent = typeof parentColumns === 'string' ? [parentColumns] : [...parentColumns];
  return {
    kind: 'no-orphans',
    name: `no orphans: ${childTable} (${child.join(', ')}) → ${parentTable} (${parent.join(', ')})`,
    childTable,
    childColumns: child,
    parentTable,
    parentColumns: parent,
  };
}

/**
 * No row of `table` has NULL in `column`: typically after a backfill,
 * before anyone relies on the column.
 *
 * @example notNull(`${schema}.messages`, 'preview')
 */
export function notNull(table: string, column: string): NotNullInvariant {
  return { kind: 'not-null', name: `${table}.${column} has no NULL`, table, column };
}

/**
 * The rows of `table` are the same after `up` as before it (same multiset
 * of row texts): for a host table the migration promises not to touch.
 * Reads the whole table twice; keep it to tables where that is affordable.
 *
 * @example tableChecksum('public.users')
 */
export function tableChecksum(table: string): TableChecksumInvariant {
  return { kind: 'table-checksum', name: `checksum of ${table} unchanged`, table };
}

/**
 * Any condition as SQL: the first column of the first row must be `true`
 * (no row, NULL or false fail). The query runs after `up` and must only
 * read: whatever it changes is rolled back.
 *
 * @example check('every user has a settings row', `select not exists (select 1 from app.users u where not exists (select 1 from app.settings s where s.user_id = u.id))`)
 */
export function check(name: string, query: string): CheckInvariant {
  return { kind: 'check', name, query };
}
