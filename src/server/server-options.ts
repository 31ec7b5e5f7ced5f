import type { Agent, StreamingAgent } from '../store/index.js';
import type { AuthFailureLimitOptions } from './auth-failure-limiter.js';

/** How the server tells who is calling (issue 3 "Auth"). Every mode requires a token. */
export interface AuthOptions {
  /** HS256 shared secret for JWTs (at least 32 bytes). */
  readonly jwtSecret?: string;
  /** JWKS URL for JWTs signed with asymmetric keys (RS256, ES256, EdDSA…). */
  readonly jwksUrl?: string;
  /** Required `iss` claim, when set. */
  readonly issuer?: string;
  /** Required `aud` claim, when set. */
  readonly audience?: string;
  /** The credential for /v1/admin routes; admin routes answer 401 when unset. No white space (CK_CONFIG otherwise). */
  readonly adminToken?: string;
  /** How long a verified API key is trusted without another lookup (default 5,000 ms; 0 = every request). */
  readonly apiKeyCacheMs?: number;
}

/** The agent behind the `run` and `stream` endpoints. */
export interface ServerAgent {
  /** Shown in logs and /readyz. */
  readonly name: string;
  readonly run: Agent;
  readonly stream: StreamingAgent;
}

export interface ServerOptions {
  readonly auth: AuthOptions;
  readonly agent: ServerAgent;
  /** Largest accepted request body in bytes (default 1 MiB); larger ones get 413. */
  readonly bodyLimit?: number;
  /**
   * Requests per user per window (default 600 per 60,000 ms); over it, 429
   * with Retry-After. Counted in this process; with `scope: 'cluster'` in a
   * worker of `chatkeep serve --workers`, by the cluster's primary for all
   * its workers (the primary must answer: see `answerRateLimitHits`); with
   * `scope: 'database'`, in the database (`store.rateLimits`) for every
   * server on it, one statement per request (windows of 1 ms to a day).
   */
  readonly rateLimit?: { readonly max: number; readonly windowMs: number; readonly scope?: 'process' | 'cluster' | 'database' };
  /**
   * Failed authentications (401s) per client address per window (default 100
   * per 60,000 ms); an address that reaches it gets 429 CK_RATE_LIMITED, with
   * Retry-After, on every route that needs a token — before the token is
   * looked at — until the window ends. `false` or `max: 0` turns it off.
   * `scope` as for `rateLimit` (docs/http.md, "Failed authentication").
   *
   * @example
   * buildServer(store, { auth, agent, authFailureLimit: { max: 20, windowMs: 60_000 } })
   */
  readonly authFailureLimit?: false | AuthFailureLimitOptions;
  /**
   * The reverse proxies whose `X-Forwarded-For` tells the client's address
   * (IP addresses, CIDR ranges, or `loopback`, `linklocal`, `uniquelocal`).
   * Unset, the client is the connection's peer: behind a proxy, every client
   * then shares the proxy's address, also for `authFailureLimit`. Never
   * trust a range that clients can connect from: they would choose their own
   * address.
   */
  readonly trustProxy?: readonly string[];
  /** Agent time limit for run/stream (default 60,000 ms; 1 ms to an hour, else CK_CONFIG at build). */
  readonly agentTimeoutMs?: number;
  /** A streamed turn with no news for this long is aborted by the sweeper (default 120,000 ms; 1 s to a day, else CK_CONFIG at build). */
  readonly abandonAfterMs?: number;
  /**
   * A streamed turn's event stream sends a comment line (`: keep-alive`)
   * after this long without an event (default 15,000 ms; 0 = never), so that
   * proxies and load balancers do not close it while the agent is silent.
   */
  readonly sseHeartbeatMs?: number;
  /** How long graceful shutdown waits for in-flight turns before aborting them (default 30,000 ms). */
  readonly shutdownGraceMs?: number;
  /** Fastify logger: true/false or a pino options object (default: info-level JSON lines). */
  readonly logger?: boolean | Record<string, unknown>;
}

export const SERVER_DEFAULTS = {
  bodyLimit: 1_048_576,
  rateLimit: { max: 600, windowMs: 60_000 },
  authFailureLimit: { max: 100, windowMs: 60_000 },
  agentTimeoutMs: 60_000,
  abandonAfterMs: 120_000,
  shutdownGraceMs: 30_000,
  sseHeartbeatMs: 15_000,
  apiKeyCacheMs: 5_000,
} as const;
