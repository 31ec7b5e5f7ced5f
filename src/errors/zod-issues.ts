import type { z } from 'zod';

type RawIssue = z.core.$ZodRawIssue;
type Issue = z.core.$ZodIssue;

/**
 * Every front door validates with zod; this module turns zod's findings into
 * the one kind of message chatkeep sends: the field as a dotted path, then
 * what is wrong with it in plain words. zod's own defaults ("Invalid input",
 * "Too small: expected string to have >=1 characters") say what the schema
 * is, not what the caller should send.
 */

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'an object',
  record: 'a JSON object',
  array: 'an array',
  date: 'a Date',
  bigint: 'a bigint',
  null: 'null',
};

function typeName(expected: string): string {
  return TYPE_NAMES[expected] ?? expected;
}

function received(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'an array';
  if (typeof input === 'number' && Number.isNaN(input)) return 'NaN';
  // JSON's 1e400 parses to Infinity, which zod refuses as a number: "expected a number, received a number" said nothing.
  if (input === Infinity || input === -Infinity) return `${String(input)} (a number too large)`;
  // "received an object" would puzzle whoever passed a Map or a Date where a plain object goes.
  const prototype: unknown = typeof input === 'object' ? Object.getPrototypeOf(input) : null;
  if (prototype !== null && prototype !== Object.prototype) {
    const name: unknown = (prototype as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name === 'string' && name !== '') return `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}`;
  }
  return typeName(typeof input);
}

function sizeRule(issue: Extract<RawIssue, { code: 'too_small' | 'too_big' }>): string | undefined {
  const small = issue.code === 'too_small';
  const limit = Number(small ? (issue as { minimum: number | bigint }).minimum : (issue as { maximum: number | bigint }).maximum);
  const inclusive = issue.inclusive !== false;
  switch (issue.origin) {
    case 'string':
      if (small && limit === 1) return 'must not be empty';
      return `must be ${small ? 'at least' : 'at most'} ${limit} characters`;
    case 'array':
    case 'set':
      if (small && limit === 1) return 'must not be empty';
      return `must have ${small ? 'at least' : 'at most'} ${limit} items`;
    case 'number':
    case 'int':
    case 'bigint':
      if (inclusive) return `must be ${small ? 'at least' : 'at most'} ${limit}`;
      return `must be ${small ? 'greater' : 'less'} than ${limit}`;
    default:
      return undefined;
  }
}

/**
 * `required` when nothing was given, else `expected <expected>, received
 * <what it is>`: for a rule a schema words itself, such as the message
 * input's `a string or { content, metadata }`.
 */
export function wrongValue(expected: string, input: unknown): string {
  return input === undefined ? 'required' : `expected ${expected}, received ${received(input)}`;
}

/**
 * `schema.safeParse(input)` with chatkeep's wording for the issues of a
 * failure. Valid input is parsed without the error map: with one, zod 4
 * leaves its compiled fast path, and a valid parse cost ~10× (0.83 against
 * 0.13 µs for a UUID), on every call at every front door. Only a failed
 * parse is parsed again, for the words.
 *
 * @example
 * const result = wordedParse(schema, input); // result.error.issues in plain words
 */
export function wordedParse<T extends z.ZodType>(schema: T, input: unknown): z.ZodSafeParseResult<z.output<T>> {
  const valid = schema.safeParse(input);
  return valid.success ? valid : schema.safeParse(input, { error: issueText });
}

/**
 * Plain words for an issue whose schema did not word it, or undefined for
 * zod's default. Pass it as the per-parse error map, which zod consults only
 * where the schema gave no message of its own:
 *
 * @example
 * schema.safeParse(input, { error: issueText })
 */
export function issueText(issue: RawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'required';
      if (issue.expected === 'int' && typeof issue.input === 'number') return `expected a whole number, received ${issue.input}`;
      return `expected ${typeName(issue.expected)}, received ${received(issue.input)}`;
    case 'invalid_union': {
      if (issue.input === undefined) return 'required';
      // Every alternative refused the value's type: name the types it may have.
      const expected: string[] = [];
      for (const branch of issue.errors) {
        const only = branch.length === 1 ? branch[0] : undefined;
        if (only?.code !== 'invalid_type' || only.path.length > 0) return 'matches none of the forms this field may take';
        expected.push(typeName(only.expected));
      }
      return `expected ${expected.join(' or ')}, received ${received(issue.input)}`;
    }
    case 'too_small':
    case 'too_big':
      return sizeRule(issue);
    case 'invalid_value':
      return issue.values.length === 1
        ? `must be ${JSON.stringify(issue.values[0])}`
        : `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_format':
      if (issue.format === 'uuid' || issue.format === 'guid') return 'expected a UUID';
      if (issue.format === 'datetime') return 'expected an ISO 8601 date and time with a time zone (e.g. 2026-01-31T12:00:00Z)';
      return `expected ${issue.format} format`;
    case 'unrecognized_keys':
      return 'unknown field';
    case 'invalid_key':
      return 'keys must be strings';
    default:
      return undefined;
  }
}

/** The first thing wrong with an input: its dotted path below the input's root, and the message. */
export interface FirstIssue {
  /** Path segments; empty when the input as a whole is at fault. */
  readonly path: readonly string[];
  readonly message: string;
  /** The issue was a key the schema does not have (the path ends with it). */
  readonly unknownKey: boolean;
  /** The issue was an unknown key with an empty name: the path names the object holding it. */
  readonly namelessKey?: true;
}

/**
 * The issue to report out of zod's list. An unknown key is named itself, so
 * a typo ("colour") points at the culprit; a missing field next to an unknown
 * one says so, because that pair is nearly always one misspelt name.
 */
export function firstIssue(issues: readonly Issue[]): FirstIssue | undefined {
  const first = issues[0];
  if (first === undefined) return undefined;
  const path = first.path.map(String);
  if (first.code === 'unrecognized_keys') {
    const key = first.keys[0] ?? '';
    // A key "" cannot be named by a path: the object holding it is at fault.
    if (key === '') return { path, message: 'has a field with an empty name ("")', unknownKey: false, namelessKey: true };
    return { path: [...path, key], message: 'unknown field', unknownKey: true };
  }
  if (first.message === 'required') {
    const parent = path.slice(0, -1).join('\u0000');
    const stray = issues.find(
      (issue): issue is Extract<Issue, { code: 'unrecognized_keys' }> =>
        issue.code === 'unrecognized_keys' && issue.path.map(String).join('\u0000') === parent,
    );
    const key = stray?.keys[0];
    if (key !== undefined) return { path, message: `required (the unknown field ${JSON.stringify(key)} was given: misspelt?)`, unknownKey: false };
  }
  return { path, message: first.message, unknownKey: false };
}
