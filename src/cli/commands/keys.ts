import type { Command } from 'commander';
// The modules themselves, not store/ or schema/index.js: the command tree must not load the drivers (lazy-modules.ts).
import { NOT_STORABLE, storable } from '../../db/storable-text.js';
import { ChatkeepError } from '../../errors/index.js';
import { USER_ID_PATTERN, USER_ID_RULE, UUID_PATTERN } from '../../schema/sql-fragments.js';
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
      checkInput({ user: options.user, ...(options.name !== undefined ? { name: options.name } : {}) });
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
      checkInput({ user: options.user });
      await withStore(globalOptions(command), output, { json: options.json === true, optionOf: OPTION_OF }, async (store) => {
        const list = await store.apiKeys.list(options.user);
        if (options.json === true) return output.json(list);
        if (list.length === 0) return output.line(`no API keys for user "${options.user}"`);
        for (const key of list) {
          const state = key.revokedAt !== null ? `revoked ${key.revokedAt.toISOString()}` : key.lastUsedAt !== null ? `last used ${key.lastUsedAt.toISOString()}` : 'never used';
          output.line(`${key.id}  ${key.prefix}…  ${key.name ? printable(key.name) : '(no name)'}  created ${key.createdAt.toISOString()}  ${state}`);
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
      checkInput({ user: options.user, keyId });
      await withStore(globalOptions(command), output, { json: false, optionOf: OPTION_OF }, async (store) => {
        const key = await store.apiKeys.revoke(options.user, keyId);
        output.line(`revoked ${key.id} (${key.prefix}…) of user "${key.userId}"`);
      });
    });
}

/** The store's fields as the options that carry them on these commands. */
const OPTION_OF: Readonly<Record<string, string>> = { userId: '--user', name: '--name', keyId: '<key-id>' };

/** What any user id type accepts: the text pattern, or an integer id of an `integer`/`bigint` users table. */
const ANY_USER_ID = new RegExp(`${USER_ID_PATTERN}|^-?\\d{1,19}$`);

/**
 * Refuses, before the store is opened, the values the store would refuse
 * whatever it was installed with: opening a new data folder (or a database
 * chatkeep is not in) installs the whole schema, which a usage error must
 * not leave behind. The words are the store's (store/validation.ts,
 * store/api-keys.ts), naming the option typed; values only some installs
 * refuse (an integer id where the users table has uuids) are left to the store.
 */
function checkInput(input: { readonly user: string; readonly name?: string; readonly keyId?: string }): void {
  if (!ANY_USER_ID.test(input.user)) {
    refuse('userId', USER_ID_RULE);
  }
  if (input.name !== undefined && input.name.length > 100) refuse('name', 'must be at most 100 characters');
  if (input.name !== undefined && !storable(input.name)) refuse('name', NOT_STORABLE);
  if (input.keyId !== undefined && !UUID_PATTERN.test(input.keyId)) refuse('keyId', 'expected a UUID');
}

function refuse(field: string, message: string): never {
  const option = OPTION_OF[field]!;
  throw new ChatkeepError('CK_VALIDATION', `${option}: ${message}`, { field, option });
}

/**
 * A key's name for a terminal line. Whoever holds a token for the user
 * chooses it (`POST /v1/me/api-keys`), so its control characters are shown
 * escaped (`\n`, `\u001b`): a newline forged a key line for scripts reading
 * the list, and an escape sequence reached the operator's terminal as is.
 */
function printable(name: string): string {
  // eslint-disable-next-line no-control-regex
  return name.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => SHORT_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const SHORT_ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
