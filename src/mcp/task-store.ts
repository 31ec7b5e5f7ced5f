import { sql, type Kysely, type Transaction, type UpdateObject } from 'kysely';
import { ChatkeepError, NotFoundError } from '../errors/index.js';
import type { HostTaskTables } from './host-tables.js';
import { toTask, type Task, type TaskPage, type TaskRow } from './task.js';
import { wrapTaskError } from './task-errors.js';
import {
  addTaskInput,
  listTasksInput,
  parseTaskInput,
  taskIdInput,
  updateTaskInput,
  type AddTaskInput,
  type ListTasksInput,
  type TaskIdInput,
  type UpdateTaskInput,
} from './task-input.js';
import { resolveTaskToolsConfig, type TaskToolsConfig } from './task-tools-config.js';

type Trx = Transaction<HostTaskTables>;

/**
 * The task tools' only way into the database: the calling user's tasks in the
 * host's `tasks` table, and nothing else. It holds a Kysely handle and no
 * chatkeep Store, has no method that reads chat data, and runs every call in
 * a transaction that first does `SET LOCAL ROLE <role>`, so even a statement
 * it did not mean to send runs with the role's grants: the host's task tables
 * only, no access to chatkeep's schema (R-SEC-2, seed 002 FR-011; docs/mcp.md).
 *
 * `SET LOCAL` rather than a session-level `SET ROLE`: the role ends with the
 * transaction, so a pooled `pg` connection goes back to the pool as it came,
 * and the handle can share a Database, even PGlite's single session, with a
 * chatkeep Store in the same process.
 *
 * Every method takes the calling user first. Another user's task id behaves
 * exactly like an id that does not exist (CK_NOT_FOUND "task not found").
 *
 * @example
 * const tasks = new TaskStore(database.db, { hostSchema: 'todo' });
 * const task = await tasks.add('alice', { title: 'Buy milk' });
 */
export class TaskStore {
  /** The host schema the task tables live in. */
  readonly hostSchema: string;
  /** The database role every statement runs as. */
  readonly role: string;
  readonly #db: Kysely<HostTaskTables>;

  /** Throws CK_CONFIG when `hostSchema` or `role` is not a plain identifier. */
  constructor(db: Kysely<any>, config: TaskToolsConfig = {}) {
    const { hostSchema, role } = resolveTaskToolsConfig(config);
    this.hostSchema = hostSchema;
    this.role = role;
    this.#db = (db as Kysely<HostTaskTables>).withSchema(hostSchema);
  }

  /** The user's tasks, oldest first, filtered by status and category: one page of {@link listPage}. */
  async list(userId: string, input: ListTasksInput = {}): Promise<Task[]> {
    return (await this.listPage(userId, input)).tasks;
  }

