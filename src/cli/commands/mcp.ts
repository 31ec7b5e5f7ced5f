import { InvalidArgumentError, Option, type Command } from 'commander';
import type { Database } from '../../db/index.js';
import { isChatkeepError, sqlState } from '../../errors/index.js';
import type { ToolsRoleOptions } from '../../mcp/index.js';
// The modules themselves, not mcp/index.js: the command tree must not load the MCP SDK (lazy-modules.ts).
import { hostnameOf } from '../../mcp/allowed-hosts.js';
import { DEFAULT_HOST_SCHEMA, DEFAULT_TOOLS_ROLE } from '../../mcp/task-tools-config.js';
import { assertIdentifier } from '../../migrate/identifier.js';
import { loadDb, loadMcp } from '../lazy-modules.js';
import { listenRefusal, probeListen, type ListenOptionNames } from '../listen-probe.js';
import { UsageError } from '../exit-codes.js';
import { parseHost, parseInteger } from '../option-parsers.js';
import { databaseOptions, globalOptions, type GlobalOptions } from '../global-options.js';
import { helpEpilog } from '../help-text.js';
import type { Output } from '../output.js';
import { packageVersion } from '../../package-version.js';

/**
 * Where the HTTP transport's bearer tokens come from: the environment only,
 * never an argument, which other users of the machine can read in `ps`.
 */
const TOKENS_VARIABLE = 'CHATKEEP_MCP_TOKENS';

interface McpOptions {
  readonly transport: 'stdio' | 'http';
  readonly user?: string;
  readonly port: number;
  readonly host: string;
  readonly allowedHost?: readonly string[];
  readonly rateLimit: number;
  readonly hostSchema: string;
  readonly role: string;
}

interface McpRoleOptions {
  readonly grantTo?: readonly string[];
  readonly login?: boolean;
  readonly hostSchema: string;
  readonly role: string;
}

/**
 * `chatkeep mcp`: serves the Todo host app's task tools over MCP, as the
 * tools' database role (docs/mcp.md). With stdio, stdout carries the MCP
 * protocol and nothing else: every line this command prints goes to stderr.
 * `chatkeep mcp role` creates or refreshes that role.
 */
export function registerMcp(program: Command, output: Output): Command {
  const mcp = program
    .command('mcp')
    .description(
      "serve the host app's task tools (list/add/complete/update/delete) over MCP, stdio or streamable HTTP, as a database role that cannot read chat data",
    )
    .addOption(
      new Option(
        '--transport <kind>',
        'stdio (one process per user) or http (bearer tokens from CHATKEEP_MCP_TOKENS)',
      )
        .choices(['stdio', 'http'])
        .default('stdio'),
    )
    .option('--user <id>', 'stdio: the user this process acts for (required with stdio)')
    .option('--port <port>', 'http: port to listen on (0 picks a free one)', parsePort, 3001)
    .option('--host <address>', 'http: address to listen on', parseHost('--host'), '127.0.0.1')
    .addOption(
      new Option('--rate-limit <n>', 'http: tool calls per user per minute (0 = no limit)')
        .env('CHATKEEP_MCP_RATE_LIMIT')
        .default(600)
        .argParser(parseInteger('--rate-limit', 0, 1_000_000)),
    )
    .option(
      '--allowed-host <name>',
      'http: a host name the Host header may name (repeatable; default on a loopback --host: localhost, 127.0.0.1, [::1]; elsewhere no check)',
      collectHostName,
    )
    .option(
      '--host-schema <name>',
      "schema of the host app's tasks and categories tables",
      DEFAULT_HOST_SCHEMA,
    )
    .option('--role <name>', 'database role the tools run as', DEFAULT_TOOLS_ROLE)
    .addHelpText(
      'after',
      helpEpilog(
        'chatkeep mcp --user alice',
        'CHATKEEP_MCP_TOKENS="alice=$ALICE_TOKEN,bob=$BOB_TOKEN" chatkeep mcp --transport http --port 3001',
        'chatkeep --database-url postgres://app@db/app mcp role',
      ),
    )
    .action(async (options: McpOptions, command: Command) => {
      await serve(output, globalOptions(command), options);
    });

  mcp
    .command('role')
    .description(
      "create or refresh the task tools' database role (idempotent): grants on the host's tasks and categories only, none on chatkeep's schema",
    )
    .option(
      '--grant-to <role...>',
      'login roles that may SET ROLE to it (default: the current user unless superuser)',
    )
    .option(
      '--login',
      'let the role log in with the password in CHATKEEP_TOOLS_PASSWORD (for a separate connection URL)',
    )
    .option(
      '--host-schema <name>',
      "schema of the host app's tasks and categories tables",
      DEFAULT_HOST_SCHEMA,
    )
    .option('--role <name>', 'the role to create or refresh', DEFAULT_TOOLS_ROLE)
    .addHelpText(
      'after',
      helpEpilog(
        'chatkeep mcp role',
        'chatkeep --database-url postgres://admin@db/app mcp role --host-schema todo --grant-to app',
        'CHATKEEP_TOOLS_PASSWORD=… chatkeep --database-url postgres://admin@db/app mcp role --login',
      ),
    )
    .action(async (_options: McpRoleOptions, command: Command) => {
      await setUpRole(output, globalOptions(command), roleOptionsOf(mcp, command));
    });
  return mcp;
}

