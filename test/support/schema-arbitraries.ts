import fc from 'fast-check';

/**
 * fast-check arbitraries for the JSON Schema subset chatkeep's front doors
 * publish (the OpenAPI document's request schemas and the MCP tools' input
 * schemas): mostly values *near* the schema, so that requests get past the
 * first check and reach the store and the database, and sometimes values of
 * the wrong shape altogether. The near values lean on the places bugs hide:
 * the length limits and one past them, NUL and lone surrogates (which
 * PostgreSQL's text and jsonb refuse), SQL and JSON in strings, numbers just
 * outside a range, fractions where integers go, unknown keys.
 */
export interface JsonSchema {
  readonly type?: string | readonly string[];
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean | JsonSchema;
  readonly items?: JsonSchema;
  readonly anyOf?: readonly JsonSchema[];
  readonly oneOf?: readonly JsonSchema[];
  readonly enum?: readonly unknown[];
  readonly const?: unknown;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly nullable?: boolean;
  readonly format?: string;
}

/** Strings that have broken something somewhere: the database's refusals, escapes, lookalikes. */
export const TRICKY_STRINGS: readonly string[] = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '\u202egnp.exe',
  '😀',
  'ﬀ\u0301',
  '\\',
  '\\u0000',
  'null',
  'undefined',
  '{"a":1}',
  "'; delete from chatkeep.messages; --",
  '$1',
  '%00',
  '%',
  '__proto__',
  'constructor',
  '00000000-0000-0000-0000-000000000000',
  '0',
  '-1',
  '1e309',
  '\n',
  '\t\r',
];

/**
 * Text PostgreSQL refuses or would change: NUL (text and jsonb refuse it) and
 * unpaired surrogates (no UTF-8 form), alone and inside otherwise fine text.
 */
export const HOSTILE_STRINGS: readonly string[] = [
  '\u0000',
  'a\u0000b',
  'ok\u0000',
  '\ud800',
  'x\udfffy',
  'ok\ud83d',
];

/** Any JSON value of small depth, the shape of input that ignores the schema altogether. */
export const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom<unknown>(null, true, 0, -1, 1.5, 2 ** 53, '', [], {}),
);

function stringNear(schema: JsonSchema): fc.Arbitrary<string> {
  const min = schema.minLength ?? 0;
  const max = schema.maxLength;
  const ordinary = fc.string({ minLength: Math.max(min, 1), maxLength: Math.min(max ?? 40, 40) });
  const edges: string[] = [];
  if (min > 0) edges.push('x'.repeat(min), 'x'.repeat(min - 1));
  // Long strings are few: each one costs a round trip of up to 100 kB.
  if (max !== undefined) edges.push('y'.repeat(max), 'y'.repeat(max + 1));
  return fc.oneof(
    { weight: 2, arbitrary: ordinary },
    {
      weight: 2,
      arbitrary: fc.string({
        unit: 'binary',
        minLength: Math.max(min, 1),
        maxLength: Math.min(max ?? 20, 20),
      }),
    },
    { weight: 5, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
    { weight: 2, arbitrary: fc.constantFrom(...TRICKY_STRINGS) },
    { weight: 1, arbitrary: edges.length > 0 ? fc.constantFrom(...edges) : ordinary },
  );
}

function numberNear(schema: JsonSchema, integer: boolean): fc.Arbitrary<number> {
  const min = schema.minimum ?? -1000;
  const max = schema.maximum ?? 1_000_000;
  const inRange = integer
    ? fc.integer({ min: Math.ceil(min), max: Math.floor(max) })
    : fc.double({ min, max, noNaN: true });
  return fc.oneof(
    { weight: 6, arbitrary: inRange },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        min - 1,
        max + 1,
        min,
        max,
        0,
        -1,
        0.5,
        1.5,
        2 ** 31,
        2 ** 53 + 1,
        1e308,
        -1e308,
        0.001,
      ),
    },
  );
}

/** A map of arbitrary keys to JSON values, as a free-form `metadata`/`context` object gets. */
const freeObject: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
  // One entry PostgreSQL's jsonb refuses, as a key, a value, or deeper down.
  fc
    .tuple(fc.constantFrom(...HOSTILE_STRINGS), fc.constantFrom('key', 'value', 'nested'))
    .map(([hostile, where]) =>
      where === 'key'
        ? { [hostile]: 1 }
        : where === 'value'
          ? { note: hostile }
          : { list: [1, { deep: hostile }] },
    ),
  fc.dictionary(
    fc.constantFrom(...TRICKY_STRINGS),
    fc.oneof(fc.constantFrom(...TRICKY_STRINGS), fc.jsonValue({ maxDepth: 1 })),
    { maxKeys: 3 },
  ),
);

/** Strings every text field may hold: ordinary, full Unicode (pairs only), and a few that look alarming but are fine. */
function validString(schema: JsonSchema): fc.Arbitrary<string> {
  const min = Math.max(schema.minLength ?? 0, 1);
  const max = Math.min(schema.maxLength ?? 40, 40);
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.string({ minLength: min, maxLength: max }).filter((s) => s.trim().length > 0),
    },
    {
      weight: 1,
      arbitrary: fc
        .string({ unit: 'grapheme', minLength: min, maxLength: max })
        .filter((s) => s.trim().length > 0 && !s.includes('\u0000')),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(
          '😀 ok',
          "it's",
          '{"a":1}',
          "'; delete from chatkeep.messages; --",
          '\u202egnp',
          '$1',
          'ﬀ\u0301',
        )
        .filter((s) => s.length >= min && s.length <= max),
    },
  );
}

