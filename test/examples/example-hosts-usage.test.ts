import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'ck-example-usage-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** `npx tsx examples/<app>/host.ts …args` on the embedded database (no DATABASE_URL), run to its end. */
function host(
  app: string,
  args: readonly string[],
): Promise<{ code: number | null; stderr: string }> {
  const { DATABASE_URL: _, ...env } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', `examples/${app}/host.ts`, ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

/**
 * The walkthroughs' host scripts answer a mistyped or incomplete command
 * with their usage and exit code 2, before opening anything: no PGlite data
 * folder is created (and no seconds spent creating it) for a typo.
 */
describe("the example hosts' usage", () => {
  it.each([
    ['todo', ['tasks']],
    ['running-coach', ['migrat']],
    ['journal', ['rollout']],
    // Two databases named (--data-dir beats DATABASE_URL, but not --database-url), as `chatkeep` refuses them.
    ['todo', ['setup', '--database-url', 'postgres://nobody@127.0.0.1:1/x']],
    ['running-coach', ['setup', '--database-url', 'postgres://nobody@127.0.0.1:1/x']],
    ['journal', ['setup', '--database-url', 'postgres://nobody@127.0.0.1:1/x']],
  ])('%s host.ts %j: usage, exit 2, no data folder', { timeout: 20_000 }, async (app, args) => {
    const dataDir = join(scratch, `${app}-${args.join('-').replace(/[^\w-]+/g, '_') || 'none'}`);
    const { code, stderr } = await host(app, [...args, '--data-dir', dataDir]);
    expect(stderr).toMatch(/^usage: host\.ts setup /);
    expect(code).toBe(2);
    expect(existsSync(dataDir)).toBe(false);
  });
});
