import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import { jsonSchemaTransform, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { ChatkeepError } from '../errors/index.js';
import { MAX_RATE_LIMIT_WINDOW_MS, type Store } from '../store/index.js';
import { addressKey, AuthFailureLimiter } from './auth-failure-limiter.js';
import { createAuthenticator } from './auth/authenticator.js';
import { sendError, type ErrorBody } from './error-reply.js';
import { httpSchemas } from './http-schemas.js';
import { WorkerRateLimitStore } from './cluster/worker-rate-limit-store.js';
import { databaseRateLimitStore } from './database-rate-limit-store.js';
import { InflightTurns } from './inflight-turns.js';
import { finishDocument, openApiInfo, type RouteFacts } from './openapi-document.js';
import type { App, RouteContext } from './route-context.js';
import { validatorCompiler } from './request-validation.js';
import { accountRoutes } from './routes/account-routes.js';
import { adminRoutes } from './routes/admin-routes.js';
import { conversationRoutes } from './routes/conversation-routes.js';
import { flagRoutes } from './routes/flag-routes.js';
import { healthRoutes } from './routes/health-routes.js';
import { onboardingRoutes } from './routes/onboarding-routes.js';
import { streamedTurnRoutes } from './routes/streamed-turn-routes.js';
import { turnRoutes } from './routes/turn-routes.js';
import { SERVER_DEFAULTS, type ServerOptions } from './server-options.js';
import { invalidTrustedProxy } from './trusted-proxies.js';
import { userRateLimitKey } from './user-rate-limit-key.js';

/** A chatkeep HTTP server, built but not listening (Fastify's testing guide). */
export interface ChatkeepServer {
  readonly app: App;
  /**
   * Graceful shutdown: new requests get 503 CK_SHUTTING_DOWN, in-flight turns
   * run to completion (or, after `shutdownGraceMs`, are aborted so nothing
   * half-done is stored), then the listener and connections close. The store
   * is left open for the caller to close.
   */
  close(): Promise<{ readonly finishedInFlight: boolean }>;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Room for any valid path parameter (user ids are at most 128 characters) and an over-long one to be named by validation. */
const MAX_PARAM_LENGTH = 1024;

/**
 * Builds the HTTP API over an open store. Routes call the store only; the
 * store scopes every read and write to the authenticated user.
 *
 * @example
 * const server = await buildServer(store, { auth: { jwtSecret }, agent: demoServerAgent() });
 * await server.app.listen({ port: 8787 });
 */
export async function buildServer(store: Store, options: ServerOptions): Promise<ChatkeepServer> {
  const auth = createAuthenticator(store, options.auth);
  const schemas = httpSchemas(store.settings);
  const inflight = new InflightTurns();
  let closing = false;
  const rateLimit = checkedRateLimit(options);
  const failureLimiter = authFailureLimiter(options, store);
  const trustProxy = trustedProxies(options);
  checkHeartbeat(options);
  checkTurnTimes(options);

  const app: App = Fastify({
    logger: options.logger ?? { level: 'info' },
    bodyLimit: options.bodyLimit ?? SERVER_DEFAULTS.bodyLimit,
    // A caller's X-Request-Id is kept when it is a sane token, so a request can be followed across services.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    return503OnClosing: false,
    // find-my-way's default (100) answered a raw 414 to an admin route for a
    // valid user id of 101–128 characters (USER_ID_PATTERN allows 128), so
    // such a user could not be given a key or erased. Longer parameters now
    // reach the routes' validation, which names the field.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // The router's own refusals (a malformed %-escape, a parameter past the
    // limit above) are sent in chatkeep's one error shape, not Fastify's.
    frameworkErrors: (error, request, reply) => {
      void reply.header('x-request-id', request.id);
      void sendError(error, request, reply);
    },
    // What Node's HTTP parser refuses before any route (a malformed request
    // line, headers past its size limit) is answered in the one error shape too.
    clientErrorHandler: answerClientError,
    // One log line per request (below), not Fastify's two ("incoming request" + "request completed").
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: 'idle',
    ...(trustProxy !== undefined ? { trustProxy } : {}),
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  // Responses are the store's typed objects; plain JSON.stringify sends them
  // as is (Dates as ISO strings). The response schemas document the API and
  // the OpenAPI test checks real responses against them, instead of paying
  // for a validation of every response at runtime.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  acceptEmptyJsonBodies(app);
  app.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  app.setNotFoundHandler((request, reply) => sendError(new ChatkeepError('CK_NOT_FOUND', 'No such route'), request, reply));
  app.decorateRequest('principal', undefined);

  // The structured request log: what happened and for whom, never what was said.
  // One line per request, also for one whose client hung up before its
  // response ended (a stream cut mid-reply, a run given up on): Fastify's
  // onResponse runs only for a response that finished, so those had none.
  const logged = new WeakSet<FastifyRequest>();
  const logRequest = (request: FastifyRequest, reply: FastifyReply, clientClosed: boolean) => {
    if (logged.has(request)) return;
    logged.add(request);
    request.log.info(
      {
        method: request.method,
        url: request.url,
        status: reply.raw.headersSent || !clientClosed ? reply.statusCode : undefined,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        user: request.principal?.userId,
        ...(clientClosed ? { clientClosed: true } : {}),
      },
      'request',
    );
  };
  app.addHook('onResponse', async (request, reply) => logRequest(request, reply, false));

  app.addHook('onRequest', async (request, reply) => {
    // In this hook, not one of its own: every hook is one more promise per request, on the hot read path too.
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) logRequest(request, reply, true);
    });
    void reply.header('x-request-id', request.id);
    const config = request.routeOptions.config as { public?: boolean; admin?: boolean };
    if (closing && config.public !== true) throw new ChatkeepError('CK_SHUTTING_DOWN');
    if (config.public === true || request.routeOptions.url === undefined) return;
    // An address over its failed-authentication limit is refused before its
    // token is looked at, whatever the token: a valid one too, so the answer
    // tells a guesser nothing, and the refusal costs no lookup or verification.
    // Tokens of one address are checked only so many at once (AuthFailureLimiter),
    // so a burst on many connections cannot get past the limit before it is counted.
    const admission = await failureLimiter?.admit(request.ip);
    if (failureLimiter !== undefined && admission !== undefined && 'refusedMs' in admission) {
      const seconds = Math.ceil(admission.refusedMs / 1000);
      // The headers @fastify/rate-limit sends with its 429s, so a client handles both alike.
      void reply.headers({ 'x-ratelimit-limit': failureLimiter.max, 'x-ratelimit-remaining': 0, 'x-ratelimit-reset': seconds, 'retry-after': seconds });
      throw new ChatkeepError('CK_RATE_LIMITED', `Too many failed authentications from this address; retry in ${seconds} seconds`, { retryAfterSeconds: seconds });
    }
    const refuse = async (message?: string): Promise<ChatkeepError> => {
      // A count that fails (the cluster primary did not answer) must not turn the 401 into a 500.
      const refusalMs = await failureLimiter?.failed(request.ip).catch((error: unknown) => {
        request.log.warn({ err: error }, 'failed authentication not counted');
        return 0;
      });
      // The one line an operator needs to spot guessing (or a misconfigured client behind one address).
      if (refusalMs !== undefined && refusalMs > 0) {
        request.log.warn({ ip: request.ip, failures: failureLimiter?.max, refusedForSeconds: Math.ceil(refusalMs / 1000) }, 'address refused after repeated failed authentications');
      }
      return new ChatkeepError('CK_UNAUTHENTICATED', message);
    };
    try {
      const match = /^Bearer +([^\s]+) *$/i.exec(request.headers.authorization ?? '');
      // Admin routes take the admin credential, never a user token; checked
      // here, before body validation, so an unauthenticated caller learns nothing.
      if (config.admin === true) {
        if (match?.[1] === undefined || !auth.admin(match[1])) throw await refuse('The admin credential is required');
        return;
      }
      const principal = match?.[1] === undefined ? undefined : await auth.user(match[1]);
      if (principal === undefined) throw await refuse();
      if ('unusable' in principal) {
        // One line (not the sub itself, which may be personal data), so a mis-mapped identity provider is seen.
        request.log.warn({ ip: request.ip }, `a verified JWT was refused: ${principal.unusable}`);
        throw await refuse();
      }
      request.principal = principal;
    } finally {
      if (admission !== undefined && 'done' in admission) admission.done();
    }
  });

  // A response sent while the server shuts down closes its connection: kept
  // alive, a connection that went idle after close() began would hold the
  // close for the client's keep-alive (seconds) before the listener ends.
  app.addHook('onSend', async (_request, reply) => {
    if (closing) void reply.header('connection', 'close');
  });

  await app.register(fastifyRateLimit, {
    global: true,
    // After the auth hook (the key is the user) but before the body is read
    // and validated: counted in preHandler, requests refused with 400 or 413
    // never used up the window, so a client past its limit kept getting
    // answers (and making the server parse megabytes) instead of 429.
    hook: 'preParsing',
    max: rateLimit.max,
    timeWindow: rateLimit.windowMs,
    ...('scope' in rateLimit && rateLimit.scope === 'cluster' ? { store: WorkerRateLimitStore } : {}),
    ...('scope' in rateLimit && rateLimit.scope === 'database' ? { store: databaseRateLimitStore(store.rateLimits) } : {}),
    keyGenerator: (request) => (request.principal !== undefined ? userRateLimitKey(request.principal.userId) : `ip:${addressKey(request.ip)}`),
    errorResponseBuilder: (_request, context) =>
      new ChatkeepError('CK_RATE_LIMITED', `Rate limit of ${context.max} requests exceeded; retry in ${context.after}`, {
        retryAfterSeconds: Math.ceil(context.ttl / 1000),
      }),
  });
  await app.register(fastifySwagger, { openapi: openApiInfo(), transform: jsonSchemaTransform });
  const facts: RouteFacts = { optionalBody: new Set(), eventStream: new Set() };
  app.addHook('onRoute', (route) => {
    const body = route.schema?.body as { safeParse?: (v: unknown) => { success: boolean } } | undefined;
    for (const method of [route.method].flat()) {
      const key = `${method} ${route.url}`;
      if (body?.safeParse?.(undefined).success === true) facts.optionalBody.add(key);
      if ((route.config as { eventStream?: boolean } | undefined)?.eventStream === true) facts.eventStream.add(key);
    }
  });

  const context: RouteContext = { store, schemas, options, auth, inflight };
  healthRoutes(app, context, { closing: () => closing });
  conversationRoutes(app, context);
  turnRoutes(app, context);
  streamedTurnRoutes(app, context);
  onboardingRoutes(app, context);
  accountRoutes(app, context);
  adminRoutes(app, context);
  flagRoutes(app, context);
  let document: unknown;
  app.get('/openapi.json', { config: { public: true, rateLimit: false }, schema: { hide: true } }, async () => {
    document ??= finishDocument(structuredClone(app.swagger()) as unknown as { paths?: Record<string, Record<string, never>> }, facts);
    return document;
  });

  // The sweeper aborts streamed turns whose client (or an earlier server process) went away.
  let sweeper: NodeJS.Timeout | undefined;
  // Counts in the database leave a row per key and window; ended windows go with each sweep.
  const authLimit = options.authFailureLimit ?? SERVER_DEFAULTS.authFailureLimit;
  const countsInDatabase =
    ('scope' in rateLimit && rateLimit.scope === 'database') || (authLimit !== false && 'scope' in authLimit && authLimit.scope === 'database');
  const sweep = () =>
    Promise.all([
      store.turns.sweep().then(
        (report) => {
          if (report.abandoned > 0) app.log.info({ abandoned: report.abandoned }, 'aborted abandoned streamed turns');
        },
        (error: unknown) => app.log.warn({ err: error }, 'sweep failed'),
      ),
      countsInDatabase ? store.rateLimits.prune().catch((error: unknown) => app.log.warn({ err: error }, 'pruning rate-limit windows failed')) : undefined,
    ]);
  app.addHook('onReady', async () => {
    await sweep();
    const every = Math.min(30_000, Math.max(1000, (options.abandonAfterMs ?? SERVER_DEFAULTS.abandonAfterMs) / 4));
    sweeper = setInterval(() => void sweep(), every);
    sweeper.unref();
  });
  app.addHook('onClose', async () => clearInterval(sweeper));

  return {
    app,
    async close() {
      closing = true;
      const { finished } = await inflight.drain(options.shutdownGraceMs ?? SERVER_DEFAULTS.shutdownGraceMs);
      await app.close();
      return { finishedInFlight: finished };
    },
  };
}

/**
 * `rateLimit`, refused at build time when counting in the database could
 * never work: `store.rateLimits` takes windows of 1 ms to a day, and every
 * request would otherwise fail with that error instead of being counted.
 */
function checkedRateLimit(options: ServerOptions): NonNullable<ServerOptions['rateLimit']> {
  const limit = options.rateLimit ?? SERVER_DEFAULTS.rateLimit;
  if ('scope' in limit && limit.scope === 'database' && !(Number.isInteger(limit.windowMs) && limit.windowMs >= 1 && limit.windowMs <= MAX_RATE_LIMIT_WINDOW_MS)) {
    throw new ChatkeepError('CK_CONFIG', `rateLimit.windowMs: with scope "database", a whole number of milliseconds from 1 to ${MAX_RATE_LIMIT_WINDOW_MS} (a day)`, { field: 'rateLimit.windowMs' });
  }
  return limit;
}

/** The limiter for failed authentications, or undefined when it is off (`false` or `max: 0`). */
/**
 * Fastify's JSON body parser, with two changes. An empty body sent as
 * `application/json` is no body: fetch wrappers set that header on every
 * call, and Fastify answered `POST /v1/conversations` (whose body is
 * optional), `…/abandon` and every DELETE with 400 "Body cannot be empty".
 * And a body refused for a `"__proto__"` key (or `"constructor"` holding
 * `"prototype"`, which could change an object's prototype downstream) says
 * so, where Fastify called it "not valid JSON".
 */
function acceptEmptyJsonBodies(app: App): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    // The body is read as plain UTF-8 text. A gzip body was answered "not
    // JSON", and a plain one labelled gzip or UTF-16 was read all the same:
    // refused by name instead, the client learns what to change.
    const refused = unreadableBody(request.headers['content-encoding'], request.headers['content-type']);
    if (refused !== undefined) {
      done(new ChatkeepError('CK_VALIDATION', `body: ${refused}`, { field: 'body' }));
      return;
    }
    const text = body as string;
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    void parseJson(request, text, (error, value) => {
      if (error === null) done(null, value);
      else if (isJson(text)) done(new ChatkeepError('CK_VALIDATION', 'body: a key named "__proto__", or "constructor" holding "prototype", is refused', { field: 'body' }));
      else done(error);
    });
  });
}

