import { z } from 'zod';
import { NOT_STORABLE, storable } from '../db/storable-text.js';
import { firstIssue, issueText, ValidationError, wordedParse } from '../errors/index.js';
import { USER_ID_PATTERN, USER_ID_RULE, UUID_PATTERN, type SchemaSettings } from '../schema/index.js';

/** What PostgreSQL text stores as given; the rule lives in db/ so the MCP task tools share it. */
export { NOT_STORABLE, storable };

/**
 * Input rules shared by the library, HTTP and MCP front doors. Each rule also
 * exists as a database constraint (src/schema); these run first so the caller
 * gets an error naming the field before anything reaches the database.
 */

/** Parses `input` or throws a ValidationError naming the first bad field. */
export function parse<T extends z.ZodType>(schema: T, input: unknown, root?: string): z.output<T> {
  const result = wordedParse(schema, input);
  if (result.success) return result.data;
  const issue = firstIssue(result.error.issues);
  const path = [root, ...(issue?.path ?? [])].filter((p) => p !== undefined && p !== '').join('.');
  throw new ValidationError(path || 'input', issue?.message ?? 'invalid');
}


/**
 * A uuid, lower-cased: `ABC…` and `abc…` are one id, and what the store
 * answers echoes the id. Taken as given, an upper-case id (Swift's
 * `UUID().uuidString`) came back upper-case from `turns.append` and
 * `messages.list` but lower-case from `conversations.get` and `pageJson`, so
 * a client comparing ids saw two conversations (test/store/uuid-case.test.ts).
 */
export const uuidSchema = z
  .string()
  .regex(UUID_PATTERN, 'expected a UUID')
  .transform((v) => v.toLowerCase());


/**
 * How deep a stored JSON value may nest. Without a stated limit the limit was
 * the stack of whichever process serialised the value (JSON.stringify
 * recurses: about 3,000 levels in a worker thread, more on the main thread),
 * so a value one process stored could be one another could not send back.
 */
const MAX_JSON_DEPTH = 1000;
const TOO_DEEP = `must be nested at most ${MAX_JSON_DEPTH} levels deep`;

/** The deepest nesting of objects and arrays in JSON `text`, by one scan (no recursion). */
function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/**
 * Why `value` cannot be stored as a JSON `kind` of at most 64 KiB, or
 * undefined. It is serialised exactly as the store will send it, so values
 * with `toJSON` (a Date) are judged by what they turn into; every key and
 * string is checked for what PostgreSQL's jsonb refuses.
 */
export function jsonProblem(value: unknown, kind: 'object' | 'array'): string | undefined {
  return jsonProblemAt(value, kind)?.message;
}

/** {@link jsonProblem}, with the path of the part at fault (`['a', 0]`) when it is one nested value. */
export function jsonProblemAt(value: unknown, kind: 'object' | 'array'): { readonly message: string; readonly path: readonly PropertyKey[] } | undefined {
  let bad = false;
  let notData: { message: string; path: PropertyKey[] } | undefined;
  // The path of each object visited, so a value that is not data can be named where it sits.
  const paths = new WeakMap<object, PropertyKey[]>();
  let text: string | undefined;
  try {
    text = JSON.stringify(value, function (this: unknown, key, v: unknown) {
      if (!storable(key) || (typeof v === 'string' && !storable(v))) bad = true;
      const holder = paths.get(this as object);
      const path = holder === undefined ? [] : [...holder, Array.isArray(this) ? Number(key) : key];
      if (typeof v === 'object' && v !== null) paths.set(v, path);
      notData ??= notJsonData(v, path);
      return v;
    });
  } catch (error) {
    // JSON.stringify recurses: a value nested thousands of levels deep overflows the stack (a RangeError).
    return { message: error instanceof RangeError && /call stack/i.test(error.message) ? TOO_DEEP : 'expected a JSON-serialisable value', path: [] };
  }
  if (notData !== undefined) return notData;
  if (bad) return { message: `keys and strings ${NOT_STORABLE}`, path: [] };
  if (text === undefined || !text.startsWith(kind === 'object' ? '{' : '[')) return { message: `expected a JSON ${kind}`, path: [] };
  if (text.length > 65_536) return { message: 'must be at most 64 KiB as JSON', path: [] };
  if (nestingDepth(text) > MAX_JSON_DEPTH) return { message: TOO_DEEP, path: [] };
  return undefined;
}

/**
 * Why `v` (after its `toJSON`) would not survive JSON as itself, or
 * undefined: JSON.stringify turns a Map, Set or RegExp into `{}`, NaN and
 * Infinity into `null`, and drops functions and symbols, all without an
 * error, so what was stored silently differed from what was given.
 * `undefined` stays allowed: an absent optional field, dropped as JSON does.
 */
