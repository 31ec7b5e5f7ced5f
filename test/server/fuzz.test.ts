import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { failureReport, FUZZ_OPTIONS, FUZZ_RUNS, FUZZ_TIMEOUT_MS } from '../support/fuzz.js';
import { near, TRICKY_STRINGS, valid, type JsonSchema } from '../support/schema-arbitraries.js';
import { ADMIN_TOKEN, jwtFor, useServer } from '../support/server-fixture.js';
import { seedUser, userSnapshot, type SeededUser } from '../support/seeded-user.js';

/**
 * SPEC R-SEC-1 and R-SEC-3 under generated input (issue 3: "every validation
 * error", "isolation over HTTP with forged ids"). For every operation in the
 * OpenAPI document the server publishes, fast-check builds requests near the
 * documented schema — edges of every limit, NUL and lone surrogates, unknown
 * keys, wrong types, another user's ids, garbage ids — and sends them to a
 * real listening server. Whatever it sends:
 *
 * - the answer is never a 5xx, and its status is one the document lists for
 *   that operation;
 * - every error is the one JSON shape, with a CK_ code and the request id; a
 *   400 names its field first and says something plainer than zod's default;
 * - an error writes nothing: the acting user's conversations, messages,
 *   streamed turn, onboarding sessions, API keys and flags are as before;
 * - no request of user A changes user B's data or shows B's text, except an
 *   admin's request that names B (or a flag, which is everyone's);
 * - nothing comes back changed: a lone surrogate is refused, never stored as
 *   U+FFFD.
 *
 * FUZZ_RUNS (default 25) sets the requests per operation and backend;
 * FUZZ_SEED replays a failure fast-check reported.
 */

interface Operation {
  readonly method: string;
  readonly path: string;
  readonly statuses: ReadonlySet<number>;
  readonly pathParams: readonly string[];
  readonly query: readonly { name: string; schema: JsonSchema }[];
  readonly body?: JsonSchema;
}

/** The operations of the document that take input, in its order. */
function operationsOf(document: any): Operation[] {
  const operations: Operation[] = [];
  for (const [path, methods] of Object.entries<any>(document.paths)) {
    for (const [method, op] of Object.entries<any>(methods)) {
      const parameters: any[] = op.parameters ?? [];
      operations.push({
        method: method.toUpperCase(),
        path,
        statuses: new Set(Object.keys(op.responses).map(Number)),
        pathParams: parameters.filter((p) => p.in === 'path').map((p) => p.name),
        query: parameters
          .filter((p) => p.in === 'query')
          .map((p) => ({ name: p.name, schema: p.schema })),
        ...(op.requestBody !== undefined
          ? { body: op.requestBody.content['application/json'].schema }
          : {}),
      });
    }
  }
  return operations;
}

/** A path parameter: the acting user's own row, the other user's, or a made-up value. */
type Pick =
  { readonly of: 'own' | 'other' } | { readonly literal: string } | { readonly raw: string };

const pick: fc.Arbitrary<Pick> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ of: 'own' as const }) },
  { weight: 2, arbitrary: fc.constant({ of: 'other' as const }) },
  { weight: 1, arbitrary: fc.uuid().map((literal) => ({ literal })) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(...TRICKY_STRINGS.filter((s) => s !== ''), 'x'.repeat(129), 'beta')
      .map((literal) => ({ literal })),
  },
  {
    weight: 1,
    arbitrary: fc
      .string({ minLength: 1, maxLength: 30 })
      .filter((literal) => !isDotSegment(literal))
      .map((literal) => ({ literal })),
  },
  // Sent as they are, not percent-encoded: bytes that are not UTF-8, escapes that are not escapes.
  {
    weight: 1,
    arbitrary: fc.constantFrom('%FF', '%zz', '%C0%AF', '%00', '%E2%80%AE').map((raw) => ({ raw })),
  },
);

/**
 * `.` and `..` cannot be sent as a path segment: every URL parser resolves them (and `%2E` too)
 * before the request leaves, so the request would go to another route.
 */
function isDotSegment(value: string): boolean {
  return value === '.' || value === '..';
}

