export { buildServer, type ChatkeepServer } from './build-server.js';
export type { ServerOptions, AuthOptions, ServerAgent } from './server-options.js';
export type { Principal } from './auth/principal.js';
export { answerRateLimitHits, RateLimitCounts } from './cluster/rate-limit-counts.js';
