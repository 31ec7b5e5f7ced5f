import { afterAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { killLeftoverServers, listeningLogPids, serve } from './serve-process.js';
import { childPids, useMigratedPostgres } from './worker-processes.js';

/**
 * `chatkeep serve --workers N --port 0`: the port the banner names is the
 * server's for as long as it runs. When every worker had died at once, the
 * cluster closed the shared socket, and the replacements, asking again for
 * port 0, got a new one: the server went on serving where nobody knew, while
 * the address it had printed refused every connection.
 */
afterAll(killLeftoverServers);

async function healthz(url: string): Promise<number | string> {
  try {
    return (await fetch(`${url}/healthz`)).status;
  } catch (error) {
    return String((error as { cause?: { code?: string } }).cause?.code ?? error);
  }
}

const postgres = BACKENDS.find((b) => b.name === 'postgres')!;

describe.skipIf(postgres.skip)('postgres: chatkeep serve --workers 2 --port 0', () => {
  const database = useMigratedPostgres();

  it('every worker killed at once: the replacements serve the port the banner printed', async () => {
    const server = await serve(database.location(), ['--workers', '2', '--log-level', 'info']);
    try {
      const primary = server.child.pid!;
      const first = childPids(primary);
      expect(first).toHaveLength(2);
      for (const pid of first) process.kill(pid, 'SIGKILL');
      const replaced = () => childPids(primary).filter((pid) => !first.includes(pid));
      await expect.poll(() => replaced().length, { timeout: 15_000, interval: 100 }).toBe(2);
      // Both replacements listening (each logs its line once it does).
      await expect.poll(() => listeningLogPids(server.stdout()).filter((pid) => replaced().includes(pid)).length, { timeout: 15_000, interval: 100 }).toBe(2);
      const printed = new URL(server.url).port;
      const lines = server.stdout().split('\n').filter((line) => replaced().some((pid) => line.includes(`"pid":${pid},`)) && line.includes('Server listening at'));
      for (const line of lines) expect(line).toContain(`:${printed}"`);
      expect(await healthz(server.url)).toBe(200);
    } finally {
      server.child.kill('SIGTERM');
    }
    expect(await server.exited, server.stderr()).toBe(0);
  });
});
