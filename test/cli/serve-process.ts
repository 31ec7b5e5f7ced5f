import { spawn, type ChildProcess } from 'node:child_process';
import { CLI_PATH } from './cli-process.js';

/** A `chatkeep serve` process on a real port, from the test's side. */
export interface RunningServer {
  readonly child: ChildProcess;
  readonly url: string;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
}

/** How long `serve` waits for the banner before it kills the server and fails. */
export const SERVE_START_LIMIT_MS = 60_000;

/** Every server started, so none outlives the suite even when a test fails half-way. */
const started: ChildProcess[] = [];

/** For `afterAll`: SIGKILLs every server a test left running. */
export function killLeftoverServers(): void {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/**
 * Starts `node dist/cli/main.js <location> serve --port 0 …` and resolves once
 * its banner is complete. DATABASE_URL and CHATKEEP_DATA_DIR are removed from
 * its environment (`env` is added to it); `location` says which database to use.
 */
export async function serve(location: readonly string[], extra: readonly string[] = [], extraEnv: Readonly<Record<string, string>> = {}): Promise<RunningServer> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv };
  delete env['DATABASE_URL'];
  delete env['CHATKEEP_DATA_DIR'];
  const child = spawn(process.execPath, [CLI_PATH, ...location, 'serve', '--port', '0', '--log-level', 'warn', '--abandon-after', '2000', ...extra], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let gaveUp: Error | undefined;
  const url = await new Promise<string>((resolve, reject) => {
    // A first start on a new PGlite folder (its cluster, then every migration) can take half a minute on
    // a busy 2-core machine. Given up on, the server is killed and only then reported: the test's cleanup
    // must not race a process still writing its data folder (rmdir ENOTEMPTY).
    const timer = setTimeout(() => {
      gaveUp = new Error(`serve did not start in ${SERVE_START_LIMIT_MS} ms: ${stdout}\n${stderr}`);
      child.kill('SIGKILL');
    }, SERVE_START_LIMIT_MS);
    child.stdout!.on('data', () => {
      const match = /listening on (http:\/\/[^\s]+)/.exec(stdout);
      if (match?.[1] !== undefined && stdout.includes('Stop with Ctrl-C')) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(gaveUp ?? new Error(`serve exited (${code}): ${stderr}`));
    });
  });
  return { child, url, stdout: () => stdout, stderr: () => stderr, exited };
}

/**
 * The startup banner (from "chatkeep serve: listening on" to "Stop with
 * Ctrl-C", both included) and the lines that came after it.
 */
export function bannerAndAfter(stdout: string): { readonly banner: readonly string[]; readonly after: readonly string[] } {
  const lines = stdout.split('\n');
  const start = lines.findIndex((line) => line.startsWith('chatkeep serve: listening on '));
  const end = lines.findIndex((line) => line.startsWith('Stop with Ctrl-C'));
  if (start === -1 || end < start) throw new Error(`no banner in:\n${stdout}`);
  return { banner: lines.slice(start, end + 1), after: lines.slice(end + 1) };
}

/** The pids of the JSON log lines that say "Server listening at …", in the order they were written. */
export function listeningLogPids(stdout: string): number[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{') && line.includes('"msg":"Server listening at '))
    .map((line) => (JSON.parse(line) as { pid: number }).pid);
}

/** One JSON request with a bearer token. */
export async function call(url: string, method: string, path: string, token: string, body?: unknown) {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, body: (await response.json()) as any };
}
