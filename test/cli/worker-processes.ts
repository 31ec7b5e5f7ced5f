import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect } from 'vitest';
import { createPgDatabase } from '../support/backends.js';
import { assertBuilt, chatkeep, target } from './cli-process.js';

/** The live child processes of `pid` (a `serve --workers` primary's workers). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Whether a process with this pid exists (a zombie counts). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A fresh PostgreSQL database with chatkeep migrated by the CLI, for the
 * suite, dropped after it: the `--database-url` location to pass to
 * `serve` and `chatkeep`, and the URL.
 */
export function useMigratedPostgres(): { readonly location: () => string[]; readonly url: () => string } {
  let url = '';
  let drop: () => Promise<void> = () => Promise.resolve();
  beforeAll(async () => {
    assertBuilt();
    const db = await createPgDatabase();
    drop = db.drop;
    url = db.url;
    const run = await chatkeep([...target({ url }), 'migrate', 'up']);
    expect(run.code, run.stderr).toBe(0);
  });
  afterAll(() => drop());
  return { location: () => target({ url }), url: () => url };
}
