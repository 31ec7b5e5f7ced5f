import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real PgBouncer process on a free loopback port, trusting its users, in
 * front of one PostgreSQL server. Node built-ins only, so the benchmark
 * (bench/probe/pooler.ts) starts it the same way the tests do.
 */

export type PoolMode = 'session' | 'transaction' | 'statement';

export interface PgBouncerOptions {
  /** Where PostgreSQL listens. */
  readonly host: string;
  readonly port: number;
  readonly mode: PoolMode;
  /** The users it lets in (trust; their PostgreSQL authentication is the server's business). */
  readonly users: readonly string[];
  /** Server sessions per database and user. */
  readonly poolSize: number;
}

export interface PgBouncerProcess {
  /** The port it listens on, at 127.0.0.1. */
  readonly port: number;
  /** `url` (a URL of the server behind it) rewritten to go through the pooler. */
  through(url: string): string;
  close(): Promise<void>;
}

/** Starts it and waits until it accepts connections (10 s at most). */
export async function startPgBouncerProcess(options: PgBouncerOptions): Promise<PgBouncerProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'chatkeep-pgbouncer-'));
  // PgBouncer refuses to run as root; as root it is started as the server's
  // own account (-u), which must be able to read its files and write its log.
  chmodSync(dir, 0o777);
  const port = await freePort();
  writeFileSync(join(dir, 'users.txt'), options.users.map((name) => `"${name}" ""\n`).join(''));
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${options.host} port=${options.port}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'users.txt')}`,
      `pool_mode = ${options.mode}`,
      `default_pool_size = ${options.poolSize}`,
      'max_client_conn = 200',
      // pg sends extra_float_digits at startup; PgBouncer refuses unknown startup parameters.
      'ignore_startup_parameters = extra_float_digits',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
  );
  const asRoot = process.getuid?.() === 0;
  const child: ChildProcess = spawn(
    'pgbouncer',
    [...(asRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.on('error', (error) => (stderr += error.message));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!(await listening(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(
        `pgbouncer did not start on port ${port}: ${stderr.trim() || `exit ${child.exitCode}`}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port,
    through: (url) => {
      const pooled = new URL(url);
      pooled.hostname = '127.0.0.1';
      pooled.port = String(port);
      return pooled.toString();
    },
    close: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
