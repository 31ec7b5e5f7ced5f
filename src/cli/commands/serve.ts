import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { invalidTrustedProxy } from '../../server/trusted-proxies.js';
import type { StoreOptions } from '../../store/index.js';
import { watchInstall, wantsDemoKey, type InstallWatch } from '../demo-key.js';
import { UsageError } from '../exit-codes.js';
import { databaseOptions, globalOptions } from '../global-options.js';
import { helpEpilog } from '../help-text.js';
import { loadServer, loadStore } from '../lazy-modules.js';
import { probeListen } from '../listen-probe.js';
import { migrationProgress } from '../migration-progress.js';
import { parseHost, parseInteger } from '../option-parsers.js';
import type { Output } from '../output.js';
import { listenOrExplain, logListening, PARENT_EXITED_LINE, printBanner, serverOptionsFrom, shutdownSignal, type ServeOptions } from '../serve-setup.js';

export { DEMO_USER } from '../demo-key.js';

/**
 * `chatkeep serve`: migrates, then serves the HTTP API until SIGINT/SIGTERM,
 * when it drains in-flight turns and exits 0 — in this process, or with
 * `--workers N` (PostgreSQL) in N cluster workers (serve-cluster.ts).
 */
export function registerServe(program: Command, output: Output): Command {
  return program
    .command('serve')
    .description('serve the HTTP API (and its OpenAPI document at /openapi.json) on the embedded database or DATABASE_URL')
    .addOption(new Option('--port <n>', 'TCP port').env('PORT').default(8787).argParser(parseInteger('--port', 0, 65535)))
    .addOption(new Option('--host <address>', 'address to listen on (0.0.0.0 for all interfaces)').env('CHATKEEP_HOST').default('127.0.0.1').argParser(parseHost('--host (or CHATKEEP_HOST)')))
    .addOption(
      new Option('--workers <n>', 'processes serving the port together, on PostgreSQL ("auto": one per CPU core; on the embedded database, one)')
        .env('CHATKEEP_WORKERS')
        .default(1)
        .argParser(parseWorkers),
    )
    .addOption(new Option('--jwt-secret <secret>', 'accept HS256 JWTs signed with this secret (≥ 32 bytes); `sub` is the user').env('CHATKEEP_JWT_SECRET'))
    .addOption(new Option('--jwks-url <url>', 'accept JWTs signed by a key from this JWKS URL').env('CHATKEEP_JWKS_URL'))
    .addOption(new Option('--jwt-issuer <iss>', 'required `iss` claim of JWTs (with --jwt-secret or --jwks-url)').env('CHATKEEP_JWT_ISSUER'))
    .addOption(new Option('--jwt-audience <aud>', 'required `aud` claim of JWTs (with --jwt-secret or --jwks-url)').env('CHATKEEP_JWT_AUDIENCE'))
    .addOption(new Option('--admin-token <token>', 'credential for /v1/admin routes, at least 16 characters (disabled when unset)').env('CHATKEEP_ADMIN_TOKEN'))
    .addOption(new Option('--agent <kind>', 'agent behind /turns/run and /turns/stream').choices(['demo', 'openai']).env('CHATKEEP_AGENT').default('demo'))
    .addOption(new Option('--openai-base-url <url>', 'OpenAI-compatible API base URL').env('CHATKEEP_OPENAI_BASE_URL').default('https://api.openai.com/v1'))
    .addOption(new Option('--openai-model <model>', 'model name for --agent openai').env('CHATKEEP_OPENAI_MODEL'))
    .addOption(new Option('--openai-api-key <key>', 'API key for --agent openai').env('OPENAI_API_KEY'))
    .addOption(new Option('--rate-limit <n>', 'requests per user per minute').env('CHATKEEP_RATE_LIMIT').default(600).argParser(parseInteger('--rate-limit', 1, 1_000_000)))
    .addOption(
      new Option('--rate-limit-scope <scope>', 'who counts --rate-limit and --auth-failure-limit: "server" (this server\'s processes) or "database" (every server on the database, one statement per request)')
        .choices(['server', 'database'])
        .env('CHATKEEP_RATE_LIMIT_SCOPE')
        .default('server'),
    )
    .addOption(
      new Option('--auth-failure-limit <n>', 'failed authentications per client address per minute before it gets 429 (0: no limit)')
        .env('CHATKEEP_AUTH_FAILURE_LIMIT')
        .default(100)
        .argParser(parseInteger('--auth-failure-limit', 0, 1_000_000)),
    )
    .addOption(
      new Option('--trust-proxy <addresses>', 'reverse proxies whose X-Forwarded-For names the client: comma-separated addresses, CIDR ranges, loopback, linklocal, uniquelocal')
        .env('CHATKEEP_TRUST_PROXY')
        .argParser(parseTrustedProxies),
    )
    .addOption(new Option('--body-limit <bytes>', 'largest request body').env('CHATKEEP_BODY_LIMIT').default(1_048_576).argParser(parseInteger('--body-limit', 1024, 104_857_600)))
    .addOption(new Option('--abandon-after <ms>', 'abort a streamed turn that hears nothing for this long').env('CHATKEEP_ABANDON_AFTER_MS').default(120_000).argParser(parseInteger('--abandon-after', 1000, 86_400_000)))
    .addOption(
      new Option('--sse-heartbeat <ms>', 'a streamed reply sends a keep-alive comment after this long without an event, so proxies keep it open (0: never)')
        .env('CHATKEEP_SSE_HEARTBEAT_MS')
        .default(15_000)
        .argParser(parseInteger('--sse-heartbeat', 0, 3_600_000)),
    )
    .addOption(new Option('--shutdown-grace <ms>', 'on SIGTERM, how long in-flight turns may take to finish before they are aborted').env('CHATKEEP_SHUTDOWN_GRACE_MS').default(30_000).argParser(parseInteger('--shutdown-grace', 0, 3_600_000)))
    .addOption(
      new Option('--no-demo-key', 'no API key for "demo-user" on the start that installs the schema (none with --jwt-secret or --jwks-url either; any value of the variable turns it off)')
        .env('CHATKEEP_NO_DEMO_KEY'),
    )
    .addOption(new Option('--log-level <level>', 'log level of the JSON request log').choices(['fatal', 'error', 'warn', 'info', 'debug', 'silent']).env('CHATKEEP_LOG_LEVEL').default('info'))
    .addHelpText(
      'after',
      helpEpilog(
        'chatkeep serve',
        'CHATKEEP_JWT_SECRET=… CHATKEEP_JWT_AUDIENCE=my-app chatkeep serve --port 8080',
        'DATABASE_URL=postgres://app@db/app chatkeep serve --host 0.0.0.0 --agent openai --openai-model gpt-4o-mini',
        'DATABASE_URL=postgres://app@db/app chatkeep serve --workers auto   # one process per core, one rate limit',
      ),
    )
    .action(async (parsed: ServeArguments, command: Command) => {
      const globals = globalOptions(command);
      const storeOptions = { ...databaseOptions(globals), schema: globals.schema };
      const postgres = globals.databaseUrl !== undefined;
      const options: ServeOptions = { ...parsed, workers: workerCount(parsed.workers, postgres) };
      serverOptionsFrom(options, 'process'); // usage errors (e.g. --agent openai without a model) before anything opens
      if (parsed.workers === 'auto' && !postgres) {
        // On stderr: stdout carries the banner (and a supervisor's log keeps both).
        const given = command.getOptionValueSource('workers') === 'env' ? 'CHATKEEP_WORKERS=auto' : '--workers auto';
        output.warn(`chatkeep serve: ${given}: serving from one process, as the embedded database lives in one process; use PostgreSQL (--database-url or DATABASE_URL) for workers`);
      }
      // The port before the database: on a new data folder, opening it runs
      // initdb and every migration, for nothing if the server cannot listen.
      // A worker skips it: its primary probed before forking it.
      if (cluster.isPrimary) await probeListen(options.host, options.port);
      const install = watchInstall(migrationProgress(output, { toStderr: false, phases: 'slow' }));
      const opening: StoreOptions = { ...storeOptions, onMigrationEvent: install.listener };
      if (options.workers > 1) {
        const { servePrimary, serveWorker } = await import('../serve-cluster.js');
        if (cluster.isWorker) return serveWorker(options, storeOptions);
        return servePrimary(output, options, opening, install);
      }
      return serveOneProcess(output, options, opening, install);
    });
}

