import { demoAgent, demoStreamingAgent, openAiCompatibleAgent } from '../agents/index.js';
import type { ServerAgent, ServerOptions } from '../server/index.js';
import type { Store } from '../store/index.js';
import { DEMO_USER } from './demo-key.js';
import { UsageError } from './exit-codes.js';
import { listenRefusal } from './listen-probe.js';
import type { Output } from './output.js';
import { watchParentExit } from './parent-exit.js';

/** `chatkeep serve`'s options, as commander hands them over, with `--workers auto` resolved to a count. */
export interface ServeOptions {
  readonly port: number;
  readonly host: string;
  readonly workers: number;
  readonly jwtSecret?: string;
  readonly jwksUrl?: string;
  readonly jwtIssuer?: string;
  readonly jwtAudience?: string;
  readonly adminToken?: string;
  readonly agent: 'demo' | 'openai';
  readonly openaiBaseUrl?: string;
  readonly openaiModel?: string;
  readonly openaiApiKey?: string;
  readonly rateLimit: number;
  /** Who counts the limits: this server (its one process, or the primary for its workers) or the database. */
  readonly rateLimitScope: 'server' | 'database';
  readonly authFailureLimit: number;
  readonly trustProxy?: readonly string[];
  readonly bodyLimit: number;
  readonly logLevel: string;
  readonly abandonAfter: number;
  readonly shutdownGrace: number;
  readonly sseHeartbeat: number;
  /** False with `--no-demo-key` (or CHATKEEP_NO_DEMO_KEY): no demo key even on the start that installs the schema (demo-key.ts). */
  readonly demoKey: boolean;
}

/**
 * The server's options from the command line; `scope` says who counts the
 * rate limit, unless `--rate-limit-scope database` has the database count
 * it. Cluster workers log through `process.stdout` rather than
 * pino's default synchronous writer: the workers share one stdout, and when
 * it is a pipe that writer met a full pipe by sleeping 100 ms at a time,
 * stalling requests for up to half a second (bench/README.md, HTTP server).
 */
export function serverOptionsFrom(options: ServeOptions, scope: 'process' | 'cluster'): ServerOptions {
  checkServeOptions(options);
  const countedBy = options.rateLimitScope === 'database' ? 'database' : scope;
  return {
    auth: {
      ...(options.jwtSecret ? { jwtSecret: options.jwtSecret } : {}),
      ...(options.jwksUrl ? { jwksUrl: options.jwksUrl } : {}),
      ...(options.jwtIssuer ? { issuer: options.jwtIssuer } : {}),
      ...(options.jwtAudience ? { audience: options.jwtAudience } : {}),
      ...(options.adminToken ? { adminToken: options.adminToken } : {}),
    },
    agent: serverAgent(options),
    rateLimit: { max: options.rateLimit, windowMs: 60_000, scope: countedBy },
    authFailureLimit: { max: options.authFailureLimit, windowMs: 60_000, scope: countedBy },
    ...(options.trustProxy !== undefined ? { trustProxy: options.trustProxy } : {}),
    bodyLimit: options.bodyLimit,
    abandonAfterMs: options.abandonAfter,
    shutdownGraceMs: options.shutdownGrace,
    sseHeartbeatMs: options.sseHeartbeat,
    logger: options.logLevel === 'silent' ? false : { level: options.logLevel, ...(scope === 'cluster' ? { stream: process.stdout } : {}) },
  };
}

const ADMIN_TOKEN_MIN_LENGTH = 16;

/**
 * Refuses option values the server would only reject (or trip over) after
 * the database is opened and migrated, naming the option as typed. The
 * secret itself is never echoed: a too-short one may be a truncated real one.
 */