/**
 * A value `schema` describes, within its limits. (What the server then makes
 * of it — a conversation id that names nothing, say — is the test's to judge.)
 */
export function valid(schema: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum !== undefined) return fc.constantFrom(...schema.enum);
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives !== undefined)
    return fc.oneof(...alternatives.map((alternative) => valid(alternative, depth)));
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type) {
    case 'string':
      return validString(schema);
    case 'integer':
      return fc.integer({
        min: Math.ceil(schema.minimum ?? -1000),
        max: Math.floor(schema.maximum ?? 1_000_000),
      });
    case 'number':
      return fc.oneof(
        fc.integer({
          min: Math.ceil(schema.minimum ?? 0),
          max: Math.floor(schema.maximum ?? 1000),
        }),
        fc
          .double({ min: schema.minimum ?? 0, max: schema.maximum ?? 1000, noNaN: true })
          .map((n) => Math.round(n * 100) / 100),
      );
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(valid(schema.items ?? {}, depth + 1), {
        minLength: schema.minItems ?? 0,
        maxLength: Math.min(schema.maxItems ?? 3, 3),
      });
    case 'object': {
      const properties = Object.entries(schema.properties ?? {});
      if (properties.length === 0 || depth > 3) return validFreeObject;
      const required = schema.required ?? [];
      return fc.record(
        Object.fromEntries(
          properties.map(([name, property]) => [name, valid(property, depth + 1)]),
        ),
        {
          requiredKeys: properties.map(([name]) => name).filter((name) => required.includes(name)),
        },
      );
    }
    default:
      return fc.jsonValue({ maxDepth: 1 }).filter((value) => storableJson(value));
  }
}

/** A free-form object (metadata, context) whose keys and strings PostgreSQL's jsonb can hold. */
const validFreeObject = fc
  .dictionary(fc.string({ minLength: 1, maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), {
    maxKeys: 4,
  })
  .filter(storableJson);

function storableJson(value: unknown): boolean {
  return !/\\u0000|\\ud[89a-f]/i.test(JSON.stringify(value) ?? '');
}

const ABSENT = Symbol('absent');

/**
 * An object `schema` describes with one thing wrong: a field at an edge or of
 * the wrong type, a required field gone, or a key it does not know. One fault
 * at a time, so that the rest of the request passes and the fault is what
 * reaches the store and the database.
 */
function objectWithOneFault(
  schema: JsonSchema,
  depth: number,
): fc.Arbitrary<Record<string, unknown>> {
  const properties = Object.entries(schema.properties ?? {});
  if (properties.length === 0) return freeObject;
  const base = valid(schema, depth) as fc.Arbitrary<Record<string, unknown>>;
  const fault = fc.oneof(
    ...properties.map(([name, property]) =>
      near(property, depth + 1).map((value) => ({ name, value })),
    ),
    fc
      .constantFrom(...properties.map(([name]) => name))
      .map((name) => ({ name, value: ABSENT as unknown })),
    fc
      .tuple(fc.constantFrom('colour', 'userId', 'user_id', 'id', '__proto__', 'seq'), anyJson)
      .map(([name, value]) => ({ name, value })),
  );
  return fc.tuple(base, fault).map(([record, { name, value }]) => {
    const result: Record<string, unknown> = { ...record };
    if (value === ABSENT) delete result[name];
    // defineProperty, so that a "__proto__" key is an own key that JSON.stringify sends.
    else
      Object.defineProperty(result, name, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    return result;
  });
}

/**
 * A value near `schema`: mostly one with a single fault (an edge of a limit, a
 * string PostgreSQL refuses, the wrong type), sometimes one it describes, and
 * sometimes something else altogether.
 */
export function near(schema: JsonSchema, depth = 0): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 2, arbitrary: valid(schema, depth) },
    { weight: 7, arbitrary: faulty(schema, depth) },
    { weight: 1, arbitrary: anyJson },
  );
}

function faulty(schema: JsonSchema, depth: number): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return anyJson;
  if (schema.enum !== undefined) return fc.constantFrom('', 'ACTIVE', 'other', ' active');
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives !== undefined)
    return fc.oneof(...alternatives.map((alternative) => faulty(alternative, depth)));
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type) {
    case 'string':
      return stringNear(schema);
    case 'integer':
      return numberNear(schema, true);
    case 'number':
      return numberNear(schema, false);
    case 'array':
      return fc.array(depth > 3 ? anyJson : near(schema.items ?? {}, depth + 1), {
        maxLength: Math.min(schema.maxItems ?? 4, 4) + 1,
      });
    case 'object':
      return depth > 3 ? freeObject : objectWithOneFault(schema, depth);
    default:
      return fc.oneof(freeObject, anyJson);
  }
}