/** `chatkeep serve`'s options as commander parses them: `--workers` may still be "auto". */
type ServeArguments = Omit<ServeOptions, 'workers'> & { readonly workers: number | 'auto' };

/** `--workers`: a whole number from 1 to 64, or "auto". */
function parseWorkers(value: string): number | 'auto' {
  if (value === 'auto') return 'auto';
  if (!/^\d{1,2}$/.test(value) || Number(value) < 1 || Number(value) > 64) {
    throw new InvalidArgumentError('--workers: expected a whole number from 1 to 64, or "auto"');
  }
  return Number(value);
}

/**
 * `--trust-proxy`: a comma-separated list, checked entry by entry here so a
 * typo is a usage error naming the option, before the database is opened.
 */
function parseTrustedProxies(value: string): readonly string[] {
  const entries = value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  const invalid = entries.length === 0 ? value : invalidTrustedProxy(entries);
  if (invalid !== undefined) {
    throw new InvalidArgumentError(`--trust-proxy: "${invalid}" is not an IP address, a CIDR range (e.g. 10.0.0.0/8), or loopback, linklocal or uniquelocal`);
  }
  return entries;
}

/**
 * How many processes serve. "auto" asks for as many as suit the machine, and
 * on the embedded database that is one, since PGlite lives in one process; a
 * number above 1 there is a request that cannot be met, so a usage error.
 */
function workerCount(workers: number | 'auto', postgres: boolean): number {
  if (workers === 'auto') return postgres ? Math.min(64, availableParallelism()) : 1;
  if (workers > 1 && !postgres) {
    throw new UsageError('--workers needs PostgreSQL (--database-url or DATABASE_URL): the embedded database lives in one process');
  }
  return workers;
}

/** One process: migrates, serves until SIGINT/SIGTERM, drains in-flight turns, exits 0. */
async function serveOneProcess(output: Output, options: ServeOptions, storeOptions: StoreOptions, install: InstallWatch): Promise<void> {
  const [{ openStore }, { buildServer }] = await Promise.all([loadStore(), loadServer()]);
  const store = await openStore(storeOptions);
  try {
    const serverOptions = serverOptionsFrom(options, 'process');
    const server = await buildServer(store, serverOptions);
    const address = await listenOrExplain(server.app, options.host, options.port);
    const stop = shutdownSignal();
    await printBanner(output, store, address, serverOptions, { workers: 1, demoKey: wantsDemoKey(options, install.installed()) });
    output.line('Stop with Ctrl-C or SIGTERM: in-flight turns finish first.');
    logListening(server.app, address);
    if ((await stop) === 'parent exited') output.warn(PARENT_EXITED_LINE);
    output.warn('chatkeep serve: draining in-flight turns…');
    const { finishedInFlight } = await server.close();
    output.warn(finishedInFlight ? 'chatkeep serve: stopped; every in-flight turn finished' : 'chatkeep serve: stopped; turns still running after the grace period were aborted (nothing of them stored)');
  } finally {
    await store.close();
  }
}