/** A path segment as a client would put it in the URL (a lone surrogate cannot be UTF-8, so it goes as U+FFFD). */
function segment(value: string): string {
  return encodeURIComponent(Buffer.from(value, 'utf8').toString('utf8'));
}

function resolve(parameter: string, choice: Pick, own: SeededUser, other: SeededUser): string {
  if ('raw' in choice) return choice.raw;
  if ('literal' in choice) return segment(choice.literal);
  const user = choice.of === 'own' ? own : other;
  const ids: Record<string, string> = {
    conversationId: user.conversationId,
    turnId: user.turnId,
    sessionId: user.sessionId,
    keyId: user.keyId,
    userId: user.userId,
  };
  return segment(ids[parameter] ?? (choice.of === 'own' ? 'beta' : 'gamma'));
}

/** Stand for a seeded user's conversation id in a generated body, filled in at send time. */
const OWN_CONVERSATION = '@own-conversation';
const OTHER_CONVERSATION = '@other-conversation';

type Credential = 'valid' | 'none' | 'garbage';

interface GeneratedRequest {
  readonly params: Readonly<Record<string, Pick>>;
  readonly query: Readonly<Record<string, unknown>>;
  readonly body: { readonly json: unknown } | { readonly raw: string } | undefined;
  readonly idempotencyKey: string | undefined;
  readonly credential: Credential;
}

function requestsFor(op: Operation): fc.Arbitrary<GeneratedRequest> {
  const params = fc.record(Object.fromEntries(op.pathParams.map((name) => [name, pick])));
  const query = fc.record(
    Object.fromEntries(op.query.map(({ name, schema }) => [name, near(schema)])),
    { requiredKeys: [] },
  );
  const body: fc.Arbitrary<GeneratedRequest['body']> =
    op.method === 'GET'
      ? fc.constant(undefined)
      : op.body !== undefined
        ? fc.oneof(
            { weight: 12, arbitrary: near(op.body).map((json) => ({ json })) },
            // A body field that names a conversation gets the caller's own or another user's.
            ...('conversationId' in (op.body.properties ?? {})
              ? [
                  {
                    weight: 4,
                    arbitrary: fc
                      .tuple(valid(op.body), fc.constantFrom(OWN_CONVERSATION, OTHER_CONVERSATION))
                      .map(([json, id]) => ({ json: { ...(json as object), conversationId: id } })),
                  },
                ]
              : []),
            {
              weight: 1,
              arbitrary: fc
                .constantFrom('{"unterminated', '', 'null', '[]', '{"a":1,"a":2}')
                .map((raw) => ({ raw })),
            },
          )
        : fc.oneof(
            { weight: 8, arbitrary: fc.constant(undefined) },
            { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }).map((json) => ({ json })) },
          );
  const idempotencyKey = fc.option(
    fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('k'.repeat(201), 'retry-1')),
    { freq: 6 },
  );
  const credential = fc.constantFrom<Credential>(
    'valid',
    'valid',
    'valid',
    'valid',
    'valid',
    'valid',
    'valid',
    'valid',
    'none',
    'garbage',
  );
  return fc.record({
    params,
    query,
    body,
    idempotencyKey: idempotencyKey.map((k) => k ?? undefined),
    credential,
  });
}

