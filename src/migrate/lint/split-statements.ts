import { tokenize, type SqlComment, type Token } from './tokenize.js';

/** One SQL statement of a migration entry, as tokens, with the comments written before it. */
export interface SqlStatement {
  /** Index of the migration entry (`up()` array element) it came from. */
  readonly index: number;
  readonly tokens: readonly Token[];
  /** Comments between the previous statement's end and this statement's first token. */
  readonly leadingComments: readonly SqlComment[];
  /**
   * Comments after this statement on the line it ends on (`…; -- note`).
   * They read as belonging to this statement, so they are not the next
   * statement's leading comments: a suppression there would silence the
   * statement below it.
   */
  readonly trailingComments: readonly SqlComment[];
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

  // Comments come in source order, between or inside the groups: one pass
  // hands each to the statement it belongs to (no rescan per statement).
  const sameLine = (from: number, to: number) => !sql.slice(from, to).includes('\n');
  let next = 0;
  const statements = groups.map((group, g) => {
    const start = group[0]!.start;
    const end = group[group.length - 1]!.end;
    const leadingComments: SqlComment[] = [];
    for (; next < comments.length && comments[next]!.end <= start; next++) leadingComments.push(comments[next]!);
    while (next < comments.length && comments[next]!.start < end) next++; // inside the statement
    // After the statement on its own line, unless a token follows on that
    // line (`select 1; /* … */ create …` leads the next statement).
    const following = groups[g + 1]?.[0]?.start ?? sql.length;
    const trailingComments: SqlComment[] = [];
    for (; next < comments.length && sameLine(end, comments[next]!.start) && !sameLine(comments[next]!.end, following); next++) {
      trailingComments.push(comments[next]!);
    }
    if (g === groups.length - 1) {
      for (; next < comments.length && sameLine(end, comments[next]!.start); next++) trailingComments.push(comments[next]!);
    }
    return { index, tokens: group, leadingComments, trailingComments, sharesEntry: groups.length > 1 };
  });
  return error === undefined ? { statements } : { statements, error };
}
