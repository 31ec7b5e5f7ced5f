import { z } from 'zod';
import { NOT_STORABLE, storable } from '../db/storable-text.js';
import { firstIssue, ValidationError, wordedParse } from '../errors/index.js';

/**
 * The task tools' arguments: one zod schema per tool, used twice, by the MCP
 * server (the schema the model sees and the SDK checks) and by TaskStore
 * (which checks again, so a direct library call gets the same rule). The
 * database repeats each rule as a CHECK (examples/todo/migrations).
 *
 * Objects are strict: an argument the tool does not take, `user_id` above
 * all, is refused by name rather than silently dropped. The tools act for
 * the calling user, and nothing in the arguments can change who that is.
 *
 * Field names are snake_case, the convention of tool arguments, and the same
 * names appear in results and in errors.
 */

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

function isCalendarDate(value: string): boolean {
  const match = ISO_DATE.exec(value);
  if (match === null) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  // Not Date.UTC(year, …): it reads years 0–99 as 1900–1999, so 0044-03-15
  // would be checked as 1944-03-15. PostgreSQL's dates start at year 1 (there
  // is no year 0: 0000-06-01 is SQLSTATE 22008).
  if (year < 1) return false;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return (
    date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day
  );
}

/**
 * Checks stop at the first that fails (`abort`): zod runs them all by
 * default, and the SDK would show a model `1e300` as "expected a task id" twice.
 */
const FIRST = { abort: true } as const;

/** The store's rule for text PostgreSQL stores as given (db/storable-text.ts): a NUL is refused here, naming the field, not by the driver. */
const STORABLE = [storable, { message: NOT_STORABLE, ...FIRST }] as const;

/**
 * A name must show something. `trim()` removes white space, but not
 * zero-width or other format characters (U+200B, U+2060) nor control
 * characters: a title of those alone is a task nobody can see in a list.
 * Nor the fillers that are letters to Unicode but draw nothing (Hangul
 * fillers U+3164, U+FFA0: Default_Ignorable_Code_Point) or the blank
 * Braille pattern U+2800, the usual ways to post an "empty" name.
 */
const VISIBLE = [
  (value: string) => /[^\s\p{Cc}\p{Cf}\p{Z}\p{Default_Ignorable_Code_Point}\u2800]/u.test(value),
  { message: 'must contain a visible character', ...FIRST },
] as const;

const TASK_ID = 'expected a task id (a positive whole number)';
const taskId = z
  .number({ error: TASK_ID })
  .int({ message: TASK_ID, ...FIRST })
  .min(1, { message: TASK_ID, ...FIRST })
  .max(Number.MAX_SAFE_INTEGER, TASK_ID)
  .describe('The id of one of your tasks, as list_tasks or add_task returned it');

const title = z
  .string({ error: 'expected text' })
  .trim()
  .min(1, { message: 'must not be empty', ...FIRST })
  .max(200, { message: 'at most 200 characters', ...FIRST })
  .refine(...STORABLE)
  .refine(...VISIBLE)
  .describe('What to do, 1 to 200 characters');

const description = z
  .string({ error: 'expected text' })
  .max(1000, { message: 'at most 1000 characters', ...FIRST })
  .refine(...STORABLE)
  .describe('Details, at most 1000 characters');

const priority = z
  .enum(['low', 'medium', 'high'], { error: 'expected low, medium or high' })
  .describe('low, medium or high');

const dueDate = z
  .string({ error: 'expected a date as YYYY-MM-DD' })
  .regex(ISO_DATE, { message: 'expected a date as YYYY-MM-DD', ...FIRST })
  .refine(isCalendarDate, 'not a calendar date')
  .describe('Due date, YYYY-MM-DD');

const category = z
  .string({ error: 'expected text' })
  .trim()
  .min(1, { message: 'must not be empty', ...FIRST })
  .max(50, { message: 'at most 50 characters', ...FIRST })
  .refine(...STORABLE)
  .refine(...VISIBLE)
  .describe('Category name, 1 to 50 characters, matched ignoring case; created for you when new');

const LIMIT = 'expected a whole number from 1 to 200';

export const listTasksInput = z.strictObject({
  status: z
    .enum(['all', 'pending', 'completed'], { error: 'expected all, pending or completed' })
    .default('all')
    .describe('Which tasks: all (default), pending or completed'),
  category: category.optional().describe('Only tasks in this category'),
  limit: z
    .number({ error: LIMIT })
    .int({ message: LIMIT, ...FIRST })
    .min(1, { message: LIMIT, ...FIRST })
    .max(200, LIMIT)
    .default(50)
    .describe('At most this many tasks, oldest first (default 50)'),
  // A cursor, not an offset: a task added or deleted between two pages
  // neither repeats a task nor skips one, since ids only grow.
  after_id: taskId
    .optional()
    .describe('Only tasks after this id: the next_after_id of the previous page'),
});

export const addTaskInput = z.strictObject({
  title,
  description: description.optional(),
  priority: priority.optional(),
  due_date: dueDate.optional(),
  category: category.optional(),
});

export const taskIdInput = z.strictObject({ task_id: taskId });

const UPDATABLE = [
  'title',
  'description',
  'priority',
  'due_date',
  'category',
  'completed',
] as const;

export const updateTaskInput = z
  .strictObject({
    task_id: taskId,
    title: title.optional(),
    description: description.nullable().optional().describe('New details; null clears them'),
    priority: priority.optional(),
    due_date: dueDate.nullable().optional().describe('New due date, YYYY-MM-DD; null clears it'),
    category: category
      .nullable()
      .optional()
      .describe('New category name; null removes the category'),
    completed: z
      .boolean({ error: 'expected true or false' })
      .optional()
      .describe('Mark done (true) or not done (false)'),
  })
  .refine((input) => UPDATABLE.some((field) => input[field] !== undefined), {
    message: `expected at least one of ${UPDATABLE.join(', ')}`,
  });

export type ListTasksInput = z.input<typeof listTasksInput>;
export type AddTaskInput = z.input<typeof addTaskInput>;
export type TaskIdInput = z.input<typeof taskIdInput>;
export type UpdateTaskInput = z.input<typeof updateTaskInput>;

/** Longest argument name an error repeats: a name is the caller's text, and may be as long as the request. */
const MAX_SHOWN_NAME = 64;

/**
 * An argument (or tool) name as an error shows it: as it is when it is a plain name
 * (`user_id`), else quoted as JSON and cut to {@link MAX_SHOWN_NAME}
 * characters. A name is the caller's text; unquoted, a line break in it
 * would add lines to the one-line message, and to the CLI's log, which
 * writes every failed call's message on a line of its own.
 */
export function shownName(name: string): string {
  if (/^[A-Za-z0-9_]{1,64}$/.test(name)) return name;
  const cut = [...name].slice(0, MAX_SHOWN_NAME).join('');
  return JSON.stringify(cut).slice(0, -1) + (cut.length < name.length ? '…"' : '"');
}

/**
 * Parses `input` with `schema`; throws a ValidationError naming the first
 * field at fault (`title: must not be empty`, `user_id: not an argument …`).
 */
export function parseTaskInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = wordedParse(schema, input ?? {});
  if (result.success) return result.data;
  const issue = firstIssue(result.error.issues);
  if (issue === undefined) throw new ValidationError('input', 'invalid');
  const field = issue.path.map(shownName).join('.');
  if (issue.unknownKey) {
    throw new ValidationError(
      field === '' ? 'input' : field,
      'not an argument of this tool (the tools always act for the calling user)',
    );
  }
  throw new ValidationError(field === '' ? 'input' : field, issue.message);
}
