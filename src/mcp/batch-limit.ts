/** Most JSON-RPC messages one HTTP request may carry, unless told otherwise. */
export const DEFAULT_MAX_BATCH = 20;

/**
 * Why a request body's JSON-RPC batch is refused (empty, too long, or two
 * requests with one id), or `undefined` when it is not a batch or an
 * acceptable one. MCP dropped batches in its 2025-06-18 revision (the
 * SDK's clients never send one), but the SDK's server still
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
  // The SDK runs every request of a batch but keeps one answer per id: of
  // two calls sharing an id, both would write and one answer be lost.
  // JSON-RPC 2.0 leaves answering them to the server; refusing the batch
  // before anything runs is the only way the client learns every outcome.
  const ids = new Set<unknown>();
  for (const message of body) {
    if (typeof message !== 'object' || message === null || !('method' in message) || !('id' in message)) continue;
    const id = (message as { id: unknown }).id;
    if (ids.has(id)) return `Invalid Request: the request id ${JSON.stringify(id)} is used twice in one batch`;
    ids.add(id);
  }
  return undefined;
}
