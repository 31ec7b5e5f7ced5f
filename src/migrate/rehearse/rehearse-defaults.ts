/** A write-blocking lock held longer than this flags its step unless told otherwise: the bound on a writer's stall. */
export const DEFAULT_MAX_LOCK_MS = 200;
/** Time between two `pg_locks` samples unless told otherwise. */
export const DEFAULT_SAMPLE_INTERVAL_MS = 5;
