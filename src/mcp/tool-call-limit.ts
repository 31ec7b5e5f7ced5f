/** Tool calls one user may make per window over the streamable HTTP front door. */
export interface ToolCallLimitOptions {
  /** Calls per window (0 turns the limit off). */
  readonly max: number;
  readonly windowMs: number;
}

/** 600 tool calls per user per minute, the HTTP API's per-user default. */
export const DEFAULT_TOOL_CALL_LIMIT: ToolCallLimitOptions = { max: 600, windowMs: 60_000 };

/** How many `tools/call` messages a request body (one message or a batch) carries. */
export function toolCallsIn(body: unknown): number {
  const messages = Array.isArray(body) ? body : [body];
  return messages.filter((m) => typeof m === 'object' && m !== null && (m as { method?: unknown }).method === 'tools/call').length;
}

/**
 * Fixed-window counts of tool calls per user. A model stuck in a loop, or a
 * leaked token, otherwise turns into unbounded transactions on the host's
 * task tables. Counted per process: the MCP server keeps no state shared
 * between processes (docs/mcp.md).
 */
export class ToolCallLimit {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #windows = new Map<string, { count: number; endsAt: number }>();
  #nextPrune = 0;

  constructor(options: ToolCallLimitOptions) {
    this.#max = options.max;
    this.#windowMs = options.windowMs;
  }

  /**
   * Counts `calls` tool calls for `userId`. Returns 0 when they may run, else
   * the milliseconds until the user's window ends (the calls are not counted:
   * a refused request used nothing).
   */
  take(userId: string, calls: number): number {
    if (this.#max === 0 || calls === 0) return 0;
    const now = Date.now();
    this.#prune(now);
    let window = this.#windows.get(userId);
    if (window === undefined || window.endsAt <= now) {
      window = { count: 0, endsAt: now + this.#windowMs };
      this.#windows.set(userId, window);
    }
    if (window.count + calls > this.#max) return window.endsAt - now;
    window.count += calls;
    return 0;
  }

  get max(): number {
    return this.#max;
  }

  // Ended windows are dropped at most once a second: memory follows the users active in the last window.
  #prune(now: number): void {
    if (now < this.#nextPrune) return;
    this.#nextPrune = now + 1000;
    for (const [user, window] of this.#windows) if (window.endsAt <= now) this.#windows.delete(user);
  }
}
