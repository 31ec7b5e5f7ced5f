import { annotated, assertLintReason, lintFixLine, lintIgnoreLine } from '../lint/generated-lint-comments.js';
import type { Migration, MigrationContext } from '../migration.js';
import { backfill, concurrentIndex, verify, type MigrationStatement } from '../steps.js';
import { columnChange, type ColumnChange, type ExpandColumnSpec } from './column-change.js';
import { backward, dropSyncTriggerStatements, forward, inSync, quote, syncTriggerStatements } from './sync-trigger.js';

/** The `up`/`down` statement lists of an expand/contract pair, for hosts that compose their own migrations. */
export interface ExpandContractStatements {
  readonly expand: { readonly up: readonly MigrationStatement[]; readonly down: readonly MigrationStatement[] };
  readonly contract: { readonly up: readonly MigrationStatement[]; readonly down: readonly MigrationStatement[] };
}

/** Per-migration runner settings passed through to the {@link Migration}. */
export type MigrationTuning = Pick<Migration, 'lockTimeout' | 'statementTimeout'>;

/** Options of {@link ExpandContract.contract}: runner settings, and the decision that no old code is left. */
export interface ContractOptions extends MigrationTuning {
  /**
   * Why no deployed code reads or writes the old column any more, e.g.
   * `'every instance runs app ≥ 4.2, which uses price only (deployed
   * 2024-05-02)'`. Dropping it breaks old code still running, so the lint
   * reports the drop as an error (`drop-column`) and `up` refuses the
   * contract migration until you take that decision here: the text becomes
   * the reason of the `-- lint-ignore` comment on the drop. One line, not empty.
   */
  readonly unusedBecause?: string;
}

/** A column change as two migrations: `expand` now, `contract` once no old code is left. */
export interface ExpandContract {
  /** Adds the new column and the dual-write trigger, backfills, (indexes,) verifies. `down`: drops them — instant. */
  expand(version: number, name: string, tuning?: MigrationTuning): Migration;
  /**
   * Verifies again, drops the trigger and the old column. `down`: re-creates
   * the old column from the new one and re-installs the trigger. Give
   * `unusedBecause` once no old code is left; without it `up` refuses.
   */
  contract(version: number, name: string, options?: ContractOptions): Migration;
  /** The four statement lists, rendered for a migration set whose schema is `schema`; `unusedBecause` as for {@link contract}. */
  statements(schema: string, options?: Pick<ContractOptions, 'unusedBecause'>): ExpandContractStatements;
}

const BUILDER = 'expandColumn';

/**
 * Renames or reshapes a column while old and new application code run at
 * once (R-MIG-6, issue 4): a trigger keeps both columns in sync in both
 * directions during the transition (see `syncTriggerStatements` for which
 * side wins), a batched backfill converts existing rows, and a separate
 * contract migration removes the old column only after verifying that every
 * row agrees. Throws CK_CONFIG naming the field when the spec is invalid.
 *
 * @example
 * const price = expandColumn({
 *   table: 'products',
 *   from: { column: 'price_cents', type: 'integer' },
 *   to: { column: 'price', type: 'numeric(10,2)' },
 *   convert: (cents) => `${cents} / 100.0`,
 *   convertBack: (price) => `round(${price} * 100)`,
 * });
 * export const migrations = [
 *   createProducts,
 *   price.expand(5, 'products-price'),
 *   price.contract(6, 'products-price-complete', { unusedBecause: 'app 4.2 reads price only; deployed everywhere on 2024-05-02' }),
 * ];
 */
