/**
 * Rehearsals: run a migration plan on a throw-away copy of the database and
 * report the locks each step held, and for how long (docs/rehearse.md).
 */
export { rehearse, DEFAULT_MAX_LOCK_MS, DEFAULT_SAMPLE_INTERVAL_MS, type RehearseOptions } from './rehearse.js';
export type { HeldLock, RehearsalReport, RehearsedMigration, RehearsedStep } from './rehearsal-report.js';
export type { OpenCopyOptions, OpenedCopy, RehearsalCopy } from './rehearsal-copy.js';
export { pgliteClone } from './pglite-clone.js';
export { postgresDumpCopy, DEFAULT_DUMP_LOCK_WAIT_MS, REHEARSAL_DATABASE_PREFIX, type PostgresDumpCopyOptions } from './postgres-dump-copy.js';
export { postgresScratch } from './postgres-scratch.js';
export { blocksReads, blocksWrites, LOCK_MODES, type LockMode } from './lock-modes.js';
