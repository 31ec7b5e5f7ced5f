import { ChatkeepError } from '../../errors/index.js';

/**
 * The error a rehearsal stopped through its `signal` rejects with
 * (CK_SHUTTING_DOWN): by then the copy it made has been removed. The abort
 * reason, when it is a string (the CLI passes the signal's name), is named,
 * and so are `notes` (the server's roles changed by migrations committed
 * before the stop).
 *
 * @example
 * if (signal?.aborted) throw rehearsalStopped(signal);
 */
export function rehearsalStopped(signal: AbortSignal, notes: readonly string[] = []): ChatkeepError {
  const why = typeof signal.reason === 'string' ? ` (${signal.reason})` : '';
  // Roles are the server's: a role created by a migration committed before the stop outlives the copy.
  const target = notes.length === 0 ? 'the target was not changed' : `the target's database was not changed. ${notes.join(' ')}`;
  return new ChatkeepError('CK_SHUTTING_DOWN', `The rehearsal was stopped before it finished${why}; its copy was discarded and ${target}`, {
    field: 'rehearse',
  });
}

/** Whether `signal` was aborted. A function, not `signal?.aborted`, so the compiler does not narrow a flag an abort listener can change between two checks. */
export function isStopped(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}
