import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerChild } from './server-child.js';

/** What `chatkeep serve` is started with. */
export interface CliServerConfig {
  /** chatkeep's built CLI, `<repo>/dist/cli/main.js`. */
  readonly main: string;
  /** PostgreSQL URL: `--workers` needs PostgreSQL. */
  readonly databaseUrl: string;
  readonly workers: number;
  readonly jwtSecret: string;
  /** `--rate-limit`: requests per user per minute (the CLI accepts up to 1,000,000). */
  readonly rateLimit: number;
}

/** The banner's last line (src/cli/serve-cluster.ts); the URL is on its first. */
const BANNER_END = 'Stop with Ctrl-C or SIGTERM: in-flight turns finish first.';
const LISTENING = /^chatkeep serve: listening on (http:\/\/\S+)/m;
/** Migrating (a no-op: the library migrated the database already) and forking take a second or two. */
const START_TIMEOUT_MS = 60_000;

/**
 * Starts the real CLI, `node dist/cli/main.js --database-url … serve
 * --workers N --log-level info …`, as an operator would, and resolves once
 * its banner is complete. Its stdout — the banner, then every worker's JSON
 * request-log line — goes to a file in a temporary folder, polled for the
 * banner and removed at the end: like the one-process server's log to
 * /dev/null, a file costs the server a plain write and the bench nothing (a
 * pipe would cost the bench the reading, and the server the pipe's
 * back-pressure). Its stderr (migration warnings, "draining…") is passed
 * through to the bench's progress output. `pid` is the primary's: the
 * workers are its children, which is why run.ts measures the whole process
 * tree.
 */
export async function startCliServer(config: CliServerConfig): Promise<ServerChild> {
  if (!existsSync(config.main))
    throw new Error(`${config.main} is missing: build chatkeep first (npm run build:chatkeep)`);
  const args = [
    config.main,
    '--database-url',
    config.databaseUrl,
    'serve',
    '--workers',
    String(config.workers),
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--jwt-secret',
    config.jwtSecret,
    '--rate-limit',
    String(config.rateLimit),
    '--log-level',
    'info',
  ];
  const folder = mkdtempSync(join(tmpdir(), 'ck-bench-serve-'));
  const logFile = join(folder, 'stdout.log');
  const fd = openSync(logFile, 'w');
  const child = spawn(process.execPath, args, { stdio: ['ignore', fd, 'inherit'] });
  closeSync(fd);
  const removeLog = () => rmSync(folder, { recursive: true, force: true });
  const pid = child.pid;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  if (pid === undefined) throw new Error('chatkeep serve did not start');
  let timer: NodeJS.Timeout | undefined;
  let poll: NodeJS.Timeout | undefined;
  const url = await new Promise<string>((resolve, reject) => {
    poll = setInterval(() => {
      const banner = readFileSync(logFile, 'utf8');
      if (!banner.includes(BANNER_END)) return;
      const match = LISTENING.exec(banner);
      if (match?.[1] === undefined) {
        reject(new Error('chatkeep serve printed its banner without a "listening on" line'));
      } else {
        resolve(match[1]);
      }
    }, 50);
    timer = setTimeout(
      () => reject(new Error(`chatkeep serve printed no banner in ${START_TIMEOUT_MS / 1000} s`)),
      START_TIMEOUT_MS,
    );
    void exited.then((code) =>
      reject(new Error(`chatkeep serve exited with ${code} before its banner was complete`)),
    );
  })
    .catch((error: unknown) => {
      // Node's cluster ends the workers when their primary goes away.
      child.kill('SIGKILL');
      removeLog();
      throw error;
    })
    .finally(() => {
      clearTimeout(timer);
      clearInterval(poll);
    });
  return {
    url,
    pid,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const code = await exited;
      removeLog();
      if (code !== 0) throw new Error(`chatkeep serve exited with ${code}, not 0, on SIGTERM`);
    },
  };
}
