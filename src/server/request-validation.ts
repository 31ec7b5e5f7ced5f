import type { FastifyRequest, FastifySchemaCompiler } from 'fastify';
import type { z } from 'zod';
import { ChatkeepError, wordedParse } from '../errors/index.js';

/**
 * A request part (params, querystring, body) that its route's zod schema
 * refused. Fastify marks it with the part's name (`validationContext`) and
 * hands it to the error handler, which names the field (error-reply.ts).
 */
export class RequestValidationError extends Error {
  readonly issues: readonly z.core.$ZodIssue[];
  validationContext?: string;

  constructor(issues: readonly z.core.$ZodIssue[]) {
    super(issues[0]?.message ?? 'invalid');
    this.name = 'RequestValidationError';
    this.issues = issues;
  }
}

/**
 * Validates each request part with its route's zod schema, wording zod's
 * defaults as the store does (errors/zod-issues.ts), so a field gets the
 * same message from the HTTP API as from the library.
 */
export const validatorCompiler: FastifySchemaCompiler<z.ZodType> =
  ({ schema }) =>
  (data) => {
    const result = wordedParse(schema, data);
    return result.success ? { value: result.data } : { error: new RequestValidationError(result.error.issues.flatMap(inTheFormGiven)) };
  };

/**
 * A union's issue, replaced by the issue of the one form whose type the
 * value has. A message is `"text"` or `{ content, metadata }`, and zod
 * reports a union at its own path once a form fails at the root type, so
 * `{ "content": "hi", "metadata": [] }` was `user: expected a string or
 * { content, metadata }, received an object` — refusing the very form sent —
 * where the library says `user.metadata: expected a JSON object, received an
 * array` (docs/errors.md: the two front doors word a field alike). A value
 * of none of the forms' types keeps the union's own message.
 */
function inTheFormGiven(issue: z.core.$ZodIssue): z.core.$ZodIssue[] {
  if (issue.code !== 'invalid_union') return [issue];
  const typeMatched = issue.errors.filter((form) => !form.some((inner) => inner.code === 'invalid_type' && inner.path.length === 0));
  const [only] = typeMatched;
  if (typeMatched.length !== 1 || only === undefined || only.length === 0) return [issue];
  return only.flatMap((inner) => inTheFormGiven({ ...inner, path: [...issue.path, ...inner.path] }));
}

/**
 * `preValidation` of a route that takes no body (abandon, keep-alive, the
 * DELETEs, the sweep). Fastify reads a body on every POST, PUT, PATCH and
 * DELETE, and a route without a body schema took any and ignored it:
 * `{ "context": … }` sent to `/abandon`, as to `/complete`, was dropped
 * without a word. Nothing (`{}`, `null`, an empty body, none at all) is
 * taken; anything else is refused like an unknown field of a route that
 * takes a body, naming the first field, before the handler writes anything.
 *
 * @example
 * app.post('/v1/onboarding-sessions/:sessionId/abandon', { preValidation: refuseBody, schema, handler });
 */
export async function refuseBody(request: FastifyRequest): Promise<void> {
  const body: unknown = request.body;
  if (body === undefined || body === null || body === '') return;
  if (typeof body === 'object' && !Array.isArray(body)) {
    const [field] = Object.keys(body);
    if (field === undefined) return;
    const named = field === '' ? 'body' : field;
    throw new ChatkeepError('CK_VALIDATION', `${named}: unknown field (this route takes no body)`, { field: named });
  }
  throw new ChatkeepError('CK_VALIDATION', 'body: this route takes no body (send none, or {})', { field: 'body' });
}
