import { ChatkeepError } from '../errors/index.js';
import type { Store } from '../store/index.js';
import { databaseOptions, type GlobalOptions } from './global-options.js';
import { loadStore } from './lazy-modules.js';
import { migrationProgress } from './migration-progress.js';
import type { Output } from './output.js';

/**
 * Opens the store the global options select, says which database it is
 * (`Database: PGlite at /abs/dir (schema "chatkeep")`, as `migrate status`
 * does) before `work` prints anything, and always closes the store: a
 * PGlite folder stays locked, and a pg pool keeps the process alive, until
 * it is closed. With `json` the line goes to stderr, so stdout stays the
 * one JSON document scripts read (`keys list --json` is an array, which has
 * no room for a `database` field).
 */
export async function withStore(
  globals: GlobalOptions,
  output: Output,
  options: { readonly json: boolean; readonly optionOf?: Readonly<Record<string, string>> },
  work: (store: Store) => Promise<void>,
): Promise<void> {
  const { openStore } = await loadStore();
  // Opening the store applies pending migrations (a new data folder, a
  // database chatkeep is not installed in yet, or one an upgrade added to).
  // Say so, on stderr as `serve` and `demo` do, so `keys list` never changes
  // the schema silently (a mistyped --schema would install a whole new one).
  const store = await openStore({
    ...databaseOptions(globals),
    schema: globals.schema,
    onMigrationEvent: migrationProgress(output, { toStderr: true, phases: 'slow' }),
  });
  try {
    const line = `Database: ${store.description} (schema "${globals.schema}")`;
    if (options.json) output.warn(line);
    else output.line(line);
    await work(store);
  } catch (error) {
    throw inOptionTerms(error, options.optionOf ?? {});
  } finally {
    await store.close();
  }
}

/**
 * A validation error names the store's field (`userId: …`); on the command
 * line the person typed an option, so it names that (`--user: …`), with the
 * store's field kept in `details`.
 */
function inOptionTerms(error: unknown, optionOf: Readonly<Record<string, string>>): unknown {
  if (!(error instanceof ChatkeepError) || error.code !== 'CK_VALIDATION') return error;
  const field = error.details['field'];
  const option = typeof field === 'string' ? optionOf[field] : undefined;
  if (option === undefined || !error.message.startsWith(`${field as string}: `)) return error;
  return new ChatkeepError('CK_VALIDATION', `${option}: ${error.message.slice((field as string).length + 2)}`, { ...error.details, option }, { cause: error });
}
