import type { FastifyInstance, FastifyRequest, RawServerDefault } from 'fastify';
import type { FastifyBaseLogger } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ChatkeepError } from '../errors/index.js';
import type { MessageInput, Store } from '../store/index.js';
import type { Authenticator } from './auth/authenticator.js';
import type { Principal } from './auth/principal.js';
import type { HttpSchemas } from './http-schemas.js';
import type { InflightTurns } from './inflight-turns.js';
import type { ServerOptions } from './server-options.js';

/** The Fastify instance routes are declared on, typed by the zod provider. */
export type App = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, ZodTypeProvider>;

/** What every route module is given. */
export interface RouteContext {
  readonly store: Store;
  readonly schemas: HttpSchemas;
  readonly options: ServerOptions;
  readonly auth: Authenticator;
  readonly inflight: InflightTurns;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | undefined;
  }
  interface FastifyContextConfig {
    /** No authentication (health probes, the OpenAPI document). */
    public?: boolean;
    /** Authenticated by the admin credential, not a user token. */
    admin?: boolean;
    /** The 200 response is text/event-stream (documented as such in OpenAPI). */
    eventStream?: boolean;
  }
}

/** The acting user of an authenticated route (the auth hook has run). */
export function actingUser(request: FastifyRequest): string {
  if (request.principal === undefined) throw new ChatkeepError('CK_UNAUTHENTICATED');
  return request.principal.userId;
}

/** `Idempotency-Key` header (IETF httpapi draft) or the body's `idempotencyKey`; both present must agree. */
export function idempotencyKeyOf(request: FastifyRequest, bodyKey: string | undefined): string | undefined {
  // Node joins a repeated header into one value ("k1, k1"): a retry whose
  // header a proxy or client library repeated had a key never used before,
  // and was stored a second time. Refused, as a repeated query parameter is.
  if ((request.raw.headersDistinct['idempotency-key']?.length ?? 0) > 1) {
    throw new ChatkeepError('CK_VALIDATION', 'idempotencyKey: the Idempotency-Key header was given more than once; send it once', { field: 'idempotencyKey' });
  }
  const header = request.headers['idempotency-key'];
  const headerKey = unquoted(Array.isArray(header) ? header[0] : header);
  if (headerKey !== undefined && bodyKey !== undefined && headerKey !== bodyKey) {
    throw new ChatkeepError('CK_VALIDATION', 'idempotencyKey: the Idempotency-Key header and the body disagree', { field: 'idempotencyKey' });
  }
  return headerKey ?? bodyKey;
}

/**
 * The key of an `Idempotency-Key` header. The IETF draft makes it a
 * structured-field string, sent quoted (`"8e03978e-…"`); most clients send it
 * bare. Both spell one key: quoted, the quotes (and the `\\` escapes of `"`
 * and `\\` inside) are not part of it, so a client that sends the draft's form
 * and the same key in the body is not told they disagree.
 */
function unquoted(value: string | undefined): string | undefined {
  const match = value === undefined ? null : /^"((?:[^"\\]|\\["\\])*)"$/.exec(value);
  return match === null ? value : match[1]!.replace(/\\(["\\])/g, '$1');
}

/** A message body (`"text"` or `{ content, metadata }`) in the shape the store takes. */
export function messageOf(input: string | { content: string; metadata?: Record<string, unknown> | undefined }): string | MessageInput {
  return typeof input === 'string' ? input : compact(input);
}

type Compact<T> = { [K in keyof T]: Exclude<T[K], undefined> };

/** Drops keys whose value is undefined, so zod's `?: T | undefined` fits the store's exact optional options. */
export function compact<T extends object>(value: T): Compact<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Compact<T>;
}