export function expandColumn(spec: ExpandColumnSpec): ExpandContract {
  const change = columnChange(spec);
  const render = (schema: string, unusedBecause: string | undefined) => renderStatements(change, change.schema ?? schema, unusedBecause);
  const migration = (
    version: number,
    name: string,
    tuning: MigrationTuning | undefined,
    pick: (s: ExpandContractStatements) => ExpandContractStatements['expand'],
    unusedBecause?: string,
  ): Migration => ({
    version,
    name,
    up: ({ schema }: MigrationContext) => pick(render(schema, unusedBecause)).up,
    down: ({ schema }: MigrationContext) => pick(render(schema, unusedBecause)).down,
    ...tuning,
  });
  const reason = (field: string, value: unknown) => (value === undefined ? undefined : assertLintReason(`expandColumn.${field}.unusedBecause`, value));
  return {
    expand: (version, name, tuning) => migration(version, name, tuning, (s) => s.expand),
    contract: (version, name, options = {}) => {
      const { unusedBecause, ...tuning } = options;
      return migration(version, name, tuning, (s) => s.contract, reason('contract', unusedBecause));
    },
    statements: (schema, options = {}) => render(schema, reason('statements', options.unusedBecause)),
  };
}

function renderStatements(change: ColumnChange, schema: string, unusedBecause: string | undefined): ExpandContractStatements {
  const table = `${schema}.${change.table}`;
  const quoted = `${schema}.${quote(change.table)}`;
  const oldCol = quote(change.from.column);
  const newCol = quote(change.to.column);
  const agree = verify(
    `every row of ${table} has ${change.to.column} = convert(${change.from.column})`,
    `select not exists (select 1 from ${quoted} where not (${inSync(change)}))`,
  );
  const expandUp: MigrationStatement[] = [
    // One transaction: the column and the trigger appear together, so every
    // row is either untouched since (new column NULL: the backfill's job) or
    // written through the trigger (in sync). No row can be missed between them.
    `alter table ${quoted} add column ${newCol} ${change.to.type}`,
    ...syncTriggerStatements(change, schema),
    backfill({
      table,
      key: change.key,
      set: `${newCol} = ${forward(change, oldCol)}`,
      where: `${newCol} is null and ${oldCol} is not null`,
      ...change.backfill,
    }),
    ...(change.index === undefined
      ? []
      : [concurrentIndex({ name: change.index.name, table, columns: newCol, ...(change.index.where !== undefined ? { where: change.index.where } : {}) })]),
    agree,
  ];
  // Nothing is lost: the old column was kept complete by the trigger all along.
  const expandDown = [
    ...dropSyncTriggerStatements(change, schema),
    annotated(
      `alter table ${quoted} drop column if exists ${newCol}`,
      lintIgnoreLine(BUILDER, ['drop-column'], `the sync trigger copied every write of ${change.to.column} into ${change.from.column}, which old code reads`),
    ),
  ];
  const contractUp: MigrationStatement[] = [
    agree,
    ...dropSyncTriggerStatements(change, schema),
    // Old code still running fails from here on: only the user can say none is.
    annotated(
      `alter table ${quoted} drop column ${oldCol}`,
      unusedBecause !== undefined
        ? lintIgnoreLine(BUILDER, ['drop-column'], unusedBecause)
        : lintFixLine(
            BUILDER,
            'drop-column',
            `Contract drops ${table}.${change.from.column}, which old application code reads and writes: any still running fails from here on (down re-creates the column from ${change.to.column}). Once no deployed code uses ${change.from.column}, pass { unusedBecause: '<why nothing uses ${change.from.column} any more>' } to contract(…); that text becomes the reason of this finding's suppression. Until then, leave the contract migration out of the deploy.`,
          ),
    ),
  ];
  const contractDown: MigrationStatement[] = [
    `alter table ${quoted} add column ${oldCol} ${change.from.type}`,
    // New code keeps writing while the old column is refilled: the trigger
    // must take an empty old column for "not refilled yet", not for a write.
    ...syncTriggerStatements(change, schema, { refill: 'old' }),
    backfill({
      table,
      key: change.key,
      set: `${oldCol} = ${backward(change, newCol)}`,
      where: `${oldCol} is null and ${newCol} is not null`,
      ...change.backfill,
    }),
    agree,
  ];
  return { expand: { up: expandUp, down: expandDown }, contract: { up: contractUp, down: contractDown } };
}
