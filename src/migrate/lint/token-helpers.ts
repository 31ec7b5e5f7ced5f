import type { Token } from './tokenize.js';

/** Whether `token` is the unquoted word `word` (keywords are never quoted). */
export function isWord(token: Token | undefined, ...words: string[]): boolean {
  return token?.kind === 'word' && words.includes(token.value);
}

/** Whether the tokens from `at` are exactly the words `words`. */
export function wordsAt(tokens: readonly Token[], at: number, ...words: string[]): boolean {
  return words.every((w, k) => isWord(tokens[at + k], w));
}

/** Index of the first top-level (outside parentheses) word `word` at or after `from`, or -1. */
export function findWord(tokens: readonly Token[], word: string, from = 0): number {
  let depth = 0;
  for (let i = from; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind === 'op' && (t.value === '(' || t.value === '[')) depth++;
    else if (t.kind === 'op' && (t.value === ')' || t.value === ']')) depth--;
    else if (depth === 0 && isWord(t, word)) return i;
  }
  return -1;
}

/** Splits `tokens` at top-level commas (ALTER TABLE actions, column lists). */
export function splitTopLevel(tokens: readonly Token[]): Token[][] {
  const parts: Token[][] = [[]];
  let depth = 0;
  for (const t of tokens) {
    if (t.kind === 'op' && (t.value === '(' || t.value === '[')) depth++;
    if (t.kind === 'op' && (t.value === ')' || t.value === ']')) depth--;
    if (depth === 0 && t.kind === 'op' && t.value === ',') parts.push([]);
    else parts[parts.length - 1]!.push(t);
  }
  return parts.filter((p) => p.length > 0);
}

/** The index just past the parenthesised group opening at `open`, or `open` when none opens there. */
export function skipParens(tokens: readonly Token[], open: number): number {
  if (tokens[open]?.value !== '(' || tokens[open]?.kind !== 'op') return open;
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind === 'op' && t.value === '(') depth++;
    if (t.kind === 'op' && t.value === ')' && --depth === 0) return i + 1;
  }
  return tokens.length;
}

/** A possibly schema-qualified name starting at `at`: its parts and the index after it. */
export function readName(
  tokens: readonly Token[],
  at: number,
): { readonly parts: readonly string[]; readonly next: number } | undefined {
  const parts: string[] = [];
  let i = at;
  for (;;) {
    const t = tokens[i];
    if (t === undefined || (t.kind !== 'word' && t.kind !== 'ident')) break;
    parts.push(t.value);
    i++;
    if (tokens[i]?.kind === 'op' && tokens[i]?.value === '.') i++;
    else break;
  }
  return parts.length === 0 ? undefined : { parts, next: i };
}

/** Source text of a token range, for messages (whitespace normalised). */
export function textOf(source: readonly Token[]): string {
  return source
    .map((t) =>
      t.kind === 'string' ? `'${t.value.replaceAll("'", "''")}'` : t.kind === 'ident' ? `"${t.value}"` : t.value,
    )
    .join(' ')
    .replace(/ ?([().,]) ?/g, '$1')
    .replace(/,/g, ', ')
    .replace(/ ?:: ?/g, '::');
}
