import { ChatkeepError } from '../errors/index.js';

/** Every option `openStore` reads; the compile-time list is StoreOptions (store.ts), which a test holds this to. */
export const STORE_OPTION_NAMES = [
  'url',
  'dataDir',
  'poolSize',
  'connectTimeoutMs',
  'pooler',
  'users',
  'maxContentLength',
  'roles',
  'schema',
  'migrate',
  'database',
  'onMigrationEvent',
  'flagCache',
] as const;

/**
 * Refuses an option `openStore` does not know, before anything is opened.
 * TypeScript catches a misspelt option in a literal, but not in JavaScript
 * or in an object built elsewhere, and a misspelt `maxContentLength` or
 * `migrate` silently taken as its default is the kind of surprise that
 * shows only in production. Keys whose value is `undefined` are allowed:
 * spreading optional settings produces them.
 */
export function assertKnownStoreOptions(options: object): void {
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || (STORE_OPTION_NAMES as readonly string[]).includes(key)) continue;
    const near = STORE_OPTION_NAMES.find((name) => editDistance(name.toLowerCase(), key.toLowerCase()) <= 2);
    throw new ChatkeepError(
      'CK_CONFIG',
      `${key}: not an option of openStore${near !== undefined ? `; did you mean ${near}?` : ` (options: ${STORE_OPTION_NAMES.join(', ')})`}`,
      { field: key },
    );
  }
}

/** Levenshtein distance; option names are short, so the plain table is fine. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