/** Why a JSON body with these headers cannot be read as UTF-8 text, or undefined. */
function unreadableBody(contentEncoding: string | undefined, contentType: string | undefined): string | undefined {
  const encoding = contentEncoding?.trim().toLowerCase();
  if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
    return `Content-Encoding ${encoding} is not accepted; send the JSON uncompressed`;
  }
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType ?? '')?.[1]?.toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') return `charset ${charset} is not accepted; send the JSON as UTF-8`;
  return undefined;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function authFailureLimiter(options: ServerOptions, store: Store): AuthFailureLimiter | undefined {
  const limit = options.authFailureLimit ?? SERVER_DEFAULTS.authFailureLimit;
  if (limit === false || limit.max === 0) return undefined;
  if (!Number.isInteger(limit.max) || limit.max < 0 || !Number.isInteger(limit.windowMs) || limit.windowMs < 1) {
    throw new ChatkeepError('CK_CONFIG', 'authFailureLimit: max must be a whole number >= 0 and windowMs one >= 1', { field: 'authFailureLimit' });
  }
  return new AuthFailureLimiter(limit, store.rateLimits);
}

/**
 * The store's limits on a turn's agent time and on `abandonAfterMs`
 * (`store.turns.run`/`stream`/`begin`). Outside them every run, stream and
 * begin was a 400 naming `timeoutMs` or `abandonAfterMs`, fields the client
 * never sent and cannot change; refused here, the operator sees it at start.
 */