  /**
   * One page of the user's tasks, oldest first, filtered by status and
   * category. `next_after_id` is the last task's id when more tasks follow
   * (pass it back as `after_id`), `null` when this page is the last: without
   * it a user with more tasks than `limit` would never see the newest ones,
   * and nothing would say so. A category matches whatever its case, as
   * add_task finds it (an exact match wins).
   */
  listPage(userId: string, input: ListTasksInput = {}): Promise<TaskPage> {
    const args = parseTaskInput(listTasksInput, input);
    return this.#run(userId, async (trx) => {
      let query = selectTasks(trx, userId);
      if (args.status !== 'all')
        query = query.where('t.completed', '=', args.status === 'completed');
      if (args.category !== undefined) {
        // The category add_task would file under: of a user's `Work` and
        // `work`, `Work` lists the one so named, not both.
        const categoryId = await findCategory(trx, userId, args.category);
        if (categoryId === undefined) return { tasks: [], next_after_id: null };
        query = query.where('t.category_id', '=', categoryId);
      }
      if (args.after_id !== undefined) query = query.where('t.id', '>', args.after_id);
      // One row more than asked: whether it exists is whether a next page does.
      const rows = await query
        .orderBy('t.id')
        .limit(args.limit + 1)
        .execute();
      const tasks = rows.slice(0, args.limit).map(toTask);
      return {
        tasks,
        next_after_id: rows.length > args.limit ? (tasks.at(-1)?.id ?? null) : null,
      };
    });
  }

  /** Adds a task; a category named for the first time is created for the user. */
  add(userId: string, input: AddTaskInput): Promise<Task> {
    const args = parseTaskInput(addTaskInput, input);
    return this.#run(userId, async (trx) => {
      const categoryId =
        args.category === undefined ? null : await categoryIdFor(trx, userId, args.category);
      const { id } = await trx
        .insertInto('tasks')
        .values({
          user_id: userId,
          title: args.title,
          description: args.description ?? null,
          ...(args.priority !== undefined ? { priority: args.priority } : {}),
          due_date: args.due_date ?? null,
          category_id: categoryId,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      return getTask(trx, userId, Number(id));
    });
  }

  /** Marks a task done (idempotent: completing a completed task returns it unchanged). */
  complete(userId: string, input: TaskIdInput): Promise<Task> {
    const { task_id } = parseTaskInput(taskIdInput, input);
    return this.#run(userId, (trx) =>
      updateOwnTask(trx, userId, task_id, {
        completed: true,
        updated_at: sql`case when completed then updated_at else now() end`,
      }),
    );
  }

  /** Changes the given fields of a task; `null` clears description, due date or category. */
  update(userId: string, input: UpdateTaskInput): Promise<Task> {
    const { task_id, category, ...fields } = parseTaskInput(updateTaskInput, input);
    return this.#run(userId, async (trx) => {
      const categoryId =
        category === undefined
          ? undefined
          : category === null
            ? null
            : await categoryIdFor(trx, userId, category);
      return updateOwnTask(trx, userId, task_id, {
        ...(fields.title !== undefined ? { title: fields.title } : {}),
        ...(fields.description !== undefined ? { description: fields.description } : {}),
        ...(fields.priority !== undefined ? { priority: fields.priority } : {}),
        ...(fields.due_date !== undefined ? { due_date: fields.due_date } : {}),
        ...(fields.completed !== undefined ? { completed: fields.completed } : {}),
        ...(categoryId !== undefined ? { category_id: categoryId } : {}),
        updated_at: sql`now()`,
      });
    });
  }

  /**
   * Deletes a task and returns it as it was. Of two calls racing to delete
   * the same task, exactly one gets it and the other gets CK_NOT_FOUND; and a
   * task completed or updated meanwhile is returned as it was when deleted.
   */
  delete(userId: string, input: TaskIdInput): Promise<Task> {
    const { task_id } = parseTaskInput(taskIdInput, input);
    return this.#run(userId, async (trx) => {
      // FOR UPDATE: a plain read would see the row in this statement's
      // snapshot even when a concurrent call has deleted (or changed) it but
      // not yet committed; both would then report the deletion, and the
      // result could be stale. Locking makes the read wait for that call and,
      // under READ COMMITTED, re-read the row's latest version: gone (not
      // found) or changed (returned as it is now). `of t` because the
      // nullable side of the category join cannot be locked.
      const row: TaskRow | undefined = await selectTasks(trx, userId)
        .where('t.id', '=', task_id)
        .forUpdate('t')
        .executeTakeFirst();
      if (row === undefined) throw new NotFoundError('task');
      const task = toTask(row);
      await trx
        .deleteFrom('tasks')
        .where('user_id', '=', userId)
        .where('id', '=', task_id)
        .execute();
      return task;
    });
  }

  /**
   * One transaction per call, its first statement `SET LOCAL ROLE`. The role
   * name is a checked identifier (TaskToolsConfig) and is quoted as one.
   */
  async #run<T>(userId: string, work: (trx: Trx) => Promise<T>): Promise<T> {
    assertCallingUser(userId);
    try {
      return await this.#db.transaction().execute(async (trx) => {
        await sql`set local role ${sql.id(this.role)}`.execute(trx);
        return work(trx);
      });
    } catch (error) {
      throw wrapTaskError(error, { hostSchema: this.hostSchema, role: this.role });
    }
  }
}

function assertCallingUser(userId: unknown): asserts userId is string {
  if (typeof userId !== 'string' || userId.length === 0 || userId.length > 256) {
    throw new ChatkeepError('CK_FORBIDDEN', 'The task tools need a calling user');
  }
}

