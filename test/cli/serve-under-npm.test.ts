import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { assertBuilt, CLI_PATH } from './cli-process.js';
import { listeningLogPids } from './serve-process.js';

/**
 * `npm start`, the README's run command, runs `sh -c "node … serve"`. A
 * SIGTERM sent to npm (by a supervisor, or `kill <npm's pid>`) reaches that
 * shell only, which dies without passing it on: npm exited and the server ran
 * on, orphaned, holding its port and its data folder. Under npm the server
 * now notices its parent is gone and stops as on SIGTERM, draining first.
 */
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const folders: string[] = [];
const groups: ChildProcess[] = [];

afterAll(() => {
  // Each child leads its own process group: kill what is left of it, the server included.
  for (const child of groups) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return check();
}

/** Starts `command` in its own process group; resolves with its output so far once the server listens, and the server's pid. */
async function startServer(command: string, args: readonly string[], env: NodeJS.ProcessEnv) {
  const child = spawn(command, args, { cwd: REPO, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  groups.push(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const ready = await until(() => output.includes('Stop with Ctrl-C') && listeningLogPids(output).length > 0, 60_000);
  expect(ready, output).toBe(true);
  const serverPid = listeningLogPids(output)[0]!;
  const url = /listening on (http:\/\/[^\s]+)/.exec(output)![1]!;
  return { child, serverPid, url, output: () => output };
}

function serveEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env['DATABASE_URL'];
  delete env['CHATKEEP_DATA_DIR'];
  for (const [key, value] of Object.entries(extra)) if (value === undefined) delete env[key];
  return env;
}

describe('chatkeep serve started by npm', () => {
  assertBuilt();

  it('SIGTERM to the npm process of `npm start`: the server drains and exits instead of running on orphaned', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ck-npm-start-'));
    folders.push(dir);
    const server = await startServer('npm', ['start', '--silent', '--', '--port', '0', '--data-dir', join(dir, 'data'), '--log-level', 'info'], serveEnv({}));
    expect(server.serverPid).not.toBe(server.child.pid);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    process.kill(server.child.pid!, 'SIGTERM');
    const stopped = await until(() => !alive(server.serverPid), 15_000);
    expect(stopped, `the server (pid ${server.serverPid}) still runs after npm got SIGTERM:\n${server.output()}`).toBe(true);
    expect(server.output()).toContain('the npm process that started this server exited; stopping as on SIGTERM');
    expect(server.output()).toContain('chatkeep serve: stopped; every in-flight turn finished');
  }, 90_000);

  it('outside npm, a server whose starting shell exits keeps serving (nohup and & are meant to outlive it)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ck-sh-start-'));
    folders.push(dir);
    const line = `"${process.execPath}" "${CLI_PATH}" serve --port 0 --data-dir "${join(dir, 'data')}" --log-level info`;
    const server = await startServer('sh', ['-c', line], serveEnv({ npm_lifecycle_event: undefined }));
    process.kill(server.child.pid!, 'SIGTERM');
    // Well past the half-second poll of the parent.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(alive(server.serverPid)).toBe(true);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    process.kill(server.serverPid, 'SIGTERM');
    expect(await until(() => !alive(server.serverPid), 15_000)).toBe(true);
    expect(server.output()).not.toContain('the npm process that started this server exited');
  }, 90_000);
});
