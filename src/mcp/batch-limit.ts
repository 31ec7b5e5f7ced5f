/** Most JSON-RPC messages one HTTP request may carry, unless told otherwise. */
export const DEFAULT_MAX_BATCH = 20;

/**
 * Why a request body's JSON-RPC batch is refused, or `undefined` when it is
 * not a batch or an acceptable one. MCP dropped batches in its 2025-06-18
 * revision (the SDK's clients never send one), but the SDK's server still
 * runs every message of one concurrently and answers them in one response:
 * a 1 MiB body of `list_tasks` calls would hold thousands of transactions
 * and build a response of hundreds of megabytes. An empty batch is an
 * Invalid Request (JSON-RPC 2.0 section 6), which the SDK would answer 202.
 */
export function batchProblem(body: unknown, maxBatch: number): string | undefined {
  if (!Array.isArray(body)) return undefined;
  if (body.length === 0) return 'Invalid Request: an empty batch';
  if (body.length > maxBatch)
    return `Invalid Request: at most ${maxBatch} messages in a batch (${body.length} sent)`;
  return undefined;
}
