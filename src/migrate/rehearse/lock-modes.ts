/**
 * PostgreSQL's eight table-lock modes, weakest first, as the manual names
 * them ("Explicit Locking", table 13.2). `pg_locks.mode` spells them
 * `AccessExclusiveLock`; reports use the manual's words.
 */
export const LOCK_MODES = [
  'ACCESS SHARE',
  'ROW SHARE',
  'ROW EXCLUSIVE',
  'SHARE UPDATE EXCLUSIVE',
  'SHARE',
  'SHARE ROW EXCLUSIVE',
  'EXCLUSIVE',
  'ACCESS EXCLUSIVE',
] as const;

export type LockMode = (typeof LOCK_MODES)[number];

/**
 * The modes that conflict with ROW EXCLUSIVE, the lock every INSERT, UPDATE
 * and DELETE takes: while one of these is held, the application's writes to
 * the relation wait (table 13.2). ACCESS EXCLUSIVE blocks reads as well.
 */
const WRITE_BLOCKING: ReadonlySet<string> = new Set(['SHARE', 'SHARE ROW EXCLUSIVE', 'EXCLUSIVE', 'ACCESS EXCLUSIVE']);

/** Whether a lock held in `mode` makes the application's writes to the relation wait. */
export function blocksWrites(mode: string): boolean {
  return WRITE_BLOCKING.has(mode);
}

/** Whether a lock held in `mode` makes plain SELECTs on the relation wait (only ACCESS EXCLUSIVE). */
export function blocksReads(mode: string): boolean {
  return mode === 'ACCESS EXCLUSIVE';
}

/** `AccessExclusiveLock` → `ACCESS EXCLUSIVE`; other text is upper-cased unchanged. */
export function lockModeName(pgLocksMode: string): string {
  return pgLocksMode
    .replace(/Lock$/, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toUpperCase();
}

/** Strongest first; unknown modes last. */
export function compareModes(a: string, b: string): number {
  return rank(b) - rank(a);
}

function rank(mode: string): number {
  return LOCK_MODES.indexOf(mode as LockMode);
}
