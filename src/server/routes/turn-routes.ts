import type { OutgoingHttpHeaders } from 'node:http';
import { z } from 'zod';
import { ChatkeepError, isChatkeepError } from '../../errors/index.js';
import { errorResponses } from '../http-schemas.js';
import { actingUser, compact, idempotencyKeyOf, messageOf, type App, type RouteContext } from '../route-context.js';
import { SseStream } from '../sse.js';
import { SERVER_DEFAULTS } from '../server-options.js';

/**
 * Turns over HTTP: append a finished turn, run the configured agent, or run
 * it streaming as Server-Sent Events. All three persist both messages in one
 * transaction or nothing (SPEC R-CHAT-3).
 */
export function turnRoutes(app: App, { store, schemas: s, options, inflight }: RouteContext): void {
  const tags = ['turns'];
  const agentTimeoutMs = options.agentTimeoutMs ?? SERVER_DEFAULTS.agentTimeoutMs;
  const heartbeatMs = options.sseHeartbeatMs ?? SERVER_DEFAULTS.sseHeartbeatMs;
  const runBody = z
    .object({
      message: s.messageInput,
      idempotencyKey: s.idempotencyKey.optional(),
      historyLimit: z.number().int().min(1).max(1000).optional(),
      historyTokenBudget: z.number().int().min(1).optional(),
    })
    .strict();

  app.post('/v1/conversations/:conversationId/turns', {
    schema: {
      tags,
      summary: 'Append a user message and the assistant reply atomically',
      description: 'With an idempotency key (body or `Idempotency-Key` header), a retry returns the stored turn with 200 and writes nothing.',
      params: s.conversationParams,
      headers: s.idempotencyHeaders,
      body: z.object({ user: s.messageInput, assistant: s.messageInput, idempotencyKey: s.idempotencyKey.optional() }).strict(),
      querystring: s.noQuery,
      response: { 201: s.turn, 200: s.turn, ...errorResponses(s, 400, 401, 404, 409, 413, 429) },
    },
    handler: async (request, reply) => {
      const key = idempotencyKeyOf(request, request.body.idempotencyKey);
      const turn = await store.turns.append(actingUser(request), request.params.conversationId, {
        user: messageOf(request.body.user),
        assistant: messageOf(request.body.assistant),
        ...(key !== undefined ? { idempotencyKey: key } : {}),
      });
      return reply.code(turn.replayed ? 200 : 201).send(turn);
    },
  });

  app.post('/v1/conversations/:conversationId/turns/run', {
    schema: {
      tags,
      summary: "Run the server's agent on a message; store the turn only if it succeeds",
      params: s.conversationParams,
      headers: s.idempotencyHeaders,
      body: runBody,
      querystring: s.noQuery,
      response: { 201: s.turn, 200: s.turn, ...errorResponses(s, 400, 401, 404, 409, 413, 429, 502, 503, 504) },
    },
    handler: async (request, reply) => {
      const user = actingUser(request);
      const { message, idempotencyKey, ...rest } = request.body;
      const key = idempotencyKeyOf(request, idempotencyKey);
      const job = inflight.start();
      // A client that hangs up stops the agent: nobody is waiting for the
      // reply, and a model call costs money. Nothing is stored; a retry with
      // the same idempotency key runs the agent again.
      const gone = new AbortController();
      const onClose = () => {
        if (!reply.raw.writableFinished) gone.abort(new ChatkeepError('CK_AGENT_FAILED', 'The client went away'));
      };
      reply.raw.on('close', onClose);
      // Under load the client may already be gone while the hooks (auth, rate limit) ran: 'close' has fired then.
      if (reply.raw.destroyed) onClose();
      try {
        const turn = await store.turns.run(user, request.params.conversationId, messageOf(message), options.agent.run, {
          ...compact(rest),
          timeoutMs: agentTimeoutMs,
          signal: AbortSignal.any([job.signal, gone.signal]),
          ...(key !== undefined ? { idempotencyKey: key } : {}),
        });
        return await reply.code(turn.replayed ? 200 : 201).send(turn);
      } finally {
        reply.raw.off('close', onClose);
        job.done();
      }
    },
  });

  app.post('/v1/conversations/:conversationId/turns/stream', {
    config: { eventStream: true },
    schema: {
      tags,
      summary: "Run the server's agent and stream its reply as Server-Sent Events",
      description: [
        'Events: `begin` (the reserved turn), `text` ({ text }) for each piece as it is generated, then `commit` (the stored turn) or `error` ({ error }).',
        'While the agent is silent, a comment line (`: keep-alive`) goes out every `sseHeartbeatMs` (15 s by default) so that proxies keep the response open; SSE parsers skip it.',
        'Nothing is visible in history until `commit`. If the client disconnects, the turn is aborted: nothing is stored, or with `keepPartialOnAbort` the partial reply is stored marked `aborted`.',
        'Errors found before the stream starts (validation, auth, unknown conversation, a reused idempotency key) are ordinary JSON error responses.',
      ].join(' '),
      params: s.conversationParams,
      headers: s.idempotencyHeaders,
      body: runBody.extend({ keepPartialOnAbort: z.boolean().optional() }).strict(),
      querystring: s.noQuery,
      response: {
        200: z.string().describe('An event stream (text/event-stream): begin, text…, then commit or error'),
        ...errorResponses(s, 400, 401, 404, 409, 413, 429, 503),
      },
    },
    handler: async (request, reply) => {
      const user = actingUser(request);
      const { message, idempotencyKey, keepPartialOnAbort, ...rest } = request.body;
      const key = idempotencyKeyOf(request, idempotencyKey);
      const job = inflight.start();
      const client = new AbortController();
      // A shutdown's reason (CK_SHUTTING_DOWN) is passed on to the client's error event.
      const abortAll = () => client.abort(job.signal.aborted ? job.signal.reason : new ChatkeepError('CK_AGENT_FAILED', 'The client went away'));
      job.signal.addEventListener('abort', abortAll, { once: true });
      // Watched from the start, not from the first event: a client gone before then (under load, even before
      // this handler ran, when 'close' has fired already) must abort the turn too, not have it stored.
      const onClose = () => {
        if (!reply.raw.writableFinished) abortAll();
      };
      reply.raw.on('close', onClose);
      if (reply.raw.destroyed) onClose();
      // The response turns into an event stream only once the turn is
      // reserved: until then (bad key, unknown conversation, …) errors are
      // ordinary JSON responses with their documented status.
      let sse: SseStream | undefined;
      const openStream = () => {
        if (sse !== undefined) return sse;
        reply.hijack();
        // The headers hooks set so far (x-request-id, x-ratelimit-*) go out with the stream: hijacking skips Fastify's send.
        sse = new SseStream(reply.raw, { ...(reply.getHeaders() as OutgoingHttpHeaders), 'x-request-id': request.id }, heartbeatMs);
        return sse;
      };
      try {
        const turn = await store.turns.stream(user, request.params.conversationId, messageOf(message), options.agent.stream, {
          ...compact(rest),
          timeoutMs: agentTimeoutMs,
          signal: client.signal,
          abandonAfterMs: options.abandonAfterMs ?? SERVER_DEFAULTS.abandonAfterMs,
          ...(keepPartialOnAbort !== undefined ? { keepPartialOnAbort } : {}),
          ...(key !== undefined ? { idempotencyKey: key } : {}),
          onBegin: (turn) => openStream().send('begin', turn),
          onText: (text) => openStream().send('text', { text }),
        });
        // A replayed key never begins a new turn: the stream is just its commit.
        openStream().send('commit', turn);
      } catch (error) {
        if (sse === undefined) throw error;
        const known = isChatkeepError(error) ? error : new ChatkeepError('CK_INTERNAL');
        if (!isChatkeepError(error)) request.log.error({ err: error }, 'stream failed');
        sse.send('error', { error: { code: known.code, message: known.message, details: known.details, requestId: request.id } });
      } finally {
        job.signal.removeEventListener('abort', abortAll);
        job.done();
        sse?.end();
      }
    },
  });
}