/**
 * `role`'s options as typed. Commander hands every option that `mcp`
 * declares to `mcp`, even when typed after `role` (only a positional root
 * would keep the order, and the global options must work anywhere), so
 * `--host-schema` and `--role`, declared on both with the same defaults,
 * usually arrive on `mcp`; `role`'s own value wins if it got one. `mcp`'s
 * serving options are refused naming the option, rather than ignored.
 */
function roleOptionsOf(mcp: Command, role: Command): McpRoleOptions {
  for (const option of mcp.options) {
    const key = option.attributeName();
    if (key !== 'hostSchema' && key !== 'role' && mcp.getOptionValueSource(key) === 'cli') {
      throw new UsageError(`${option.long ?? option.flags} is an option of \`chatkeep mcp\` (serving); \`chatkeep mcp role\` does not take it`);
    }
  }
  const typed = (key: 'hostSchema' | 'role'): string =>
    (role.getOptionValueSource(key) === 'cli' ? role : mcp).getOptionValue(key) as string;
  return { ...role.opts<McpRoleOptions>(), hostSchema: typed('hostSchema'), role: typed('role') };
}

async function setUpRole(output: Output, globals: GlobalOptions, options: McpRoleOptions): Promise<void> {
  let password: string | undefined;
  if (options.login === true) {
    password = process.env['CHATKEEP_TOOLS_PASSWORD'];
    if (password === undefined || password === '') {
      throw new UsageError(
        '--login reads the password from CHATKEEP_TOOLS_PASSWORD, which is not set (never pass it as an argument)',
      );
    }
  }
  // Checked here too, not only by ensureToolsRole: a typo is refused before a data folder is created.
  const roleOptions: ToolsRoleOptions = {
    hostSchema: assertIdentifier('--host-schema', options.hostSchema),
    role: assertIdentifier('--role', options.role),
    chatkeepSchema: assertIdentifier('--schema', globals.schema),
    ...(options.grantTo !== undefined ? { grantTo: options.grantTo.map((name) => assertIdentifier('--grant-to', name)) } : {}),
    ...(password !== undefined ? { password } : {}),
  };
  const { ensureToolsRole, checkToolsRole } = await loadMcp();
  await withDatabase(globals, async (database) => {
    await ensureToolsRole(database.db, roleOptions);
    // The admin running this need not be the user that will SET ROLE.
    const problems = (await checkToolsRole(database.db, roleOptions)).filter(
      (p) => options.grantTo === undefined || !p.startsWith('the current user may not SET ROLE'),
    );
    output.line(`Role "${options.role}" on ${database.description}:`);
    output.line(
      `  grants: usage on schema ${options.hostSchema}; select, insert, update, delete on ${options.hostSchema}.tasks; select, insert on ${options.hostSchema}.categories`,
    );
    output.line(`  chatkeep schema "${globals.schema}": no privileges`);
    if (password !== undefined)
      output.line('  can log in with the password from CHATKEEP_TOOLS_PASSWORD');
    if (problems.length > 0) {
      for (const problem of problems) output.warn(`problem: ${problem}`);
      output.fail(1);
    }
  });
}

