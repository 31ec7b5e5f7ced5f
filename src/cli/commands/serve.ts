import { Option, type Command } from 'commander';
import { demoAgent, demoStreamingAgent, openAiCompatibleAgent } from '../../agents/index.js';
import { buildServer, type ServerAgent, type ServerOptions } from '../../server/index.js';
import { openStore, type Store } from '../../store/index.js';
import { UsageError } from '../exit-codes.js';
import { databaseOptions, globalOptions } from '../global-options.js';
import { helpEpilog } from '../help-text.js';
import { migrationProgress } from '../migration-progress.js';
import { parseInteger } from '../option-parsers.js';
import type { Output } from '../output.js';

/** The user the first run issues an API key for, so the server can be tried at once. */
export const DEMO_USER = 'demo-user';

interface ServeOptions {
  readonly port: number;
  readonly host: string;
  readonly jwtSecret?: string;
  readonly jwksUrl?: string;
  readonly jwtIssuer?: string;
  readonly jwtAudience?: string;
  readonly adminToken?: string;
  readonly agent: 'demo' | 'openai';
  readonly openaiBaseUrl?: string;
  readonly openaiModel?: string;
  readonly openaiApiKey?: string;
  readonly rateLimit: number;
  readonly bodyLimit: number;
  readonly logLevel: string;
  readonly abandonAfter: number;
  readonly shutdownGrace: number;
}

/**
 * `chatkeep serve`: migrates, then serves the HTTP API until SIGINT/SIGTERM,
 * when it drains in-flight turns and exits 0.
 */
export function registerServe(program: Command, output: Output): Command {
  return program
    .command('serve')
    .description('serve the HTTP API (and its OpenAPI document at /openapi.json) on the embedded database or DATABASE_URL')
    .addOption(new Option('--port <n>', 'TCP port').env('PORT').default(8787).argParser(parseInteger('--port', 0, 65535)))
    .addOption(new Option('--host <address>', 'address to listen on (0.0.0.0 for all interfaces)').env('CHATKEEP_HOST').default('127.0.0.1'))
    .addOption(new Option('--jwt-secret <secret>', 'accept HS256 JWTs signed with this secret (≥ 32 bytes); `sub` is the user').env('CHATKEEP_JWT_SECRET'))
    .addOption(new Option('--jwks-url <url>', 'accept JWTs signed by a key from this JWKS URL').env('CHATKEEP_JWKS_URL'))
    .addOption(new Option('--jwt-issuer <iss>', 'required `iss` claim of JWTs').env('CHATKEEP_JWT_ISSUER'))
    .addOption(new Option('--jwt-audience <aud>', 'required `aud` claim of JWTs').env('CHATKEEP_JWT_AUDIENCE'))
    .addOption(new Option('--admin-token <token>', 'credential for /v1/admin routes (disabled when unset)').env('CHATKEEP_ADMIN_TOKEN'))
    .addOption(new Option('--agent <kind>', 'agent behind /turns/run and /turns/stream').choices(['demo', 'openai']).env('CHATKEEP_AGENT').default('demo'))
    .addOption(new Option('--openai-base-url <url>', 'OpenAI-compatible API base URL').env('CHATKEEP_OPENAI_BASE_URL').default('https://api.openai.com/v1'))
    .addOption(new Option('--openai-model <model>', 'model name for --agent openai').env('CHATKEEP_OPENAI_MODEL'))
    .addOption(new Option('--openai-api-key <key>', 'API key for --agent openai').env('OPENAI_API_KEY'))
    .addOption(new Option('--rate-limit <n>', 'requests per user per minute').env('CHATKEEP_RATE_LIMIT').default(600).argParser(parseInteger('--rate-limit', 1, 1_000_000)))
    .addOption(new Option('--body-limit <bytes>', 'largest request body').env('CHATKEEP_BODY_LIMIT').default(1_048_576).argParser(parseInteger('--body-limit', 1024, 104_857_600)))
    .addOption(new Option('--abandon-after <ms>', 'abort a streamed turn that hears nothing for this long').env('CHATKEEP_ABANDON_AFTER_MS').default(120_000).argParser(parseInteger('--abandon-after', 1000, 86_400_000)))
    .addOption(new Option('--shutdown-grace <ms>', 'on SIGTERM, how long in-flight turns may take to finish before they are aborted').env('CHATKEEP_SHUTDOWN_GRACE_MS').default(30_000).argParser(parseInteger('--shutdown-grace', 0, 3_600_000)))
    .addOption(new Option('--log-level <level>', 'log level of the JSON request log').choices(['fatal', 'error', 'warn', 'info', 'debug', 'silent']).env('CHATKEEP_LOG_LEVEL').default('info'))
    .addHelpText(
      'after',
      helpEpilog(
        'chatkeep serve',
        'CHATKEEP_JWT_SECRET=… CHATKEEP_JWT_AUDIENCE=my-app chatkeep serve --port 8080',
        'DATABASE_URL=postgres://app@db/app chatkeep serve --host 0.0.0.0 --agent openai --openai-model gpt-4o-mini',
      ),
    )
    .action(async (options: ServeOptions, command: Command) => {
      const globals = globalOptions(command);
      const agent = serverAgent(options);
      const store = await openStore({ ...databaseOptions(globals), schema: globals.schema, onMigrationEvent: migrationProgress(output, { toStderr: false }) });
      try {
        const serverOptions: ServerOptions = {
          auth: {
            ...(options.jwtSecret ? { jwtSecret: options.jwtSecret } : {}),
            ...(options.jwksUrl ? { jwksUrl: options.jwksUrl } : {}),
            ...(options.jwtIssuer ? { issuer: options.jwtIssuer } : {}),
            ...(options.jwtAudience ? { audience: options.jwtAudience } : {}),
            ...(options.adminToken ? { adminToken: options.adminToken } : {}),
          },
          agent,
          rateLimit: { max: options.rateLimit, windowMs: 60_000 },
          bodyLimit: options.bodyLimit,
          abandonAfterMs: options.abandonAfter,
          shutdownGraceMs: options.shutdownGrace,
          logger: options.logLevel === 'silent' ? false : { level: options.logLevel },
        };
        const server = await buildServer(store, serverOptions);
        const address = await server.app.listen({ host: options.host, port: options.port });
        const stop = shutdownSignal();
        await printBanner(output, store, address, serverOptions);
        output.line('Stop with Ctrl-C or SIGTERM: in-flight turns finish first.');
        await stop;
        output.warn('chatkeep serve: draining in-flight turns…');
        const { finishedInFlight } = await server.close();
        output.warn(finishedInFlight ? 'chatkeep serve: stopped; every in-flight turn finished' : 'chatkeep serve: stopped; turns still running after the grace period were aborted (nothing of them stored)');
      } finally {
        await store.close();
      }
    });
}