function selectTasks(trx: Trx, userId: string) {
  return trx
    .selectFrom('tasks as t')
    .leftJoin('categories as c', (join) =>
      join.onRef('c.user_id', '=', 't.user_id').onRef('c.id', '=', 't.category_id'),
    )
    .where('t.user_id', '=', userId)
    .select([
      't.id',
      't.title',
      't.description',
      't.completed',
      't.priority',
      // As text: `pg` would turn a date into a local-midnight Date object.
      sql<string | null>`t.due_date::text`.as('due_date'),
      'c.name as category',
      't.created_at',
      't.updated_at',
    ]);
}

/** Sets `changes` on the user's task and returns it as it is now; another user's task is CK_NOT_FOUND, as a missing one. */
async function updateOwnTask(trx: Trx, userId: string, taskId: number, changes: UpdateObject<HostTaskTables, 'tasks'>): Promise<Task> {
  const updated = await trx
    .updateTable('tasks')
    .set(changes)
    .where('user_id', '=', userId)
    .where('id', '=', taskId)
    .returning('id')
    .executeTakeFirst();
  if (updated === undefined) throw new NotFoundError('task');
  return getTask(trx, userId, taskId);
}

async function getTask(trx: Trx, userId: string, taskId: number): Promise<Task> {
  const row: TaskRow | undefined = await selectTasks(trx, userId)
    .where('t.id', '=', taskId)
    .executeTakeFirst();
  if (row === undefined) throw new NotFoundError('task');
  return toTask(row);
}

/**
 * The id of the user's category `name`, created when missing. A name that
 * differs only in case or in Unicode normalization is the same category
 * (`Home` files under the user's `home`; an exact match wins if the user has
 * both): models capitalise as they please, and a new category per spelling
 * would split the user's tasks. A new name is stored in NFC.
 *
 * Calls that may create the same name in any spelling take a transaction
 * advisory lock on the user and the folded name first, so they run one after
 * the other: the unique key is the exact name (the host app's), which lets
 * `Errands` and `ERRANDS` both be inserted, and two racing calls would
 * otherwise each find nothing and create their own spelling. The second
 * call's look-up runs after the first committed (a new snapshot under READ
 * COMMITTED) and finds its row. The host app does not take the lock; a
 * category it inserts meanwhile is found, or conflicts on the exact name.
 */
async function categoryIdFor(trx: Trx, userId: string, name: string): Promise<number> {
  await sql`select pg_advisory_xact_lock(${CATEGORY_LOCK}, hashtext(${userId} || '/' || lower(${name.normalize('NFC')})))`.execute(
    trx,
  );
  const found = await findCategory(trx, userId, name);
  if (found !== undefined) return found;
  const inserted = await trx
    .insertInto('categories')
    .values({ user_id: userId, name: name.normalize('NFC') })
    .onConflict((conflict) => conflict.columns(['user_id', 'name']).doNothing())
    .returning('id')
    .executeTakeFirst();
  if (inserted !== undefined) return Number(inserted.id);
  const existing = await findCategory(trx, userId, name);
  if (existing === undefined) throw new NotFoundError('category');
  return existing;
}

/**
 * First key of the category advisory lock: its own namespace among two-key
 * advisory locks (a one-key lock, such as a migration lock, never conflicts
 * with a two-key one).
 */
const CATEGORY_LOCK = sql`hashtext('chatkeep.mcp.category')`;

/**
 * The user's category named `name`: the exact name first, else the oldest
 * that matches ignoring case, with `name` in NFC, the form the tools store
 * (`é` sent as `e` and a combining accent, NFD, looks the same in a list
 * and must find the same category). Normalized in JavaScript: SQL
 * `normalize()` fails on a database whose encoding is not UTF8.
 */
async function findCategory(trx: Trx, userId: string, name: string): Promise<number | undefined> {
  const row = await trx
    .selectFrom('categories')
    .select('id')
    .where('user_id', '=', userId)
    .where(sql`lower(name)`, '=', sql`lower(${name.normalize('NFC')})`)
    .orderBy(sql`name = ${name}`, 'desc')
    .orderBy('id')
    .limit(1)
    .executeTakeFirst();
  return row === undefined ? undefined : Number(row.id);
}
