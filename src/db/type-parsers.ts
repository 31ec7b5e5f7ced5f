import { createRequire } from 'node:module';
import type pg from 'pg';

/**
 * node-postgres's default text parsers, as chatkeep's own copy.
 *
 * `pg.types.setTypeParser` changes a registry every `pg` client in the
 * process shares, and host apps do change it: int8 as BigInt or Number,
 * timestamps kept as strings, booleans left as 't'/'f'. chatkeep shares the
 * host's `pg`, so its reads would change with them: a Date would come back
 * as a string, and with booleans left as text the migration lock was never
 * seen as taken (a 60-second CK_MIGRATION_LOCK timeout). So every client
 * chatkeep opens reads with this copy, built from pg-types' own list (the
 * package `pg` takes its defaults from) and deaf to later changes of the
 * shared one.
 */
type TextParser = (text: string) => unknown;

const defaults = new Map<number, TextParser>();
// pg-types 2.x registers its defaults through this function; calling it with
// our own map gives a pristine set, whatever the shared registry holds now.
const textParsers = createRequire(import.meta.url)('pg-types/lib/textParsers.js') as {
  init(register: (oid: number, parse: TextParser) => void): void;
};
textParsers.init((oid, parse) => defaults.set(oid, parse));

// Types pg-types does not list come back as text, as the driver's own fallback does.
const asText: TextParser = (text) => text;

/** The driver's default parser for a type read as text. */
export function defaultTextParser(oid: number): TextParser {
  return defaults.get(oid) ?? asText;
}

/** `types` for a `pg` client or pool: the defaults above, never the process-wide registry. */
export const CHATKEEP_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    // chatkeep never asks for binary results; were it to, no parser means a Buffer, as in the driver.
    if (format === 'binary') return (value: Buffer) => value;
    return defaultTextParser(oid);
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/**
 * Session settings chatkeep's reads and statements assume, whatever the
 * database or role defaults to (`ALTER DATABASE … SET …`), each seen to
 * break it:
 *
 * - `DateStyle` ISO: in `SQL, DMY` style timestamps arrive as
 *   `24/11/2026 03:12:16.929 IST`, which the parsers above turn into
 *   Invalid Dates;
 * - `IntervalStyle` postgres: the only one the interval parser reads;
 * - `standard_conforming_strings` on: off, the `'\S'` in a migration's
 *   CHECK became `'S'`, and every message without a capital S was refused;
 * - `default_transaction_isolation` read committed: chatkeep serialises
 *   writers with row locks, which assumes it; under a serializable default
 *   concurrent turns on one conversation failed with CK_CONFLICT.
 *
 * Run as the pool's `onConnect`, which pg-pool awaits before it hands the
 * new connection to anyone (a query from a 'connect' listener would race
 * the first caller's, which pg deprecates).
 */
export const SESSION_SETTINGS_SQL =
  "set datestyle = 'ISO, MDY'; set intervalstyle = 'postgres'; set standard_conforming_strings = on; " +
  "set default_transaction_isolation = 'read committed'";

/**
 * `onConnect` for a `pg.Pool`: {@link SESSION_SETTINGS_SQL} on every new
 * connection. pg-pool (3.14, pg 8.23's) awaits the promise; @types/pg types
 * the hook as returning void, hence the cast.
 */
export const applySessionSettings = (async (client: pg.ClientBase): Promise<void> => {
  await client.query(SESSION_SETTINGS_SQL);
}) as (client: pg.ClientBase) => void;
