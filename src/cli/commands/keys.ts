import type { Command } from 'commander';
import { globalOptions } from '../global-options.js';
import { helpEpilog } from '../help-text.js';
import type { Output } from '../output.js';
import { withStore } from '../store-session.js';

/**
 * `chatkeep keys create|list|revoke`: per-user API keys for the HTTP API.
 * On the embedded database these need the server stopped (one process per
 * data folder); while it runs, use the admin HTTP routes instead.
 */
export function registerKeys(program: Command, output: Output): void {
  const keys = program
    .command('keys')
    .description('issue, list and revoke per-user API keys for the HTTP API (stored hashed)')
    .addHelpText('after', helpEpilog('chatkeep keys create --user alice --name laptop', 'chatkeep keys list --user alice', 'chatkeep keys revoke --user alice <key-id>'));

  keys
    .command('create')
    .description('issue an API key for a user and print its secret (shown once)')
    .requiredOption('--user <id>', 'the user the key acts for (required)')
    .option('--name <name>', 'a label to recognise the key by')
    .option('--json', 'print JSON')
    .addHelpText('after', helpEpilog('chatkeep keys create --user alice --name laptop'))
    .action(async (options: { user: string; name?: string; json?: boolean }, command: Command) => {
      await withStore(globalOptions(command), output, { json: options.json === true, optionOf: OPTION_OF }, async (store) => {
        const created = await store.apiKeys.create(options.user, options.name !== undefined ? { name: options.name } : {});
        if (options.json === true) return output.json(created);
        output.line(`API key ${created.apiKey.id} for user "${created.apiKey.userId}" (shown once; chatkeep keeps only its hash):`);
        output.line(created.secret);
      });
    });

  keys
    .command('list')
    .description("list a user's API keys (never the secrets)")
    .requiredOption('--user <id>', 'the user (required)')
    .option('--json', 'print JSON')
    .addHelpText('after', helpEpilog('chatkeep keys list --user alice --json'))
    .action(async (options: { user: string; json?: boolean }, command: Command) => {
      await withStore(globalOptions(command), output, { json: options.json === true, optionOf: OPTION_OF }, async (store) => {
        const list = await store.apiKeys.list(options.user);
        if (options.json === true) return output.json(list);
        if (list.length === 0) return output.line(`no API keys for user "${options.user}"`);
        for (const key of list) {
          const state = key.revokedAt !== null ? `revoked ${key.revokedAt.toISOString()}` : key.lastUsedAt !== null ? `last used ${key.lastUsedAt.toISOString()}` : 'never used';
          output.line(`${key.id}  ${key.prefix}…  ${key.name || '(no name)'}  created ${key.createdAt.toISOString()}  ${state}`);
        }
      });
    });

  keys
    .command('revoke')
    .description('revoke one of a user\'s API keys')
    .requiredOption('--user <id>', 'the user (required)')
    .argument('<key-id>', 'the key id from `chatkeep keys list`')
    .addHelpText('after', helpEpilog('chatkeep keys revoke --user alice 0190f0f0-0000-7000-8000-000000000000'))
    .action(async (keyId: string, options: { user: string }, command: Command) => {
      await withStore(globalOptions(command), output, { json: false, optionOf: OPTION_OF }, async (store) => {
        const key = await store.apiKeys.revoke(options.user, keyId);
        output.line(`revoked ${key.id} (${key.prefix}…) of user "${key.userId}"`);
      });
    });
}

/** The store's fields as the options that carry them on these commands. */
const OPTION_OF: Readonly<Record<string, string>> = { userId: '--user', name: '--name', keyId: '<key-id>' };