function checkServeOptions(options: ServeOptions): void {
  if (options.jwtSecret !== undefined && options.jwtSecret !== '' && Buffer.byteLength(options.jwtSecret) < 32) {
    throw new UsageError(
      `--jwt-secret (or CHATKEEP_JWT_SECRET) must be at least 32 bytes, it has ${Buffer.byteLength(options.jwtSecret)}: HS256 needs a 256-bit key (e.g. \`openssl rand -hex 32\`)`,
    );
  }
  if (options.jwksUrl) checkHttpUrl('--jwks-url (or CHATKEEP_JWKS_URL)', options.jwksUrl);
  // The admin token opens every user's data to whoever holds it, so it must not be guessable ("admin", "secret").
  if (options.adminToken !== undefined && options.adminToken !== '' && options.adminToken.length < ADMIN_TOKEN_MIN_LENGTH) {
    throw new UsageError(
      `--admin-token (or CHATKEEP_ADMIN_TOKEN) must be at least ${ADMIN_TOKEN_MIN_LENGTH} characters, it has ${options.adminToken.length}: it grants every admin route (e.g. \`openssl rand -hex 32\`)`,
    );
  }
  // Claims of JWTs, when no JWT is accepted: they did nothing, and every JWT got a 401 nobody could explain.
  for (const [name, value] of [['--jwt-issuer (or CHATKEEP_JWT_ISSUER)', options.jwtIssuer], ['--jwt-audience (or CHATKEEP_JWT_AUDIENCE)', options.jwtAudience]] as const) {
    if (value && !options.jwtSecret && !options.jwksUrl) {
      throw new UsageError(`${name} checks JWTs, but none are accepted: give --jwt-secret (or CHATKEEP_JWT_SECRET) or --jwks-url (or CHATKEEP_JWKS_URL), or leave it unset`);
    }
  }
  if (options.agent === 'openai' && options.openaiBaseUrl) {
    checkHttpUrl('--openai-base-url (or CHATKEEP_OPENAI_BASE_URL)', options.openaiBaseUrl);
  }
}

function checkHttpUrl(name: string, value: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${name}: expected an http:// or https:// URL, got "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${name}: expected an http:// or https:// URL, got "${value}"`);
  }
}

/** What {@link listenOrExplain} needs of a Fastify instance. */
export interface Listener {
  readonly log: { level: string; info(message: string): void };
  listen(options: { host: string; port: number }): Promise<string>;
}

/**
 * Listens, turning the operating system's refusals (port taken, address not
 * on this machine, no permission) into a sentence that names the option to
 * change, instead of an internal error: the words of `probeListen`
 * (listen-probe.ts), which finds most of them before the database is opened.
 *
 * Fastify logs "Server listening at …" from inside `listen()`, and its log
 * line reaches stdout whenever pino's asynchronous writer (or, under
 * `--workers`, another process) gets to it: in the middle of the banner. So
 * the line is held back here (the logger is quiet for the span of the call;
 * no request can be logged meanwhile, as none is handled before the promise
 * settles) and {@link logListening} writes it once the banner is out.
 */
export async function listenOrExplain(app: Listener, host: string, port: number): Promise<string> {
  const level = app.log.level;
  if (SHOWS_INFO.has(level)) app.log.level = 'warn';
  try {
    return await app.listen({ host, port });
  } catch (error) {
    throw listenRefusal(error, host, port);
  } finally {
    app.log.level = level;
  }
}

const SHOWS_INFO: ReadonlySet<string> = new Set(['info', 'debug', 'trace']);

/** The log line Fastify's `listen()` would have written, in its words, for log readers that look for it. */
export function logListening(app: Listener, address: string): void {
  app.log.info(`Server listening at ${address}`);
}

function serverAgent(options: ServeOptions): ServerAgent {
  if (options.agent === 'demo') return { name: 'demo', run: demoAgent, stream: demoStreamingAgent() };
  if (!options.openaiModel) throw new UsageError('--agent openai needs --openai-model (or CHATKEEP_OPENAI_MODEL)');
  const agent = openAiCompatibleAgent({
    baseUrl: options.openaiBaseUrl ?? 'https://api.openai.com/v1',
    model: options.openaiModel,
    ...(options.openaiApiKey ? { apiKey: options.openaiApiKey } : {}),
  });
  return { name: `openai:${options.openaiModel}`, ...agent };
}