async function serve(output: Output, globals: GlobalOptions, options: McpOptions): Promise<void> {
  const log = (text: string): void => output.warn(`chatkeep mcp: ${text}`);
  if (options.transport === 'stdio' && (options.user === undefined || options.user.trim() === '')) {
    throw new UsageError(
      '--user <id> is required with --transport stdio: the process acts for that one user',
    );
  }
  if (options.transport === 'http' && options.user !== undefined) {
    throw new UsageError(
      "--user is for stdio; over HTTP the user comes from each request's bearer token",
    );
  }
  // Before the database is opened: on a new data folder that runs initdb, for nothing.
  assertIdentifier('--host-schema', options.hostSchema);
  assertIdentifier('--role', options.role);
  const tokenList = process.env[TOKENS_VARIABLE] ?? '';
  if (options.transport === 'http' && tokenList.trim() === '') {
    throw new UsageError(
      '--transport http needs bearer tokens: set CHATKEEP_MCP_TOKENS="alice=<token>,bob=<token>" (tokens of at least 16 characters, e.g. `openssl rand -hex 16`)',
    );
  }
  const { TaskStore, assertToolsRole, createMcpHttpHandler, ensureToolsRole, parseTokenList, serveStdio, staticTokens, startMcpHttpServer } =
    await loadMcp();
  const authenticate =
    options.transport === 'http'
      ? staticTokens(parseTokenList(tokenList, TOKENS_VARIABLE), { source: TOKENS_VARIABLE })
      : undefined;
  // The port before the database, as `serve` does: on a new data folder,
  // opening it runs initdb, for nothing if the server cannot listen.
  if (authenticate !== undefined) await probeListen(options.host, options.port, MCP_LISTEN_OPTIONS);
  const roleOptions: ToolsRoleOptions = {
    hostSchema: options.hostSchema,
    role: options.role,
    chatkeepSchema: assertIdentifier('--schema', globals.schema),
  };
  const version = packageVersion();
  const onToolError = (tool: string, error: unknown): void =>
    log(`${tool} failed: ${describe(error)}`);
  // Only the kind: the message of a JSON parse error quotes the input.
  const onProtocolError = (error: Error): void =>
    log(`ignored input that is not a valid MCP message (${error.name})`);

  await withDatabase(globals, async (database) => {
    // Embedded PGlite has one user (this process), so the role is set up on
    // the spot; on PostgreSQL that is an admin's job (`chatkeep mcp role`).
    if (database.kind === 'pglite') await ensureToolsRole(database.db, roleOptions);
    await assertToolsRole(database.db, roleOptions);
    const tasks = new TaskStore(database.db, roleOptions);
    const stop = stopSignal();
    try {
      if (authenticate === undefined) {
        const userId = options.user ?? '';
        log(`serving task tools for user "${userId}" over stdio; ${where(database, options)}`);
        await serveStdio({
          tasks,
          userId,
          version,
          onToolError,
          onProtocolError,
          signal: stop.signal,
        });
      } else {
        const handler = createMcpHttpHandler({
          tasks,
          authenticate,
          version,
          onToolError,
          toolCallLimit: { max: options.rateLimit, windowMs: 60_000 },
          onError: (e) => log(`authentication failed: ${describe(e)}`),
        });
        const server = await startMcpHttpServer({
          handler,
          host: options.host,
          port: options.port,
          ...(options.allowedHost !== undefined ? { allowedHosts: options.allowedHost } : {}),
          onError: (e) => log(`request failed: ${describe(e)}`),
        }).catch((error: unknown) => {
          // Taken since the probe: the same words, not an internal error.
          throw listenRefusal(error, options.host, options.port, MCP_LISTEN_OPTIONS);
        });
        output.line(
          `chatkeep mcp: listening on ${server.url} (streamable HTTP, bearer tokens); ${where(database, options)}`,
        );
        await new Promise<void>((resolve) =>
          stop.signal.addEventListener('abort', () => resolve(), { once: true }),
        );
        await server.close();
      }
    } finally {
      stop.dispose();
    }
    log('stopped');
  });
}

/** `mcp`'s --port and --host have no variables. */
const MCP_LISTEN_OPTIONS: ListenOptionNames = { port: '--port', host: '--host' };

function where(database: Database, options: McpOptions): string {
  return `${database.description}, host schema "${options.hostSchema}", role "${options.role}"`;
}

/** Aborts on SIGINT or SIGTERM; `dispose` removes the listeners again. */
function stopSignal(): { readonly signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', abort);
      process.off('SIGTERM', abort);
    },
  };
}

async function withDatabase(
  globals: GlobalOptions,
  work: (database: Database) => Promise<void>,
): Promise<void> {
  const { openDatabase } = await loadDb();
  const database = await openDatabase(databaseOptions(globals));
  try {
    await work(database);
  } finally {
    await database.close();
  }
}

/** Code and message of a ChatkeepError; only the kind (and SQLSTATE) of anything else, whose message may quote data. */
function describe(error: unknown): string {
  if (isChatkeepError(error)) return `[${error.code}] ${error.message}`;
  const state = sqlState(error);
  return `${error instanceof Error ? error.name : typeof error}${state ? ` (SQLSTATE ${state})` : ''}`;
}

function parsePort(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) {
    throw new InvalidArgumentError('expected a port number from 0 to 65535');
  }
  return Number(value);
}

/** `--allowed-host`, repeatable: a bare host name or address (IPv6 in brackets), no port, lower-cased. */
function collectHostName(value: string, previous: readonly string[] | undefined): readonly string[] {
  const name = hostnameOf(value);
  if (name === undefined || name !== value.toLowerCase()) {
    throw new InvalidArgumentError('expected a host name or address without scheme or port, e.g. mcp.internal or [::1]');
  }
  return [...(previous ?? []), name];
}