function serverAgent(options: ServeOptions): ServerAgent {
  if (options.agent === 'demo') return { name: 'demo', run: demoAgent, stream: demoStreamingAgent() };
  if (!options.openaiModel) throw new UsageError('--agent openai needs --openai-model (or CHATKEEP_OPENAI_MODEL)');
  const agent = openAiCompatibleAgent({
    baseUrl: options.openaiBaseUrl ?? 'https://api.openai.com/v1',
    model: options.openaiModel,
    ...(options.openaiApiKey ? { apiKey: options.openaiApiKey } : {}),
  });
  return { name: `openai:${options.openaiModel}`, ...agent };
}

/**
 * Says where the server is and how to call it. On the very first run (no API
 * key issued yet) it issues one for the demo user and prints it once, with a
 * curl line that works as printed.
 */
async function printBanner(output: Output, store: Store, address: string, options: ServerOptions): Promise<void> {
  output.line(`chatkeep serve: listening on ${address} (${store.description}), agent: ${options.agent.name}`);
  output.line(`  OpenAPI document: ${address}/openapi.json   health: ${address}/healthz   readiness: ${address}/readyz`);
  const modes = [options.auth.jwtSecret || options.auth.jwksUrl ? 'JWT' : undefined, 'API keys'].filter(Boolean).join(' and ');
  output.line(`  auth: every /v1 route needs "Authorization: Bearer <token>" (${modes})${options.auth.adminToken ? '; admin routes: the admin token' : '; admin routes disabled (no --admin-token)'}`);
  if (!(await store.apiKeys.anyIssued())) {
    const { secret } = await store.apiKeys.create(DEMO_USER, { name: 'first run of chatkeep serve' });
    output.line('');
    output.line(`First run: issued an API key for the user "${DEMO_USER}". It is shown this once; chatkeep keeps only its hash.`);
    output.line(`  ${secret}`);
    output.line('Try it:');
    output.line(`  curl -s -X POST -H "Authorization: Bearer ${secret}" ${address}/v1/conversations`);
    output.line(`  curl -s -H "Authorization: Bearer ${secret}" ${address}/v1/me`);
  } else {
    output.line(`  a token for a user: POST ${address}/v1/admin/users/<user>/api-keys with the admin token, or stop the server and run \`chatkeep keys create --user <user>\``);
  }
}

function shutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      // A second signal while draining ends the process at once.
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(143));
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