/** Query values as a browser would send them: strings as they are, anything else as JSON text. */
function queryString(query: Readonly<Record<string, unknown>>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query))
    search.set(name, typeof value === 'string' ? value : JSON.stringify(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(
    `${backend.name}: generated requests against every documented operation`,
    () => {
      const f = useServer(backend.name, {
        rateLimit: { max: 1_000_000, windowMs: 60_000 },
        authFailureLimit: false,
      });
      let operations: Operation[] = [];
      beforeAll(async () => {
        const document = await f.call('GET', '/openapi.json');
        operations = operationsOf(document.body).filter(
          (op) =>
            op.pathParams.length > 0 ||
            op.query.length > 0 ||
            op.body !== undefined ||
            op.method !== 'GET',
        );
      });

      it('the document has the operations this suite fuzzes', () => {
        // A route that lost its parameters or body schema would silently drop out of the loop below.
        expect(operations.length).toBeGreaterThanOrEqual(30);
        expect(operations.filter((op) => op.body !== undefined).length).toBeGreaterThanOrEqual(14);
      });

      it(`${FUZZ_RUNS} generated requests per operation: documented status, one error shape, nothing written on error, no other user touched`, async () => {
        const failures: string[] = [];
        for (const op of operations) {
          const admin = op.path.startsWith('/v1/admin/');
          try {
            await fc.assert(
              fc.asyncProperty(requestsFor(op), async (request) => {
                const own = await seedUser(f.store(), 'fuzz-a');
                const other = await seedUser(f.store(), 'fuzz-b');
                const token =
                  request.credential === 'valid'
                    ? admin
                      ? ADMIN_TOKEN
                      : await jwtFor(own.userId)
                    : request.credential === 'garbage'
                      ? 'not-a-token'
                      : undefined;
                const path = op.path.replace(/\{(\w+)\}/g, (_, name: string) =>
                  resolve(name, request.params[name]!, own, other),
                );
                // An admin may act on the other user by name, and flags are everyone's.
                const touchesOther =
                  admin &&
                  (op.path.startsWith('/v1/admin/flags') ||
                    Object.values(request.params).some((p) => 'of' in p && p.of === 'other'));
                const ownBefore = await userSnapshot(f.store(), own);
                const otherBefore = await userSnapshot(f.store(), other);

                const reply = await fetch(`${f.url()}${path}${queryString(request.query)}`, {
                  method: op.method,
                  headers: {
                    ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
                    ...(request.body !== undefined ? { 'content-type': 'application/json' } : {}),
                    ...(request.idempotencyKey !== undefined
                      ? { 'idempotency-key': request.idempotencyKey }
                      : {}),
                  },
                  ...(request.body !== undefined
                    ? {
                        body:
                          'raw' in request.body
                            ? request.body.raw
                            : JSON.stringify(request.body.json)
                                .replace(
                                  JSON.stringify(OWN_CONVERSATION),
                                  JSON.stringify(own.conversationId),
                                )
                                .replace(
                                  JSON.stringify(OTHER_CONVERSATION),
                                  JSON.stringify(other.conversationId),
                                ),
                      }
                    : {}),
                });
                const text = await reply.text();
                const described = `${op.method} ${path}${queryString(request.query)} → ${reply.status} ${text.slice(0, 300)}`;

                expect(reply.status, described).toBeLessThan(500);
                expect(op.statuses.has(reply.status), described).toBe(true);
                // A URL the router cannot decode is refused before anyone is asked who they are.
                const undecodable = Object.values(request.params).some((p) => 'raw' in p);
                if (request.credential !== 'valid' && !undecodable) {
                  expect(reply.status, described).toBe(401);
                }
                if (!touchesOther) expect(text, described).not.toContain(other.marker);
                // A lone surrogate stored as U+FFFD would come back changed, not refused.
                if (!JSON.stringify(request).includes('\ufffd')) {
                  expect(text, `${described}: text came back changed`).not.toContain('\ufffd');
                }

                if (reply.status >= 400) {
                  const error = JSON.parse(text).error;
                  expect(error, described).toMatchObject({
                    code: expect.stringMatching(/^CK_[A-Z_]+$/),
                    message: expect.any(String),
                    requestId: reply.headers.get('x-request-id'),
                  });
                  if (reply.status === 400) {
                    expect(error.code, described).toBe('CK_VALIDATION');
                    expect(error.details?.field, described).toEqual(expect.any(String));
                    expect(error.message.startsWith(`${error.details.field}: `), described).toBe(
                      true,
                    );
                    expect(error.message, described).not.toMatch(
                      /Invalid input|Invalid option|Too small|Too big|Unrecognized key/,
                    );
                  }
                  expect(
                    await userSnapshot(f.store(), own),
                    `${described}: the acting user's data changed`,
                  ).toEqual(ownBefore);
                }
                if (!touchesOther)
                  expect(
                    await userSnapshot(f.store(), other),
                    `${described}: the other user's data changed`,
                  ).toEqual(otherBefore);
              }),
              FUZZ_OPTIONS,
            );
          } catch (error) {
            failures.push(failureReport(`${op.method} ${op.path}`, error));
          }
        }
        expect(failures).toEqual([]);
      }, FUZZ_TIMEOUT_MS);
    },
  );
}
