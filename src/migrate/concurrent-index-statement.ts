import { splitStatements } from './lint/split-statements.js';
import { isWord, readName, wordsAt } from './lint/token-helpers.js';

/** The index a plain `CREATE [UNIQUE] INDEX CONCURRENTLY name ON table …` statement builds. */
export interface ConcurrentIndexTarget {
  /** The index name as PostgreSQL reads it (unquoted names folded to lower case). */
  readonly name: string;
  /** The table as written, quoted for `to_regclass` (so it resolves like the statement does). */
  readonly table: string;
  readonly unique: boolean;
}

/**
 * Recognises a non-transactional migration statement that builds a named
 * index concurrently, so the runner can treat it like a `concurrentIndex`
 * step: drop an invalid leftover of an interrupted build before building,
 * and check that the index is valid afterwards. Anything else (several
 * statements in one entry, an unnamed index, other DDL) is undefined and
 * runs as written. Uses the lint's lexer, so comments, quoted identifiers
 * and dollar quotes are read as PostgreSQL reads them.
 */
export function concurrentIndexTarget(statement: string): ConcurrentIndexTarget | undefined {
  const { statements, error } = splitStatements(statement, 0);
  if (error !== undefined || statements.length !== 1) return undefined;
  const t = statements[0]!.tokens;
  let i = 1;
  if (!isWord(t[0], 'create')) return undefined;
  const unique = isWord(t[i], 'unique');
  if (unique) i++;
  if (!wordsAt(t, i, 'index', 'concurrently')) return undefined;
  i += 2;
  if (wordsAt(t, i, 'if', 'not', 'exists')) i += 3;
  const name = t[i];
  if (name === undefined || (name.kind !== 'word' && name.kind !== 'ident') || !isWord(t[i + 1], 'on')) return undefined;
  i += 2;
  if (isWord(t[i], 'only')) i++;
  const table = readName(t, i);
  if (table === undefined || table.parts.length > 2) return undefined;
  return {
    // A name over 63 bytes needs no cutting here: compared as type `name`, it is cut like the index's.
    name: name.value,
    table: table.parts.map((p) => `"${p.replaceAll('"', '""')}"`).join('.'),
    unique,
  };
}
