import { sql, type Kysely } from 'kysely';

/**
 * The Todo app's Phase 2 read queries, as the app runs them — plain SQL on
 * its own tables. Seed 002 SC-001 / seed 003 SC-005: they must return
 * exactly the same with chatkeep's tables beside them, during its migration
 * and after it is reverted (test/examples/todo-online.test.ts).
 */
export interface Phase2View {
  /** The dashboard: every task, grouped by category (uncategorised last). */
  readonly tasksByCategory: readonly {
    id: string;
    title: string;
    completed: boolean;
    priority: string;
    category: string | null;
  }[];
  /** The header counters. */
  readonly counts: { readonly total: number; readonly pending: number };
  /** "Due soon": pending tasks with a due date, most urgent first. */
  readonly dueSoon: readonly { id: string; title: string; due: string }[];
  /** The category sidebar, with task counts. */
  readonly categories: readonly { name: string; tasks: number }[];
}

/**
 * Runs the Phase 2 queries for one user.
 *
 * @example
 * const view = await phase2View(db, 'todo', 'alice');
 */
export async function phase2View(
  db: Kysely<any>,
  schema: string,
  userId: string,
): Promise<Phase2View> {
  const tasks = sql.id(schema, 'tasks');
  const categories = sql.id(schema, 'categories');
  const { rows: byCategory } = await sql<{
    id: string | number;
    title: string;
    completed: boolean;
    priority: string;
    category: string | null;
  }>`
    select t.id, t.title, t.completed, t.priority, c.name as category
      from ${tasks} t left join ${categories} c on c.user_id = t.user_id and c.id = t.category_id
     where t.user_id = ${userId}
     order by c.name nulls last, t.id`.execute(db);
  const { rows: counts } = await sql<{ total: number | string; pending: number | string }>`
    select count(*) as total, count(*) filter (where not completed) as pending from ${tasks} where user_id = ${userId}`.execute(
    db,
  );
  const { rows: due } = await sql<{ id: string | number; title: string; due: string }>`
    select id, title, due_date::text as due from ${tasks}
     where user_id = ${userId} and not completed and due_date is not null
     order by due_date, case priority when 'high' then 0 when 'medium' then 1 else 2 end, id
     limit 20`.execute(db);
  const { rows: sidebar } = await sql<{ name: string; tasks: number | string }>`
    select c.name, count(t.id) as tasks
      from ${categories} c left join ${tasks} t on t.user_id = c.user_id and t.category_id = c.id
     where c.user_id = ${userId}
     group by c.name order by c.name`.execute(db);
  return {
    tasksByCategory: byCategory.map((t) => ({ ...t, id: String(t.id) })),
    counts: { total: Number(counts[0]?.total ?? 0), pending: Number(counts[0]?.pending ?? 0) },
    dueSoon: due.map((t) => ({ ...t, id: String(t.id) })),
    categories: sidebar.map((c) => ({ name: c.name, tasks: Number(c.tasks) })),
  };
}
