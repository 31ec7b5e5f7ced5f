import { tokenize, type SqlComment, type Token } from './tokenize.js';

/** One SQL statement of a migration entry, as tokens, with the comments written before it. */
export interface SqlStatement {
  /** Index of the migration entry (`up()` array element) it came from. */
  readonly index: number;
  readonly tokens: readonly Token[];
  /** Comments between the previous statement's end and this statement's first token. */
  readonly leadingComments: readonly SqlComment[];
  /** True when the entry holds more than one statement (simple-protocol implicit transaction). */
  readonly sharesEntry: boolean;
}

/** The statements of one migration entry, or the lexer's error. */
export interface SplitEntry {
  readonly statements: readonly SqlStatement[];
  readonly error?: string;
}

/**
 * Splits one migration entry into statements at top-level semicolons. The
 * runner sends an entry as one query string, so an entry may hold several
 * statements. Semicolons inside strings, identifiers, comments and dollar
 * quotes are already hidden by the lexer; the one remaining case is a
 * SQL-standard function body (`BEGIN ATOMIC … END`, PostgreSQL 14+), whose
 * semicolons are bare, so we track its `BEGIN ATOMIC`/`CASE` … `END` depth.
 */
export function splitStatements(sql: string, index: number): SplitEntry {
  const { tokens, comments, error } = tokenize(sql);
  const groups: Token[][] = [];
  let current: Token[] = [];
  let atomicDepth = 0;
  for (const [i, token] of tokens.entries()) {
    if (token.kind === 'word') {
      if (token.value === 'begin' && tokens[i + 1]?.value === 'atomic') atomicDepth++;
      else if (token.value === 'case' && atomicDepth > 0) atomicDepth++;
      else if (token.value === 'end' && atomicDepth > 0) atomicDepth--;
    }
    if (token.kind === 'op' && token.value === ';' && atomicDepth === 0) {
      if (current.length > 0) groups.push(current);
      current = [];
    } else {
      current.push(token);
    }
  }
  if (current.length > 0) groups.push(current);

  let previousEnd = 0;
  const statements = groups.map((group) => {
    const start = group[0]!.start;
    const leadingComments = comments.filter((c) => c.start >= previousEnd && c.end <= start);
    previousEnd = group[group.length - 1]!.end;
    return { index, tokens: group, leadingComments, sharesEntry: groups.length > 1 };
  });
  return error === undefined ? { statements } : { statements, error };
}
