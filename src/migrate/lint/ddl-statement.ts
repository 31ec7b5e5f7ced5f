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
      /** `CREATE TABLE … AS` (not `WITH NO DATA`) or `SELECT … INTO`: the new table holds rows from the start. */
      readonly withRows?: boolean;
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
      /**
       * What a REINDEX names when it is not one table: `INDEX x` (whose table
       * the lint cannot see), `SCHEMA s`, `DATABASE d` or `SYSTEM d`.
       */
      readonly target?: { readonly kind: 'INDEX' | 'SCHEMA' | 'DATABASE' | 'SYSTEM'; readonly name: string | undefined };
    }
  | { readonly kind: 'lock-table'; readonly tables: readonly string[]; readonly mode: string }
  | {
      readonly kind: 'set-setting';
      /** `SET`/`RESET` change one setting; `SELECT set_config(…), set_config(…)` may change several. */
      readonly settings: readonly {
        readonly name: string;
        readonly value: string | null;
        /** `SET LOCAL` / `set_config(…, true)`: ends with the (possibly implicit) transaction; otherwise the session keeps it. */
        readonly local: boolean;
      }[];
    }
  | {
      readonly kind: 'dml';
      /** One for a bare UPDATE/DELETE; a `WITH` may hold several (in its queries and as its main statement). */
      readonly writes: readonly DmlWrite[];
    }
  | {
      readonly kind: 'create-type';
      /** Qualified type name. */
      readonly type: string;
      /** A `CREATE DOMAIN` with a CHECK or NOT NULL: adding a column of it rewrites the table. */
      readonly constrainedDomain: boolean;
    }
  | {
      readonly kind: 'alter-domain';
      readonly domain: string;
      /** `ADD CONSTRAINT` (not NOT VALID), `VALIDATE CONSTRAINT`, `SET NOT NULL`: each checks every column of the domain. */
      readonly checks: 'add-constraint' | 'validate-constraint' | 'set-not-null' | undefined;
      /** Adds a constraint (valid or not) or NOT NULL: new columns of the domain are checked from now on. */
      readonly constrains: boolean;
    }
  | { readonly kind: 'other'; readonly keyword: string; readonly concurrently: boolean };

/** One UPDATE or DELETE of a statement. */
export interface DmlWrite {
  readonly verb: 'UPDATE' | 'DELETE';
  readonly table: string;
  readonly hasWhere: boolean;
}

/** A column definition (`ADD COLUMN …` or a `CREATE TABLE` column). */
export interface ColumnDefinition {
  readonly column: string;
  readonly dataType: readonly Token[];
  /** The qualified type name when it is not a built-in type (it may be a domain); see column-type-name.ts. */
  readonly userType: string | undefined;
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
  | { readonly type: 'attach-partition'; readonly partition: string }
  | { readonly type: 'rewrite'; readonly what: string }
  | { readonly type: 'other'; readonly text: string };