function notJsonData(v: unknown, path: PropertyKey[]): { message: string; path: PropertyKey[] } | undefined {
  const received =
    typeof v === 'function'
      ? 'a function'
      : typeof v === 'symbol'
        ? 'a symbol'
        : typeof v === 'number' && !Number.isFinite(v)
          ? String(v)
          : typeof v === 'object' && v !== null && !Array.isArray(v) && ![Object.prototype, null].includes(Object.getPrototypeOf(v) as object | null)
            ? `a ${(v as object).constructor?.name || 'non-plain object'}`
            : undefined;
  return received === undefined ? undefined : { message: `expected JSON data (an object, array, string, finite number, boolean or null), received ${received}`, path };
}

/** A zod check that `value` is storable as a JSON `kind` (see jsonProblem). */
export function jsonCheck(kind: 'object' | 'array') {
  return (value: unknown, ctx: z.RefinementCtx): void => {
    const problem = jsonProblemAt(value, kind);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem.message, path: [...problem.path] });
  };
}

const jsonObjectShape = z.record(z.string(), z.unknown());

/**
 * A JSON object of at most 64 KiB when serialised, that jsonb accepts. The
 * object is passed on as given: z.record builds a copy by assignment, and
 * assigning an own `"__proto__"` key (JSON.parse makes one) sets the copy's
 * prototype instead, so the key vanished from what was stored, unchecked and
 * without an error.
 */
export const metadataSchema = z.custom<Record<string, unknown>>().superRefine((value, ctx) => {
  const shape = jsonObjectShape.safeParse(value, { error: issueText });
  if (!shape.success) {
    for (const issue of shape.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
    return;
  }
  jsonCheck('object')(value, ctx);
});

/** Characters as PostgreSQL counts them (code points), not UTF-16 units. */
export function charLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Not empty: some character that is not white space (Unicode White_Space, which JavaScript's \\s lacks U+0085 of, and PostgreSQL's \\S on PGlite counts). */
const NOT_BLANK = /[^\s\u0085]/;

export interface Rules {
  readonly userId: z.ZodType<string>;
  readonly content: z.ZodType<string>;
  readonly role: z.ZodType<string>;
}

/** The rules whose limits come from the installed schema settings. */
export function rulesFor(settings: SchemaSettings): Rules {
  const max = settings.maxContentLength;
  const type = settings.users?.type ?? 'text';
  // uuid and integer ids are returned in the one spelling the database stores (`7`, not `007`; lower-case
  // hex): every spelling is the same row to SQL, but not to code that uses the id as a string — a flag's
  // rollout bucket hashes it, and the flag cache keys overrides by it (test/store/audit-flag-user-ids.test.ts).
  const userId =
    type === 'uuid'
      ? uuidSchema.transform((v) => v.toLowerCase())
      : type === 'integer'
        ? z
            .string()
            .regex(/^-?\d{1,10}$/, 'expected an integer user id')
            .refine((v) => Math.abs(Number(v)) <= 2_147_483_647, 'out of range for integer')
            .transform((v) => BigInt(v).toString())
        : type === 'bigint'
          ? z
              .string()
              .regex(/^-?\d{1,19}$/, 'expected an integer user id')
              .refine((v) => BigInt(v) >= -(2n ** 63n) && BigInt(v) < 2n ** 63n, 'out of range for bigint')
              .transform((v) => BigInt(v).toString())
          : z.string().regex(new RegExp(USER_ID_PATTERN), USER_ID_RULE);
  const content = z
    .string({ error: 'expected a string' })
    .refine((t) => NOT_BLANK.test(t), 'must not be empty')
    .refine(storable, NOT_STORABLE)
    .refine((t) => t.length <= max || charLength(t) <= max, `must be at most ${max} characters`);
  const role = z.enum(settings.roles as [string, ...string[]], { error: `expected one of ${settings.roles.join(', ')}` });
  return { userId, content, role };
}

export const titleSchema = z
  .string()
  .refine((t) => charLength(t) >= 1 && charLength(t) <= 200, 'must be 1–200 characters')
  .refine(storable, NOT_STORABLE);

export const summarySchema = z
  .string()
  .refine((t) => charLength(t) <= 100, 'must be at most 100 characters')
  .refine(storable, NOT_STORABLE);

export const limitSchema = (max: number) => z.number().int('expected an integer').min(1).max(max);

export const idempotencyKeySchema = z
  .string()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters')
  .refine(storable, NOT_STORABLE);
