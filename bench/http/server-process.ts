/**
 * The HTTP server under test, in its own process as in production (so the
 * load generator in the parent does not share its event loop). Started by
 * server-child.ts with its configuration in BENCH_HTTP_SERVER (JSON, see
 * ServerProcessConfig); opens the store, builds chatkeep's server with
 * buildServer(), listens on 127.0.0.1 on a free port and prints one line
 * `{"url": "http://127.0.0.1:…"}` on stdout. On SIGTERM it shuts down
 * gracefully, closes the store (PGlite writes its data folder) and exits 0.
 */
import { demoAgent, demoStreamingAgent, openStore } from 'chatkeep';
import { buildServer } from 'chatkeep/server';

/** What the parent passes to the server process. */
export interface ServerProcessConfig {
  /** PostgreSQL URL, or a PGlite data folder. */
  readonly store: { readonly url: string } | { readonly dataDir: string };
  readonly jwtSecret: string;
  /** Fastify's request log: info-level JSON lines to `logFile` (the production default level), or off. */
  readonly log: { readonly level: 'info'; readonly file: string } | 'off';
  /** Requests per user per minute: the rate limiter stays on, with a limit the load never reaches. */
  readonly rateLimitMax: number;
  /** Who counts the per-user limit: this process (default) or the database (`--rate-limit-scope database`). */
  readonly rateLimitScope?: 'process' | 'database';
}

const raw = process.env['BENCH_HTTP_SERVER'];
if (raw === undefined) throw new Error('server-process: BENCH_HTTP_SERVER is not set');
const config = JSON.parse(raw) as ServerProcessConfig;

const store = await openStore(config.store);
const server = await buildServer(store, {
  auth: { jwtSecret: config.jwtSecret },
  agent: { name: 'demo', run: demoAgent, stream: demoStreamingAgent() },
  rateLimit: { max: config.rateLimitMax, windowMs: 60_000, scope: config.rateLimitScope ?? 'process' },
  // Fastify hands `file` to pino.destination(): the same synchronous JSON
  // writer as the default stdout logger, pointed at a file (or /dev/null).
  logger: config.log === 'off' ? false : { level: config.log.level, file: config.log.file },
});
const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${JSON.stringify({ url })}\n`);

process.once('SIGTERM', () => {
  void (async () => {
    await server.close();
    await store.close();
    process.exit(0);
  })();
});
