/**
 * One task as the tools return it. Field names match the tool arguments
 * (snake_case); dates are `YYYY-MM-DD`, times ISO 8601 in UTC. The owner is
 * not part of it: it is always the calling user.
 */
export interface Task {
  readonly id: number;
  readonly title: string;
  readonly description: string | null;
  readonly completed: boolean;
  readonly priority: 'low' | 'medium' | 'high';
  readonly due_date: string | null;
  readonly category: string | null;
  readonly created_at: string;
  readonly updated_at: string;
}

/** One page of `list_tasks`: `next_after_id` is the `after_id` of the next page, `null` on the last. */
export interface TaskPage {
  readonly tasks: Task[];
  readonly next_after_id: number | null;
}

/** A task row as selected by TaskStore, before the driver differences are ironed out. */
export interface TaskRow {
  readonly id: number | string;
  readonly title: string;
  readonly description: string | null;
  readonly completed: boolean;
  readonly priority: string;
  readonly due_date: string | null;
  readonly category: string | null;
  readonly created_at: Date | string;
  readonly updated_at: Date | string;
}

/** `bigint` arrives as a string from `pg` and as a number from PGlite; timestamps as Date from both. */
export function toTask(row: TaskRow): Task {
  return {
    id: Number(row.id),
    title: row.title,
    description: row.description,
    completed: row.completed,
    priority: row.priority as Task['priority'],
    due_date: row.due_date,
    category: row.category,
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
  };
}
