import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerProcessConfig } from './server-process.js';

const here = dirname(fileURLToPath(import.meta.url));

/** A running server-process.ts, from the parent's side. */
export interface ServerChild {
  readonly url: string;
  readonly pid: number;
  /** SIGTERM, then waits for a clean exit (the store is closed, PGlite's folder released). */
  stop(): Promise<void>;
}

/**
 * Starts a server in a child process (`node --import tsx http/<script>`:
 * server-process.ts, chatkeep's server, or floor-process.ts, the bare
 * node:http floor) and resolves once it printed its URL. Its stderr is passed
 * through, so a crash is visible in the bench's progress output.
 */
export async function startServerChild(
  config: ServerProcessConfig,
  script: 'server-process.ts' | 'floor-process.ts' = 'server-process.ts',
): Promise<ServerChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, script)], {
    cwd: join(here, '..'),
    env: { ...process.env, BENCH_HTTP_SERVER: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const line = buffered.split('\n')[0];
      if (line === undefined || !buffered.includes('\n')) return;
      child.stdout?.off('data', onData);
      try {
        resolve((JSON.parse(line) as { url: string }).url);
      } catch (error) {
        reject(new Error(`server process printed ${JSON.stringify(line)}`, { cause: error }));
      }
    };
    child.stdout?.on('data', onData);
    void exited.then((code) =>
      reject(new Error(`server process exited with ${code} before listening`)),
    );
  });
  // Anything else it prints is drained, so a full pipe can never stall it.
  child.stdout?.resume();
  return {
    url,
    pid: pidOf(child),
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) throw new Error(`server process exited with ${code}`);
    },
  };
}

function pidOf(child: ChildProcess): number {
  if (child.pid === undefined) throw new Error('server process did not start');
  return child.pid;
}
