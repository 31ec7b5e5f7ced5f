/**
 * A PostgreSQL lexer, just deep enough for the linter: it must never mistake
 * the inside of a string, a quoted identifier, a comment or a dollar-quoted
 * function body for SQL, and nothing more. Rules read statement shapes from
 * the tokens; they never see raw text. Lexical rules follow the PostgreSQL
 * manual, "Lexical Structure" (sql-syntax-lexical.html).
 */

import { decodeUnicodeEscapes, foldIdentifier, truncateIdentifier } from './identifier.js';

/**
 * One lexical token. `value` is folded for words and unescaped for quoted
 * identifiers, as PostgreSQL stores the name (identifier.ts).
 */
export interface Token {
  readonly kind: 'word' | 'ident' | 'string' | 'dollar' | 'number' | 'param' | 'op';
  readonly value: string;
  /** Offset of the token's first character in the source. */
  readonly start: number;
  readonly end: number;
}

/** A comment, kept apart from the tokens (suppressions live in comments). */
export interface SqlComment {
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

export interface Tokenized {
  readonly tokens: readonly Token[];
  readonly comments: readonly SqlComment[];
  /** Set when the text ends inside a string, identifier, comment or dollar quote. */
  readonly error?: string;
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/;
const OP_CHARS = '+-*/<>=~!@#%^&|`?';
/** The `UESCAPE 'c'` clause that may follow a `U&` literal, choosing its escape character. */
const UESCAPE = /^\s*uescape\s*'([^'])'/i;
/** `$tag$` where tag is empty or an identifier without `$`. */
const DOLLAR_TAG = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

export function tokenize(sql: string): Tokenized {
  const tokens: Token[] = [];
  const comments: SqlComment[] = [];
  const push = (kind: Token['kind'], value: string, start: number, end: number) =>
    tokens.push({ kind, value, start, end });
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '-' && next === '-') {
      const eol = sql.indexOf('\n', i);
      const end = eol === -1 ? sql.length : eol;
      comments.push({ text: sql.slice(i + 2, end), start: i, end });
      i = end;
    } else if (c === '/' && next === '*') {
      // Block comments nest in PostgreSQL, unlike in the SQL standard.
      let depth = 1;
      let j = i + 2;
      while (j < sql.length && depth > 0) {
        if (sql.startsWith('/*', j)) {
          depth++;
          j += 2;
        } else if (sql.startsWith('*/', j)) {
          depth--;
          j += 2;
        } else {
          j++;
        }
      }
      if (depth > 0) return { tokens, comments, error: 'unterminated /* comment' };
      comments.push({ text: sql.slice(i + 2, j - 2), start: i, end: j });
      i = j;
    } else if (c === "'" || (/[EeBbXxNn]/.test(c) && next === "'")) {
      // E'…' strings take backslash escapes; the others only double the quote.
      const backslash = c === 'E' || c === 'e';
      const open = c === "'" ? i : i + 1;
      const end = scanQuoted(sql, open, "'", backslash);
      if (end === -1) return { tokens, comments, error: 'unterminated string literal' };
      push('string', sql.slice(open + 1, end - 1).replaceAll("''", "'"), i, end);
      i = end;
    } else if ((c === 'U' || c === 'u') && next === '&' && (sql[i + 2] === "'" || sql[i + 2] === '"')) {
      // Decoded, so U&"\0061pp" names the table app as it does for PostgreSQL.
      const quote = sql[i + 2]!;
      const end = scanQuoted(sql, i + 2, quote, false);
      if (end === -1) return { tokens, comments, error: 'unterminated Unicode literal' };
      const uescape = UESCAPE.exec(sql.slice(end, end + 64));
      const body = decodeUnicodeEscapes(sql.slice(i + 3, end - 1).replaceAll(quote + quote, quote), uescape?.[1]);
      const stop = end + (uescape?.[0].length ?? 0);
      if (quote === "'") push('string', body, i, stop);
      else push('ident', truncateIdentifier(body), i, stop);
      i = stop;
    } else if (c === '"') {
      const end = scanQuoted(sql, i, '"', false);
      if (end === -1) return { tokens, comments, error: 'unterminated quoted identifier' };
      push('ident', truncateIdentifier(sql.slice(i + 1, end - 1).replaceAll('""', '"')), i, end);
      i = end;
    } else if (c === '$') {
      const tag = DOLLAR_TAG.exec(sql.slice(i, i + 64))?.[0];
      if (tag !== undefined) {
        const close = sql.indexOf(tag, i + tag.length);
        if (close === -1) return { tokens, comments, error: `unterminated dollar quote ${tag}` };
        push('dollar', sql.slice(i + tag.length, close), i, close + tag.length);
        i = close + tag.length;
      } else {
        let j = i + 1;
        while (j < sql.length && /[0-9]/.test(sql[j]!)) j++;
        push('param', sql.slice(i, j), i, j);
        i = Math.max(j, i + 1);
      }
    } else if (WORD_START.test(c)) {
      let j = i + 1;
      while (j < sql.length && WORD_PART.test(sql[j]!)) j++;
      push('word', foldIdentifier(sql.slice(i, j)), i, j);
      i = j;
    } else if (/[0-9]/.test(c) || (c === '.' && next !== undefined && /[0-9]/.test(next))) {
      let j = i + 1;
      while (j < sql.length && /[0-9._eE]/.test(sql[j]!)) j++;
      push('number', sql.slice(i, j), i, j);
      i = j;
    } else if (c === ':' && next === ':') {
      push('op', '::', i, i + 2);
      i += 2;
    } else if (OP_CHARS.includes(c)) {
      let j = i + 1;
      while (j < sql.length && OP_CHARS.includes(sql[j]!) && !sql.startsWith('--', j) && !sql.startsWith('/*', j)) j++;
      push('op', sql.slice(i, j), i, j);
      i = j;
    } else {
      push('op', c, i, i + 1);
      i++;
    }
  }
  return { tokens, comments };
}

/** The offset just past the closing `quote` of the literal opening at `open`, or -1. */
function scanQuoted(sql: string, open: number, quote: string, backslash: boolean): number {
  let j = open + 1;
  while (j < sql.length) {
    const ch = sql[j]!;
    if (backslash && ch === '\\') j += 2;
    else if (ch === quote && sql[j + 1] === quote) j += 2;
    else if (ch === quote) return j + 1;
    else j++;
  }
  return -1;
}
