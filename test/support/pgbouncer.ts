import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PG_ADMIN_URL, PG_AVAILABLE } from './backends.js';

/**
 * A real PgBouncer in front of the test PostgreSQL, for the suites that
 * prove what chatkeep does behind a connection pooler. Skipped, visibly,
 * where the `pgbouncer` binary is missing (`apt-get install pgbouncer`;
 * `.ci/run` installs it when it can) or PostgreSQL does not answer.
 */
export const PGBOUNCER_SKIP: string | false = (() => {
  if (!PG_AVAILABLE) return `no PostgreSQL answers at ${PG_ADMIN_URL}`;
  if (spawnSync('pgbouncer', ['--version'], { stdio: 'ignore' }).status !== 0) {
    const reason = 'pgbouncer not on PATH';
    console.warn(`[chatkeep tests] SKIPPING connection-pooler cases: ${reason}`);
    return reason;
  }
  return false;
})();

export type PoolMode = 'session' | 'transaction' | 'statement';

export interface PgBouncer {
  /** The URL of `database` through the pooler, as the admin URL's user (or `user`, one of those it was started with). */
  url(database: string, user?: string): string;
  close(): Promise<void>;
}

/** Starts PgBouncer in `mode` on a free loopback port, pooling every database of the test server (`poolSize` server sessions per database and user, default 20) for the admin URL's user and `users`. */
export async function startPgBouncer(mode: PoolMode, options: { readonly poolSize?: number; readonly users?: readonly string[] } = {}): Promise<PgBouncer> {
  const target = new URL(PG_ADMIN_URL);
  const user = decodeURIComponent(target.username || 'postgres');
  const dir = mkdtempSync(join(tmpdir(), 'chatkeep-pgbouncer-'));
  // PgBouncer refuses to run as root; as root it is started as the server's
  // own account (-u), which must be able to read its files and write its log.
  chmodSync(dir, 0o777);
  const port = await freePort();
  writeFileSync(join(dir, 'users.txt'), [user, ...(options.users ?? [])].map((name) => `"${name}" ""\n`).join(''));
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${target.hostname} port=${target.port || '5432'}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'users.txt')}`,
      `pool_mode = ${mode}`,
      `default_pool_size = ${options.poolSize ?? 20}`,
      'max_client_conn = 200',
      // pg sends extra_float_digits at startup; PgBouncer refuses unknown startup parameters.
      'ignore_startup_parameters = extra_float_digits',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
  );
  const asRoot = process.getuid?.() === 0;
  const child: ChildProcess = spawn('pgbouncer', [...(asRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!(await listening(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`pgbouncer did not start on port ${port}: ${stderr.trim() || `exit ${child.exitCode}`}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: (database, as) => {
      const url = new URL(PG_ADMIN_URL);
      if (as !== undefined) url.username = as;
      url.hostname = '127.0.0.1';
      url.port = String(port);
      url.pathname = `/${database}`;
      return url.toString();
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
