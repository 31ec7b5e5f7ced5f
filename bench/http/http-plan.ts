/** Everything that sizes an HTTP benchmark run, from the environment. `BENCH_QUICK=1` shrinks it to a smoke test. */
export interface HttpPlan {
  readonly quick: boolean;
  /** Seeded store: users × conversationsPerUser conversations of `turns` turns (2 messages each). */
  readonly users: number;
  readonly conversationsPerUser: number;
  readonly turns: number;
  /** Concurrency of the seeding loop (library appends). */
  readonly seedConcurrency: number;
  /** `limit` of each history page. */
  readonly pageSize: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly readConcurrency: readonly number[];
  readonly appendConcurrency: readonly number[];
  /** Server configurations to measure (each against the same library numbers). */
  readonly variants: readonly VariantId[];
  /** Re-runs of a cell that other processes disturbed (> 10 % of the machine). */
  readonly retries: number;
}

/**
 * - `floor`: not chatkeep's server — the bare node:http floor (http/floor-process.ts): the same
 *   library calls and JSON, the token verified once and remembered, no framework, log or rate
 *   limiter. What HTTP itself costs here; the other rows are compared with it too.
 * - `jwt`: the production path — HS256 JWT per request, info-level JSON request log (to /dev/null).
 * - `api-key`: per-user API keys (verified once, then served from the server's 5 s cache), logs as above.
 * - `jwt-no-log`: as `jwt` with Fastify's logger off, to show what request logging costs.
 * - `jwt-2-workers`: the real CLI, `chatkeep serve --workers 2` (a cluster primary and two
 *   workers sharing the port, rate limits counted by the primary), JWT, info log to stdout.
 *   PostgreSQL only.
 * - `jwt-db-limit`: as `jwt`, with the per-user rate limit counted in the database
 *   (`--rate-limit-scope database`: one more statement per request), what several machines
 *   behind a load balancer use to share one limit.
 */
export const VARIANTS = ['floor', 'jwt', 'api-key', 'jwt-no-log', 'jwt-2-workers', 'jwt-db-limit'] as const;
export type VariantId = (typeof VARIANTS)[number];

/** Variants that need PostgreSQL: `serve --workers` refuses the embedded database, which lives in one process. */
export const POSTGRES_ONLY: ReadonlySet<VariantId> = new Set(['jwt-2-workers']);

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name}: expected a positive integer, got ${raw}`);
  return value;
}

function envRetries(fallback: number): number {
  const raw = process.env['BENCH_HTTP_RETRIES'];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`BENCH_HTTP_RETRIES: expected an integer ≥ 0, got ${raw}`);
  return value;
}

function envList(name: string, fallback: readonly number[]): readonly number[] {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const values = raw.split(',').map((s) => Number(s.trim()));
  if (values.some((v) => !Number.isInteger(v) || v < 1))
    throw new Error(`${name}: expected comma-separated positive integers, got ${raw}`);
  return values;
}

/** Unset: `floor` and `jwt`, plus `jwt-2-workers` when PostgreSQL is measured. */
function envVariants(): readonly VariantId[] {
  const raw = process.env['BENCH_HTTP_VARIANTS'];
  if (raw === undefined || raw === '')
    return process.env['BENCH_SKIP_POSTGRES'] === '1'
      ? ['floor', 'jwt']
      : ['floor', 'jwt', 'jwt-2-workers'];
  const values = raw.split(',').map((s) => s.trim());
  for (const v of values) {
    if (!(VARIANTS as readonly string[]).includes(v))
      throw new Error(`BENCH_HTTP_VARIANTS: unknown variant ${v} (known: ${VARIANTS.join(', ')})`);
  }
  return values as VariantId[];
}

export function loadHttpPlan(): HttpPlan {
  const quick = process.env['BENCH_QUICK'] === '1';
  return {
    quick,
    users: envInt('BENCH_HTTP_USERS', quick ? 10 : 100),
    conversationsPerUser: envInt('BENCH_HTTP_CONVERSATIONS_PER_USER', quick ? 4 : 10),
    turns: envInt('BENCH_HTTP_TURNS', quick ? 25 : 50),
    seedConcurrency: envInt('BENCH_HTTP_SEED_CONCURRENCY', 8),
    pageSize: envInt('BENCH_HTTP_PAGE', 50),
    warmupMs: envInt('BENCH_HTTP_WARMUP_MS', quick ? 400 : 3000),
    measureMs: envInt('BENCH_HTTP_MS', quick ? 1200 : 10_000),
    readConcurrency: envList('BENCH_HTTP_READ_CONCURRENCY', [1, 8, 32]),
    appendConcurrency: envList('BENCH_HTTP_APPEND_CONCURRENCY', [1, 8]),
    variants: envVariants(),
    retries: envRetries(quick ? 0 : 1),
  };
}
