import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { childScript } from '../support/child-scripts.js';

/** The built executable: these tests run what users run, not the sources. */
export const CLI_PATH = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** Fails with an actionable message when `npm run build` has not been run. */
export function assertBuilt(): void {
  if (!existsSync(CLI_PATH)) {
    throw new Error(`${CLI_PATH} does not exist: run \`npm run build\` before the CLI tests`);
  }
}

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `node dist/cli/main.js …args` and resolves with its exit code and
 * output, whatever the exit code. DATABASE_URL and CHATKEEP_DATA_DIR are
 * removed from the child's environment so a developer's shell cannot point
 * the tests at a real database.
 */
export function chatkeep(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<CliRun> {
  return runNode([CLI_PATH], args, env, 30_000);
}

/** The CLI over a host's migrations with invariants (fixtures/host-cli.ts, over dist/). */
export const HOST_CLI_PATH = fileURLToPath(new URL('./fixtures/host-cli.ts', import.meta.url));

/**
 * Runs the real CLI (`runCli`) over the migration set of
 * fixtures/host-migrations.ts, from source: chatkeep's own migrations
 * declare no invariants. The fixture runs transpiled (support/child-scripts.ts);
 * it loads the host's migrations besides the CLI, hence the longer timeout.
 */
export function hostChatkeep(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<CliRun> {
  return runNode([childScript(HOST_CLI_PATH)], args, env, 120_000);
}

function runNode(
  node: readonly string[],
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  timeout: number,
): Promise<CliRun> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  if (!('DATABASE_URL' in env)) delete childEnv['DATABASE_URL'];
  if (!('CHATKEEP_DATA_DIR' in env)) delete childEnv['CHATKEEP_DATA_DIR'];
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...node, ...args],
      { env: childEnv, timeout },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== 'number') {
          reject(
            new Error(
              // Say when it was our timeout that stopped it: on a busy machine that is the likely cause.
              `chatkeep ${args.join(' ')} did not exit normally${error.killed ? ` (killed after ${timeout} ms)` : ''}: ${error.message}\n${stderr}`,
            ),
          );
          return;
        }
        resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
      },
    );
  });
}

/** `--database-url <url>` or `--data-dir <dir>`, whichever the backend under test needs. */
export function target(location: { readonly url?: string; readonly dataDir?: string }): string[] {
  if (location.url !== undefined) return ['--database-url', location.url];
  if (location.dataDir !== undefined) return ['--data-dir', location.dataDir];
  throw new Error('target: pass url or dataDir');
}
