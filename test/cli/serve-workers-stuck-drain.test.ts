import { afterAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { killLeftoverServers, serve } from './serve-process.js';
import { alive, childPids, useMigratedPostgres } from './worker-processes.js';

/**
 * `chatkeep serve --workers N`: SIGTERM ends the server within
 * `--shutdown-grace` and a bounded margin, even when a worker never finishes
 * its drain (its event loop wedged by a runaway computation, a process
 * stopped). The primary used to wait for such a worker forever, so the
 * server never exited and a supervisor could only kill it.
 */
afterAll(killLeftoverServers);

const postgres = BACKENDS.find((b) => b.name === 'postgres')!;

describe.skipIf(postgres.skip)('postgres: chatkeep serve --workers 2, a worker that never drains', () => {
  const database = useMigratedPostgres();

  it('SIGTERM: the wedged worker is killed once the grace and its margin are over, and the server exits 1 saying so', async () => {
    const server = await serve(database.location(), ['--workers', '2', '--shutdown-grace', '1000']);
    const workers = childPids(server.child.pid!);
    expect(workers).toHaveLength(2);
    const [wedged, healthy] = workers;
    // Stopped, it hears nothing: like a worker whose event loop never comes back.
    process.kill(wedged!, 'SIGSTOP');
    const signalled = Date.now();
    server.child.kill('SIGTERM');
    const code = await Promise.race([server.exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running after 20 s'), 20_000))]);
    try {
      expect(code, server.stderr()).toBe(1);
      expect(Date.now() - signalled).toBeLessThan(20_000);
      // Polled: 'exit' may come before the last of the primary's stderr is read.
      await expect.poll(() => server.stderr(), { timeout: 5000, interval: 50 }).toContain(`chatkeep serve: stopped; a worker exited with SIGKILL while draining`);
      expect(server.stderr()).toContain(`chatkeep serve: worker ${wedged} had not stopped 10 s after the shutdown grace; killed it`);
      expect([wedged, healthy].filter((pid) => alive(pid!))).toEqual([]);
    } finally {
      for (const pid of [wedged!, healthy!]) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});
