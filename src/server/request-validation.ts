import type { FastifySchemaCompiler } from 'fastify';
import type { z } from 'zod';
import { wordedParse } from '../errors/index.js';

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
    return result.success ? { value: result.data } : { error: new RequestValidationError(result.error.issues) };
  };
