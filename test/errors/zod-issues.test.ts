import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { firstIssue, issueText, wordedParse } from '../../src/errors/index.js';

/**
 * R-SEC-3: bad input gets a clear error naming the field. Every front door
 * words zod's findings through errors/zod-issues.ts; these are the words.
 */

/** The message chatkeep reports for `input`, as "<field>: <message>". */
function report(schema: z.ZodType, input: unknown): string {
  const result = schema.safeParse(input, { error: issueText });
  if (result.success) throw new Error(`expected ${JSON.stringify(input)} to be refused`);
  const issue = firstIssue(result.error.issues);
  return `${issue?.path.join('.') || 'input'}: ${issue?.message}`;
}

const content = z.string().min(1).max(10);
const body = z
  .object({
    message: z.union([content, z.object({ content }).strict()]),
    limit: z.number().int().min(1).max(100).optional(),
    above: z.number().gt(0).optional(),
    tags: z.array(z.string()).min(1).max(2).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    kind: z.enum(['a', 'b']).optional(),
    only: z.literal('x').optional(),
    id: z.uuid().optional(),
    at: z.iso.datetime({ offset: true }).optional(),
    named: z.string().min(1, 'give it a name').optional(),
  })
  .strict();

describe('issueText: zod defaults in plain words', () => {
  it.each([
    [{}, 'message: required'],
    [{ message: null }, 'message: expected a string or an object, received null'],
    [{ message: 5 }, 'message: expected a string or an object, received a number'],
    [{ message: '' }, 'message: must not be empty'],
    [{ message: 'x'.repeat(11) }, 'message: must be at most 10 characters'],
    [{ message: { content: '' } }, 'message.content: must not be empty'],
    [{ message: 'x', limit: 0 }, 'limit: must be at least 1'],
    [{ message: 'x', limit: 101 }, 'limit: must be at most 100'],
    [{ message: 'x', limit: 1.5 }, 'limit: expected a whole number, received 1.5'],
    [{ message: 'x', limit: '5' }, 'limit: expected a number, received a string'],
    // JSON's 1e400 parses to Infinity; "expected a number, received a number" said nothing.
    [{ message: 'x', above: JSON.parse('1e400') as number }, 'above: expected a number, received Infinity (a number too large)'],
    [{ message: 'x', limit: -Infinity }, 'limit: expected a number, received -Infinity (a number too large)'],
    [{ message: 'x', above: 0 }, 'above: must be greater than 0'],
    [{ message: 'x', tags: [] }, 'tags: must not be empty'],
    [{ message: 'x', tags: ['a', 'b', 'c'] }, 'tags: must have at most 2 items'],
    [{ message: 'x', tags: 'a' }, 'tags: expected an array, received a string'],
    [{ message: 'x', metadata: ['a'] }, 'metadata: expected a JSON object, received an array'],
    [{ message: 'x', metadata: new Map([['a', 1]]) }, 'metadata: expected a JSON object, received a Map'],
    [{ message: 'x', metadata: new Date(0) }, 'metadata: expected a JSON object, received a Date'],
    [{ message: 'x', metadata: { [Symbol('s')]: 1 } }, 'metadata.Symbol(s): keys must be strings'],
    [{ message: 'x', metadata: new (class Options {})() }, 'metadata: expected a JSON object, received an Options'],
    [{ message: 'x', metadata: Object.create(null) as object, limit: 1.5 }, 'limit: expected a whole number, received 1.5'],
    [{ message: 'x', kind: 'c' }, 'kind: expected one of "a", "b"'],
    [{ message: 'x', only: 'y' }, 'only: must be "x"'],
    [{ message: 'x', id: 'nope' }, 'id: expected a UUID'],
    [{ message: 'x', at: 'yesterday' }, 'at: expected an ISO 8601 date and time with a time zone (e.g. 2026-01-31T12:00:00Z)'],
  ])('%j → %s', (input, expected) => {
    expect(report(body, input)).toBe(expected);
  });

  it("keeps a message the schema words itself", () => {
    expect(report(body, { message: 'x', named: '' })).toBe('named: give it a name');
  });

  it('reports the closest alternative of a union, and never zod\'s bare "Invalid input" when none is closest', () => {
    expect(report(z.object({ v: z.union([z.string().min(3), z.number().int()]) }), { v: 'ab' })).toBe('v: must be at least 3 characters');
    const twoRules = z.union([z.string().min(3), z.string().regex(/^x/)]);
    expect(report(z.object({ v: twoRules }), { v: 'ab' })).toBe('v: matches none of the forms this field may take');
  });
});

describe('firstIssue: which finding to report', () => {
  it('names an unknown key itself, below its parent', () => {
    expect(report(body, { message: { content: 'x', colour: 'red' } })).toBe('message.colour: unknown field');
    const issue = firstIssue(body.safeParse({ message: 'x', colour: 'red' }, { error: issueText }).error?.issues ?? []);
    expect(issue).toEqual({ path: ['colour'], message: 'unknown field', unknownKey: true });
  });

  it('blames the object for a key with an empty name, which no path can name', () => {
    expect(report(body, { message: 'x', '': 1 })).toBe('input: has a field with an empty name ("")');
    expect(report(body, { message: { content: 'x', '': 1 } })).toBe('message: has a field with an empty name ("")');
  });

  it('says when a missing field sits next to an unknown one (a misspelt name)', () => {
    expect(report(body, { mesage: 'hi' })).toBe('message: required (the unknown field "mesage" was given: misspelt?)');
  });

  it('does not pair a missing field with an unknown key of another object', () => {
    const nested = z.object({ a: z.object({ b: z.string() }).strict(), c: z.string().optional() }).strict();
    expect(report(nested, { a: {}, d: 1 })).toBe('a.b: required');
  });

  it('is undefined for no issues', () => {
    expect(firstIssue([])).toBeUndefined();
  });
});

describe('wordedParse: valid input as zod parses it, failures in plain words', () => {
  const schema = z.object({ limit: z.number().int().max(100), title: z.string().transform((t) => t.trim()) }).strict();

  it('returns what zod returns for valid input, transforms applied', () => {
    expect(wordedParse(schema, { limit: 5, title: '  hi ' })).toEqual({ success: true, data: { limit: 5, title: 'hi' } });
  });

  it('words a failure as issueText does, not in zod’s default words', () => {
    const result = wordedParse(schema, { limit: 'five', title: 'x' });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe('expected a number, received a string');
    expect(result.error?.issues[0]?.message).toBe(schema.safeParse({ limit: 'five', title: 'x' }, { error: issueText }).error?.issues[0]?.message);
    expect(schema.safeParse({ limit: 'five', title: 'x' }).error?.issues[0]?.message).not.toBe(result.error?.issues[0]?.message);
  });
});
