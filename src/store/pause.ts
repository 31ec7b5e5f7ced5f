/**
 * Waits `ms`, or less if `signal` aborts meanwhile: a pause between a
 * purge's batches (up to a minute), or between a waiting run's looks at the
 * run it waits for, must not delay an abort.
 */
export function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
