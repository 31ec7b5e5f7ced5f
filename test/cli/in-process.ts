// CLI tests that run the real CLI inside the test process, over migrations of
// their own, on a database of their own (cli-process.ts runs the built
// executable in a child process instead).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/run-cli.js';
import type { Migration } from '../../src/migrate/index.js';
import { createPgDatabase, type BackendName } from '../support/backends.js';
import { target, type CliRun } from './cli-process.js';

/**
 * The real CLI (`runCli`) in this process, from source, over a host's
 * migration set: quicker than a child process, and the migrations can be
 * any test's own.
 */
export function inProcessChatkeep(migrations: readonly Migration[]): (args: readonly string[]) => Promise<CliRun> {
  return async (args) => {
    let stdout = '';
    let stderr = '';
    const code = await runCli(
      args,
      {
        stdout: { write: (text: string) => (stdout += text) },
        stderr: { write: (text: string) => (stderr += text) },
      },
      { migrations },
    );
    return { code, stdout, stderr };
  };
}

/**
 * A brand-new database for a CLI test, as CLI arguments: a PGlite folder
 * under the OS temp dir, or a scratch PostgreSQL database; and how to remove it.
 */
export async function freshTarget(
  backend: BackendName,
  prefix: string,
): Promise<{ readonly where: string[]; readonly cleanup: () => Promise<void> }> {
  if (backend === 'pglite') {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    return { where: target({ dataDir: join(dir, 'data') }), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const scratch = await createPgDatabase();
  return { where: target({ url: scratch.url }), cleanup: scratch.drop };
}
