import { ChatkeepError } from '../../errors/index.js';

/**
 * The error a rehearsal stopped through its `signal` rejects with
 * (CK_SHUTTING_DOWN): by then the copy it made has been removed. The abort
 * reason, when it is a string (the CLI passes the signal's name), is named.
 *
 * @example
 * if (signal?.aborted) throw rehearsalStopped(signal);
 */
export function rehearsalStopped(signal: AbortSignal): ChatkeepError {
  const why = typeof signal.reason === 'string' ? ` (${signal.reason})` : '';
  return new ChatkeepError('CK_SHUTTING_DOWN', `The rehearsal was stopped before it finished${why}; its copy was discarded and the target was not changed`, {
    field: 'rehearse',
  });
}

/** Whether `signal` was aborted. A function, not `signal?.aborted`, so the compiler does not narrow a flag an abort listener can change between two checks. */
export function isStopped(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}
