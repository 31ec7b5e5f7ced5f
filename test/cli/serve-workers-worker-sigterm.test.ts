import { afterAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { killLeftoverServers, listeningLogPids, serve } from './serve-process.js';
import { childPids, useMigratedPostgres } from './worker-processes.js';

/**
 * `chatkeep serve --workers N`: SIGTERM sent to one worker (a rolling
 * restart, an operator's `kill`) drains that worker, which exits 0 and is
 * replaced. Such clean exits used to count as crashes, so restarting the
 * workers one by one — more than 5 within a minute, as any server with 6 or
 * more workers needs — made the primary "give up" and stop the whole server
 * with exit 1.
 */
afterAll(killLeftoverServers);

const postgres = BACKENDS.find((b) => b.name === 'postgres')!;

describe.skipIf(postgres.skip)('postgres: chatkeep serve --workers 2, workers restarted one by one with SIGTERM', () => {
  const database = useMigratedPostgres();

  it('7 drained restarts within a minute: each worker is replaced and the server keeps serving', async () => {
    const server = await serve(database.location(), ['--workers', '2', '--log-level', 'info']);
    const primary = server.child.pid!;
    try {
      for (let restart = 0; restart < 7; restart++) {
        const before = childPids(primary);
        const [victim] = before;
        process.kill(victim!, 'SIGTERM');
        // Until its replacement listens (or the primary gives up).
        await expect
          .poll(() => server.child.exitCode !== null || listeningLogPids(server.stdout()).some((pid) => !before.includes(pid) && childPids(primary).includes(pid)), { timeout: 15_000, interval: 50 })
          .toBe(true);
        expect(server.child.exitCode, server.stderr()).toBeNull();
      }
      // Polled: stderr and stdout are separate pipes, so the last "exited" line may trail the "listening" one.
      await expect.poll(() => server.stderr().match(/exited \(code 0\); starting another/g)?.length, { timeout: 5000, interval: 50 }).toBe(7);
      expect(server.stderr()).not.toContain('giving up');
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    } finally {
      server.child.kill('SIGTERM');
    }
    expect(await server.exited, server.stderr()).toBe(0);
  });
});