/** What {@link printBanner} says besides the server's options. */
export interface BannerFacts {
  /** Processes serving the port (`--workers`); 1 for one process. */
  readonly workers: number;
  /** Whether to issue and print an API key for the demo user (demo-key.ts, `wantsDemoKey`). */
  readonly demoKey: boolean;
}

/**
 * Says where the server is and how to call it. When `facts.demoKey` (the
 * start that installed the schema, without JWT auth or `--no-demo-key`) it
 * issues an API key for the demo user and prints it once, with a curl line
 * that works as printed; otherwise it says how to get a key.
 */
export async function printBanner(output: Output, store: Store, address: string, options: ServerOptions, facts: BannerFacts): Promise<void> {
  const processes = facts.workers > 1 ? `, ${facts.workers} worker processes` : '';
  output.line(`chatkeep serve: listening on ${address} (${store.description}), agent: ${options.agent.name}${processes}`);
  output.line(`  OpenAPI document: ${address}/openapi.json   health: ${address}/healthz   readiness: ${address}/readyz`);
  const modes = [options.auth.jwtSecret || options.auth.jwksUrl ? 'JWT' : undefined, 'API keys'].filter(Boolean).join(' and ');
  output.line(`  auth: every /v1 route needs "Authorization: Bearer <token>" (${modes})${options.auth.adminToken ? '; admin routes: the admin token' : '; admin routes disabled (no --admin-token)'}`);
  const limit = options.rateLimit;
  if (limit !== undefined && 'scope' in limit && limit.scope === 'database') {
    output.line(`  rate limits: ${limit.max} requests per user per minute, counted in the database for every server on it`);
  }
  if (store.kind === 'postgres') {
    output.line(
      store.rowLevelSecurity
        ? '  row-level security: on (this role is bound by the policies: a query sees one user\'s rows)'
        : '  row-level security: off for this connection (it owns the tables or is a superuser; see `chatkeep migrate grant --help`)',
    );
  }
  if (facts.demoKey) {
    const { secret } = await store.apiKeys.create(DEMO_USER, { name: 'first run of chatkeep serve' });
    output.line('');
    output.line(`First run: issued an API key for the user "${DEMO_USER}". It is shown this once; chatkeep keeps only its hash.`);
    output.line(`  ${secret}`);
    output.line('Try it:');
    output.line(`  curl -s -X POST -H "Authorization: Bearer ${secret}" ${address}/v1/conversations`);
    output.line(`  curl -s -H "Authorization: Bearer ${secret}" ${address}/v1/me`);
  } else {
    // Without --admin-token the admin routes do not exist: pointing at them would send the user to a 401.
    const cli = `\`chatkeep keys create --user <user>\`${store.kind === 'pglite' ? ' with the server stopped' : ''}`;
    output.line(
      options.auth.adminToken
        ? `  a token for a user: POST ${address}/v1/admin/users/<user>/api-keys with the admin token, or ${cli}`
        : `  a token for a user: ${cli}, or restart with --admin-token and POST ${address}/v1/admin/users/<user>/api-keys`,
    );
  }
}

/** Why a server stops: a signal, or the npm process that started it exited (see parent-exit.ts). */
export type StopReason = NodeJS.Signals | 'parent exited';

/**
 * Resolves with the first SIGINT or SIGTERM, or, under an npm script, when
 * the npm process exits (a SIGTERM sent to npm does not reach the server).
 * A signal while draining calls `hardStop` (default: exit at once, 130 or 143).
 */
export function shutdownSignal(hardStop: (code: number) => void = (code) => process.exit(code)): Promise<StopReason> {
  return new Promise((resolve) => {
    const parent = watchParentExit();
    const stop = (reason: StopReason) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      parent?.dispose();
      process.once('SIGINT', () => hardStop(130));
      process.once('SIGTERM', () => hardStop(143));
      resolve(reason);
    };
    const onSignal = (signal: NodeJS.Signals) => stop(signal);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    void parent?.exited.then(() => stop('parent exited'));
  });
}

/** The line a server stopping because its npm process exited writes first. */
export const PARENT_EXITED_LINE = 'chatkeep serve: the npm process that started this server exited; stopping as on SIGTERM';