const TURN_TIMES = { agentTimeoutMs: [1, 3_600_000], abandonAfterMs: [1000, 86_400_000] } as const;

function checkTurnTimes(options: ServerOptions): void {
  for (const [field, [min, max]] of Object.entries(TURN_TIMES)) {
    const ms = options[field as keyof typeof TURN_TIMES];
    if (ms !== undefined && !(Number.isInteger(ms) && ms >= min && ms <= max)) {
      throw new ChatkeepError('CK_CONFIG', `${field}: a whole number of milliseconds from ${min} to ${max}`, { field });
    }
  }
}

/**
 * Fastify's `clientErrorHandler`: Node's parser refused the request before
 * Fastify saw it, so there is no route and no reply. Fastify's default
 * answered `{"error":"Bad Request","message":"Client Error",…}`, a string
 * where every client of this API reads `error.code`. Headers past Node's
 * size limit are a 400 naming `headers` (CK_VALIDATION is 400 in the
 * catalogue; Fastify said 431). A request that timed out gets Node's own
 * bodiless 408: no chatkeep code fits, and its client has seldom stayed.
 */
function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  if (socket.writable) {
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      socket.write('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
    } else {
      const requestId = randomUUID();
      const field = error.code === 'HPE_HEADER_OVERFLOW' ? 'headers' : 'request';
      const message = field === 'headers' ? 'headers: larger than the server accepts' : 'request: not a valid HTTP/1.1 request';
      const body = JSON.stringify({ error: { code: 'CK_VALIDATION', message, details: { field }, requestId } } satisfies ErrorBody);
      socket.write(
        `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`,
      );
    }
  }
  socket.destroy(error);
}

/** The longest heartbeat interval: an hour (a timer takes at most 2^31 − 1 ms anyway). */
const MAX_SSE_HEARTBEAT_MS = 3_600_000;

function checkHeartbeat(options: ServerOptions): void {
  const ms = options.sseHeartbeatMs;
  if (ms !== undefined && !(Number.isInteger(ms) && ms >= 0 && ms <= MAX_SSE_HEARTBEAT_MS)) {
    throw new ChatkeepError('CK_CONFIG', `sseHeartbeatMs: a whole number of milliseconds from 0 (no heartbeat) to ${MAX_SSE_HEARTBEAT_MS}`, { field: 'sseHeartbeatMs' });
  }
}

/** `trustProxy` as Fastify takes it, checked so a typo names itself. */
function trustedProxies(options: ServerOptions): string[] | undefined {
  if (options.trustProxy === undefined) return undefined;
  const invalid = invalidTrustedProxy(options.trustProxy);
  if (invalid !== undefined) {
    throw new ChatkeepError('CK_CONFIG', `trustProxy: "${invalid}" is not an IP address, a CIDR range, or loopback, linklocal or uniquelocal`, { field: 'trustProxy' });
  }
  return [...options.trustProxy];
}
