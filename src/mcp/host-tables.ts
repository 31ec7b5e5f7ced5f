import type { ColumnType, Generated } from 'kysely';

/**
 * The host application's task tables as the task tools see them: the Todo
 * example's `categories` and `tasks` (examples/todo/migrations). The tools
 * have no type for `users`, nor for any chatkeep table, and their database
 * role has no grant on them either (docs/mcp.md).
 *
 * `bigint` ids arrive as strings from `pg` and as numbers from PGlite.
 */
type Id = ColumnType<number | string, never, never>;
type Timestamp = ColumnType<Date, never, Date | string>;

export interface CategoriesTable {
  id: Id;
  user_id: string;
  name: string;
  created_at: Generated<Date>;
}

export interface TasksTable {
  id: Id;
  user_id: string;
  title: string;
  description: string | null;
  completed: Generated<boolean>;
  priority: Generated<string>;
  due_date: ColumnType<string | null, string | null | undefined, string | null>;
  category_id: ColumnType<number | string | null, number | null | undefined, number | null>;
  created_at: ColumnType<Date, never, never>;
  updated_at: Timestamp;
}

/** The tables the task tools may name, and nothing else. */
export interface HostTaskTables {
  categories: CategoriesTable;
  tasks: TasksTable;
}
