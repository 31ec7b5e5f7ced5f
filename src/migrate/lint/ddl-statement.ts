import type { SqlStatement } from './split-statements.js';
import type { Token } from './tokenize.js';

/**
 * The shape of one statement, as far as the lint rules need it. Table names
 * are qualified (`schema.table`, unquoted, as PostgreSQL stores them);
 * anything the describer does not recognise is `other` and no rule looks at
 * it, so an unusual statement costs a missed finding, never a false one.
 */
export type DdlStatement = SqlStatement & DdlShape;

export type DdlShape =
  | {
      readonly kind: 'create-table';
      readonly table: string;
      readonly ifNotExists: boolean;
      /** Tables its foreign keys reference (locked SHARE ROW EXCLUSIVE). */
      readonly references: readonly string[];
    }
  | {
      readonly kind: 'create-index';
      readonly table: string;
      readonly indexName: string | undefined;
      readonly concurrently: boolean;
      readonly ifNotExists: boolean;
    }
  | {
      readonly kind: 'drop-index';
      readonly indexes: readonly string[];
      readonly concurrently: boolean;
      readonly ifExists: boolean;
    }
  | { readonly kind: 'alter-table'; readonly table: string; readonly actions: readonly AlterAction[] }
  | { readonly kind: 'rename-table'; readonly table: string; readonly to: string }
  | { readonly kind: 'rename-column'; readonly table: string; readonly column: string; readonly to: string }
  | { readonly kind: 'drop-table'; readonly tables: readonly string[]; readonly ifExists: boolean }
  | { readonly kind: 'truncate'; readonly tables: readonly string[] }
  | {
      readonly kind: 'rewrite-command';
      readonly command: 'VACUUM FULL' | 'CLUSTER' | 'REINDEX';
      readonly table: string | undefined;
    }
  | { readonly kind: 'lock-table'; readonly tables: readonly string[]; readonly mode: string }
  | {
      readonly kind: 'set-setting';
      /** `SET`/`RESET` change one setting; `SELECT set_config(…), set_config(…)` may change several. */
      readonly settings: readonly { readonly name: string; readonly value: string | null }[];
    }
  | { readonly kind: 'dml'; readonly verb: 'UPDATE' | 'DELETE'; readonly table: string; readonly hasWhere: boolean }
  | { readonly kind: 'other'; readonly keyword: string; readonly concurrently: boolean };

/** A column definition (`ADD COLUMN …` or a `CREATE TABLE` column). */
export interface ColumnDefinition {
  readonly column: string;
  readonly dataType: readonly Token[];
  /** The DEFAULT expression's tokens, when there is one. */
  readonly defaultExpr: readonly Token[] | undefined;
  readonly notNull: boolean;
  readonly generated: 'stored' | 'identity' | undefined;
  readonly check: boolean;
  readonly references: string | undefined;
  readonly buildsIndex: 'primary key' | 'unique' | undefined;
}

/** One action of an `ALTER TABLE`. */
export type AlterAction =
  | ({ readonly type: 'add-column'; readonly ifNotExists: boolean } & ColumnDefinition)
  | {
      readonly type: 'add-constraint';
      readonly name: string | undefined;
      readonly constraint: 'check' | 'foreign key' | 'unique' | 'primary key' | 'exclude';
      readonly notValid: boolean;
      readonly usingIndex: boolean;
      readonly references: string | undefined;
    }
  | { readonly type: 'drop-column'; readonly column: string; readonly ifExists: boolean }
  | {
      readonly type: 'alter-column-type';
      readonly column: string;
      readonly dataType: readonly Token[];
      readonly using: boolean;
      /** A `COLLATE` clause: a new collation rebuilds the column's indexes even when the type change is free. */
      readonly collate: boolean;
    }
  | { readonly type: 'set-not-null'; readonly column: string }
  | { readonly type: 'validate-constraint'; readonly name: string }
  | { readonly type: 'rewrite'; readonly what: string }
  | { readonly type: 'other'; readonly text: string };
