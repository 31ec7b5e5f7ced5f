import { Command } from 'commander';
import type { Migration } from '../migrate/index.js';
import { registerDemo } from './commands/demo.js';
import { registerKeys } from './commands/keys.js';
import { registerMcp } from './commands/mcp.js';
import { registerMigrateDown } from './commands/migrate-down.js';
import { registerMigratePlan } from './commands/migrate-plan.js';
import { registerMigrateGrant } from './commands/migrate-grant.js';
import { registerMigrateStatus } from './commands/migrate-status.js';
import { registerMigrateUp } from './commands/migrate-up.js';
import { registerServe } from './commands/serve.js';
import { registerRetention } from './commands/retention.js';
import { addGlobalOptions, visibleGlobalOptions } from './global-options.js';
import { helpEpilog } from './help-text.js';
import type { Output } from './output.js';

/** What the command tree is built with. */
export interface ProgramOptions {
  /**
   * The migrations `migrate up|down|status|plan` manage; default chatkeep's
   * own. For a host that embeds the CLI over its own migration set, and for
   * the CLI's tests (chatkeep's migrations declare no invariants).
   */
  readonly migrations?: readonly Migration[];
}

/**
 * Builds the `chatkeep` command tree. It never exits the process: commander
 * is told to throw instead (`exitOverride`), and the caller turns what was
 * thrown, or the exit code recorded on `output`, into the process's exit
 * code. Subcommands are created with `.command()` so they inherit the
 * exit override, the output and the help settings.
 *
 * @example
 * const output = new Output(process.stdout, process.stderr);
 * await buildProgram(output, '0.1.0').parseAsync(['migrate', 'status'], { from: 'user' });
 */
export function buildProgram(output: Output, version: string, options: ProgramOptions = {}): Command {
  const program = new Command('chatkeep')
    .description(
      'chatkeep: the persistence layer for AI chat applications. Migrate its schema, serve its HTTP API or MCP tools, manage API keys and retention, or try it with `chatkeep demo`.',
    )
    .version(version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for a command')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => output.writeOut(text),
      writeErr: (text) => output.writeErr(text),
    })
    .configureHelp({ showGlobalOptions: true, visibleGlobalOptions, sortSubcommands: false })
    .showHelpAfterError('(add --help for usage)')
    .allowExcessArguments(false)
    .addHelpText(
      'after',
      helpEpilog(
        'chatkeep demo --memory',
        'chatkeep migrate status',
        'chatkeep --database-url postgres://app@db.internal/app migrate up',
      ),
    );
  addGlobalOptions(program);

  const migrate = program
    .command('migrate')
    .description("manage chatkeep's schema: up, down, status, plan, grant")
    .addHelpText(
      'after',
      helpEpilog('chatkeep migrate status', 'chatkeep migrate plan', 'chatkeep migrate up'),
    );
  registerMigrateUp(migrate, output, options);
  registerMigrateDown(migrate, output, options);
  registerMigrateStatus(migrate, output, options);
  registerMigratePlan(migrate, output, options);
  registerMigrateGrant(migrate, output, options);

  registerServe(program, output);
  registerKeys(program, output);
  registerRetention(program, output);
  registerDemo(program, output);
  registerMcp(program, output);
  addHelpCommands(program);
  return program;
}

/**
 * Replaces commander's `help [command]` on every command that has
 * subcommands: commander's answered `chatkeep help nosuch` with the whole
 * help on stderr and exit 2 but never said the command was unknown, and
 * `chatkeep help migrate up` showed `migrate`'s help, ignoring `up`. This one
 * follows the whole path and names the first word that is no command.
 */
function addHelpCommands(command: Command): void {
  const subcommands = [...command.commands];
  if (subcommands.length === 0) return;
  for (const sub of subcommands) addHelpCommands(sub);
  command.helpCommand(false);
  command
    .command('help')
    .argument('[command...]', 'the command, and subcommands, to show the help of')
    .description('display help for command')
    .action((path: string[]) => {
      let shown = command;
      for (const name of path) {
        const next = shown.commands.find((c) => c.name() === name);
        if (next === undefined) {
          const names = shown.commands.map((c) => c.name()).filter((n) => n !== 'help');
          // A leaf command (`keys create`) has none: it said "(its commands: )".
          const there = names.length > 0 ? `its commands: ${names.join(', ')}` : 'it has no subcommands';
          return shown.error(`error: unknown command '${name}' for '${commandPath(shown)}' (${there})`, {
            exitCode: 2,
            code: 'commander.unknownCommand',
          });
        }
        shown = next;
      }
      shown.help();
    });
}

/** `chatkeep migrate up` for the `up` command. */
function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c !== null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}
