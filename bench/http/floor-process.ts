/**
 * The HTTP floor: the least a Node.js server can do to serve the benchmark's
 * two routes over the same store — `node:http`, no framework, no request log,
 * no rate limiter, no request ids, no schema validation of its own. What it
 * keeps is what any real server must do and what chatkeep's server does on
 * its fast path: find the user from the bearer token (an HS256 JWT verified
 * once with jose and then remembered, like chatkeep's token cache), call the
 * library (`store.messages.list`, `store.turns.append`, which validate their
 * input as always), and send the result as `JSON.stringify` — the same bytes
 * chatkeep's server sends (its serializer is JSON.stringify too).
 *
 * floor ÷ library is what HTTP itself costs on this machine (a loopback
 * exchange of the page, Node's HTTP parser, the JSON); chatkeep ÷ floor is what
 * chatkeep's server adds on top (Fastify, auth hooks, logging, rate limiting).
 *
 * Started like server-process.ts (by server-child.ts, configuration in
 * BENCH_HTTP_SERVER); prints `{"url": …}` once listening, exits 0 on SIGTERM
 * after closing the store.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { ChatkeepError, openStore } from 'chatkeep';
import { jwtVerify } from 'jose';
import type { ServerProcessConfig } from './server-process.js';

const raw = process.env['BENCH_HTTP_SERVER'];
if (raw === undefined) throw new Error('floor-process: BENCH_HTTP_SERVER is not set');
const config = JSON.parse(raw) as ServerProcessConfig;

const store = await openStore(config.store);
const key = new TextEncoder().encode(config.jwtSecret);
/** Verified tokens → their user: each token's signature is checked once (the bench's tokens outlive the run). */
const verified = new Map<string, string>();

const HISTORY = /^\/v1\/conversations\/([^/]+)\/messages$/;
const TURNS = /^\/v1\/conversations\/([^/]+)\/turns$/;

async function userOf(authorization: string | undefined): Promise<string | undefined> {
  if (authorization === undefined || !authorization.startsWith('Bearer ')) return undefined;
  const token = authorization.slice('Bearer '.length);
  const known = verified.get(token);
  if (known !== undefined) return known;
  try {
    const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'] });
    if (typeof payload.sub !== 'string') return undefined;
    verified.set(token, payload.sub);
    return payload.sub;
  } catch {
    return undefined;
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

async function bodyOf(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const user = await userOf(req.headers.authorization);
  if (user === undefined) return send(res, 401, { error: { code: 'CK_UNAUTHENTICATED' } });
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  let match: RegExpExecArray | null;
  if (req.method === 'GET' && (match = HISTORY.exec(path)) !== null) {
    const limit = Number(new URLSearchParams(q < 0 ? '' : url.slice(q + 1)).get('limit') ?? 50);
    return send(res, 200, await store.messages.list(user, match[1] as string, { limit }));
  }
  if (req.method === 'POST' && (match = TURNS.exec(path)) !== null) {
    const body = (await bodyOf(req)) as { user: string; assistant: string };
    return send(res, 201, await store.turns.append(user, match[1] as string, body));
  }
  send(res, 404, { error: { code: 'CK_NOT_FOUND' } });
}

const server = createServer((req, res) => {
  handle(req, res).catch((error: unknown) => {
    // Another user's conversation is a 404, as in chatkeep's server (the sanity check asks for it).
    const status =
      error instanceof ChatkeepError
        ? error.code === 'CK_NOT_FOUND'
          ? 404
          : error.code === 'CK_VALIDATION'
            ? 400
            : 500
        : 500;
    send(res, status, { error: { code: error instanceof ChatkeepError ? error.code : 'CK_INTERNAL' } });
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const address = server.address();
if (address === null || typeof address === 'string') throw new Error('floor-process: no TCP address');
process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${address.port}` })}\n`);

process.once('SIGTERM', () => {
  server.closeIdleConnections();
  server.close(() => {
    void store.close().then(() => process.exit(0));
  });
});
