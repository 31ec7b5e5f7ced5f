import { ChatkeepError } from '../errors/index.js';

/**
 * The turns this server is working on right now (agent runs, streams), so
 * graceful shutdown can wait for them and, past its grace period, abort the
 * rest — an aborted turn stores nothing, so none is lost half-way.
 */
/** How long aborted turns may take to write their end before the server closes anyway. */
const ABORT_SETTLE_MS = 5_000;

export class InflightTurns {
  readonly #active = new Set<AbortController>();
  #idle: (() => void)[] = [];
  /**
   * Set once the drain is over (nothing was in flight, or the grace ran
   * out): a request let in before the shutdown whose handler only starts
   * now (its body came late) is refused, instead of running its agent
   * unwatched while the server closes, past the grace, up to the agent timeout.
   */
  #drained = false;

  /** Registers a turn; call the returned function when it ends. CK_SHUTTING_DOWN once the drain is over. */
  start(): { readonly signal: AbortSignal; readonly done: () => void } {
    if (this.#drained) throw new ChatkeepError('CK_SHUTTING_DOWN');
    const controller = new AbortController();
    this.#active.add(controller);
    return {
      signal: controller.signal,
      done: () => {
        this.#active.delete(controller);
        if (this.#active.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
      },
    };
  }

  get size(): number {
    return this.#active.size;
  }

  /** Resolves when no turn is in flight, or after `graceMs`, aborting what is left. */
  async drain(graceMs: number): Promise<{ finished: boolean }> {
    if (this.#active.size === 0) {
      this.#drained = true;
      return { finished: true };
    }
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => this.#idle.push(() => resolve(true)));
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceMs)));
    const finished = await Promise.race([idle, late]);
    clearTimeout(timer);
    this.#drained = true;
    if (!finished) {
      // The reason reaches the client: CK_SHUTTING_DOWN (503, Retry-After) says to retry, elsewhere if
      // need be, where CK_AGENT_FAILED blamed an agent that had done nothing wrong.
      const reason = new ChatkeepError('CK_SHUTTING_DOWN', 'The server shut down before the turn finished; nothing was saved; retry shortly');
      for (const controller of this.#active) controller.abort(reason);
      // Aborted turns still write their end (the abort in the database, the
      // error answer). Closing the server before that leaves their
      // connections busy when it closes the idle ones, and they linger until
      // the client's keep-alive ends (~4 s with fetch); so wait for them,
      // a bounded while.
      const settled = new Promise<void>((resolve) => (timer = setTimeout(resolve, ABORT_SETTLE_MS)));
      await Promise.race([idle, settled]);
      clearTimeout(timer);
    }
    return { finished };
  }
}
