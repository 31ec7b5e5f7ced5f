import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { chatkeep } from './cli-process.js';
import { killLeftoverServers, serve } from './serve-process.js';
import { childPids, useMigratedPostgres } from './worker-processes.js';

/**
 * `chatkeep serve --workers N`: a worker that dies while the primary still
 * owes it rate-limit counts must cost only that worker. The primary used to
 * answer those counts on the dead worker's IPC channel, and the write's
 * EPIPE, emitted as an 'error' event nobody listened to, crashed the primary
 * — and with it the whole server (exit 1), over one worker's death.
 */
afterAll(killLeftoverServers);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const postgres = BACKENDS.find((b) => b.name === 'postgres')!;

describe.skipIf(postgres.skip)('postgres: chatkeep serve --workers 2, a worker dying with counts owed', () => {
  const database = useMigratedPostgres();
  let key = '';
  beforeAll(async () => {
    const created = await chatkeep([...database.location(), 'keys', 'create', '--user', 'counted-then-killed', '--json']);
    expect(created.code, created.stderr).toBe(0);
    key = (JSON.parse(created.stdout) as { secret: string }).secret;
  });

  it('the primary, slow to read (stopped), answers hits from a worker killed meanwhile without crashing, and replaces it', async () => {
    const server = await serve(database.location(), ['--workers', '2']);
    const primary = server.child.pid!;
    // Keep-alive connections, made while the primary runs (it accepts them and hands them to
    // the workers); later requests on them go straight to a worker, which asks the primary to count.
    const agent = new Agent({ keepAlive: true, maxSockets: 6 });
    const get = () =>
      new Promise<number | string>((resolve) => {
        const req = request(`${server.url}/v1/me`, { agent, headers: { authorization: `Bearer ${key}` } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
        req.setTimeout(10_000, () => req.destroy(new Error('no answer in 10 s')));
        req.end();
      });
    try {
      expect(await Promise.all(Array.from({ length: 6 }, get))).toEqual(Array(6).fill(200));
      const [victim] = childPids(primary);
      // A primary that is slow to read its IPC channels (a GC pause, a starved CPU): the hits queue up.
      process.kill(primary, 'SIGSTOP');
      const during = Promise.all(Array.from({ length: 6 }, get));
      await sleep(300);
      process.kill(victim!, 'SIGKILL');
      await sleep(300);
      process.kill(primary, 'SIGCONT');
      const answers = await during;
      await expect
        .poll(() => server.child.exitCode !== null || (childPids(primary).length === 2 && !childPids(primary).includes(victim!)), { timeout: 15_000, interval: 100 })
        .toBe(true);
      expect(server.child.exitCode, `the primary exited: ${server.stderr()}`).toBeNull();
      // The requests on the surviving worker are counted and answered; those on the dead one are cut off.
      expect(answers.filter((a) => a === 200).length, String(answers)).toBeGreaterThan(0);
      // Polled: the primary's line may reach this process after /proc shows the replacement.
      await expect.poll(() => server.stderr(), { timeout: 5000, interval: 50 }).toContain(`worker ${victim} exited (SIGKILL); starting another`);
      expect(server.stderr()).not.toContain('EPIPE');
      expect(await get()).toBe(200);
    } finally {
      agent.destroy();
      if (server.child.exitCode === null) {
        process.kill(primary, 'SIGCONT');
        server.child.kill('SIGTERM');
      }
    }
    expect(await server.exited, server.stderr()).toBe(0);
  });
});
