import { spawn } from 'node:child_process';
import { ChatkeepError } from '../../errors/index.js';

/**
 * libpq's connection settings for a URL, with the password moved out of the
 * URL into PGPASSWORD: a command line is visible to every user of the
 * machine (`ps`), the environment is not. libpq (and node-postgres) also
 * take the password as a `?password=` parameter, which wins over one in
 * the user part; both go.
 */
export function libpqArgs(url: string): { readonly dbname: string; readonly env: NodeJS.ProcessEnv } {
  const parsed = new URL(url);
  const password = parsed.searchParams.get('password') ?? decodeURIComponent(parsed.password);
  parsed.password = '';
  parsed.searchParams.delete('password');
  const env: NodeJS.ProcessEnv = { ...process.env, PGAPPNAME: 'chatkeep-rehearsal-copy' };
  if (password !== '') env['PGPASSWORD'] = password;
  return { dbname: parsed.toString(), env };
}

/** Throws CK_CONFIG unless `tool --version` runs: a clear message before anything is created. */
export async function assertTool(tool: string): Promise<void> {
  const outcome = await run(tool, ['--version'], process.env);
  if (outcome.spawnError !== undefined || outcome.code !== 0) {
    throw new ChatkeepError(
      'CK_CONFIG',
      `Cannot copy the database for the rehearsal: ${tool} ${outcome.spawnError !== undefined ? `is not on PATH (${outcome.spawnError})` : `--version exited ${outcome.code}`}; install the PostgreSQL client tools (same major version as the server or newer), or give a copy you made yourself (--rehearse-url)`,
      { field: 'rehearse', tool },
    );
  }
}

/**
 * `pg_dump <from> | psql <to>`: a plain-SQL dump streamed into an empty
 * database, stopping at the first error. Owners and grants are not copied
 * (`--no-owner --no-privileges`): the copy belongs to the user of the URL,
 * who may not be allowed to give objects to other roles, and neither changes
 * which locks DDL takes.
 */
export async function dumpInto(fromUrl: string, toUrl: string, options: { readonly lockWaitMs: number; readonly signal?: AbortSignal }): Promise<void> {
  const { signal } = options;
  const from = libpqArgs(fromUrl);
  const to = libpqArgs(toUrl);
  // `signal`: a stopped rehearsal kills both tools (SIGTERM); left running,
  // they would go on reading the target and filling a copy nobody drops.
  const stop = signal !== undefined ? { signal } : {};
  // --lock-wait-timeout: pg_dump takes ACCESS SHARE on every table up
  // front; behind an ACCESS EXCLUSIVE held on the target (a migration or DDL
  // in progress, an idle transaction after one) it would otherwise wait for
  // ever, and the rehearsal with it.
  const dump = spawn('pg_dump', ['--no-owner', '--no-privileges', `--lock-wait-timeout=${options.lockWaitMs}`, '--dbname', from.dbname], { env: from.env, stdio: ['ignore', 'pipe', 'pipe'], ...stop });
  const restore = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--dbname', to.dbname], { env: to.env, stdio: ['pipe', 'ignore', 'pipe'], ...stop });
  // psql stopping first makes pg_dump's writes fail with EPIPE; psql's error is the one to report.
  restore.stdin.on('error', () => undefined);
  dump.stdout.pipe(restore.stdin);
  const [dumped, restored] = await Promise.all([finished(dump), finished(restore)]);
  const failed = [
    restored.code !== 0 || restored.spawnError !== undefined ? `psql: ${restored.spawnError ?? errorLines(restored.stderr)}` : undefined,
    dumped.code !== 0 || dumped.spawnError !== undefined
      ? `pg_dump: ${dumped.spawnError ?? errorLines(dumped.stderr)}${lockWaitExpired(dumped.stderr) ? ` (waited ${options.lockWaitMs} ms for a lock on a table of the target: a migration or other DDL holds it, or a transaction left open after one; retry when it is done)` : ''}`
      : undefined,
  ].filter((x) => x !== undefined);
  if (failed.length > 0) {
    throw new ChatkeepError('CK_CONFIG', `Cannot copy the database for the rehearsal: ${failed.join('; ')}`, { field: 'rehearse' });
  }
}

/**
 * pg_dump gave up waiting for a table's lock. It applies
 * --lock-wait-timeout as a statement_timeout around its LOCK TABLE
 * statements (and resets it to 0 afterwards), so a statement timeout from
 * pg_dump is that wait; newer servers may say "lock timeout".
 */
function lockWaitExpired(stderr: string): boolean {
  return /statement timeout|lock timeout|could not obtain lock/i.test(stderr);
}

interface ToolOutcome {
  readonly code: number | null;
  readonly stderr: string;
  readonly spawnError?: string;
}

function run(tool: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<ToolOutcome> {
  return finished(spawn(tool, args, { env, stdio: ['ignore', 'ignore', 'pipe'] }));
}

function finished(child: ReturnType<typeof spawn>): Promise<ToolOutcome> {
  return new Promise((resolve) => {
    let stderr = '';
    let spawnError: string | undefined;
    child.stderr?.on('data', (chunk: Buffer) => {
      // Enough for the messages; a runaway tool must not fill memory.
      if (stderr.length < 16_384) stderr += chunk.toString('utf8');
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      spawnError = error.code ?? error.message;
    });
    child.on('close', (code) => resolve({ code, stderr, ...(spawnError !== undefined ? { spawnError } : {}) }));
  });
}

/**
 * The error lines of a tool's stderr, without CONTEXT/DETAIL lines: psql
 * prints the offending COPY row there, and rows are user data (chat
 * messages) that must not reach logs (STYLE 9).
 */
function errorLines(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /error|fatal|could not|mismatch/i.test(l) && !/^(CONTEXT|DETAIL|LINE \d+|HINT)\b/.test(l));
  return (lines.slice(0, 3).join(' / ') || 'failed without a message').slice(0, 500);
}
