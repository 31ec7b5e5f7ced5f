import { userTypeName } from './column-type-name.js';
import type { ColumnDefinition } from './ddl-statement.js';
import { isWord, readName, skipParens } from './token-helpers.js';
import type { Token } from './tokenize.js';

/** Words that end a column's type and start one of its constraints. */
const CONSTRAINT_START = new Set([
  'constraint', 'not', 'null', 'default', 'primary', 'unique', 'check', 'references', 'generated', 'collate',
]);

/**
 * Reads `name type [constraints…]` (the grammar of `columnDef` in
 * PostgreSQL's gram.y, without storage/compression clauses, which no rule
 * needs). `qualify` turns a referenced table name into `schema.table`.
 */
export function readColumnDefinition(
  tokens: readonly Token[],
  qualify: (parts: readonly string[]) => string,
): ColumnDefinition | undefined {
  const name = tokens[0];
  if (name === undefined || (name.kind !== 'word' && name.kind !== 'ident')) return undefined;
  let i = 1;
  const typeStart = i;
  while (i < tokens.length && !(tokens[i]!.kind === 'word' && CONSTRAINT_START.has(tokens[i]!.value))) {
    i = tokens[i]!.value === '(' ? skipParens(tokens, i) : i + 1;
  }
  const dataType = tokens.slice(typeStart, i);
  let defaultExpr: Token[] | undefined;
  let notNull = false;
  let generated: ColumnDefinition['generated'];
  let check = false;
  let references: string | undefined;
  let buildsIndex: ColumnDefinition['buildsIndex'];
  while (i < tokens.length) {
    const t = tokens[i]!;
    if (isWord(t, 'default')) {
      const start = ++i;
      while (i < tokens.length && !(i > start && endsDefault(tokens, i))) {
        i = tokens[i]!.value === '(' ? skipParens(tokens, i) : i + 1;
      }
      defaultExpr = tokens.slice(start, i);
    } else if (isWord(t, 'not') && isWord(tokens[i + 1], 'null')) {
      notNull = true;
      i += 2;
    } else if (isWord(t, 'generated')) {
      let j = i + 1;
      while (j < tokens.length && !isWord(tokens[j], 'as')) j++;
      generated = isWord(tokens[j + 1], 'identity') ? 'identity' : 'stored';
      i = skipParens(tokens, j + 1);
      if (generated === 'identity') i = skipParens(tokens, j + 2);
    } else if (isWord(t, 'check')) {
      check = true;
      i = skipParens(tokens, i + 1);
    } else if (isWord(t, 'references')) {
      const target = readName(tokens, i + 1);
      references = target === undefined ? undefined : qualify(target.parts);
      i = target?.next ?? i + 1;
    } else if (isWord(t, 'primary') && isWord(tokens[i + 1], 'key')) {
      buildsIndex = 'primary key';
      notNull = true;
      i += 2;
    } else if (isWord(t, 'unique')) {
      buildsIndex ??= 'unique';
      i++;
    } else {
      i++;
    }
  }
  return { column: name.value, dataType, userType: userTypeName(dataType, qualify), defaultExpr, notNull, generated, check, references, buildsIndex };
}

function endsDefault(tokens: readonly Token[], i: number): boolean {
  const t = tokens[i]!;
  if (t.kind !== 'word' || !CONSTRAINT_START.has(t.value) || t.value === 'default') return false;
  return t.value !== 'not' || isWord(tokens[i + 1], 'null');
}
