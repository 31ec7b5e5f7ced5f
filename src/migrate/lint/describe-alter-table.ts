import { readColumnDefinition } from './column-definition.js';
import type { AlterAction } from './ddl-statement.js';
import { findWord, isWord, readName, textOf, wordsAt } from './token-helpers.js';
import type { Token } from './tokenize.js';

const CONSTRAINT_KINDS = {
  check: 'check',
  foreign: 'foreign key',
  unique: 'unique',
  primary: 'primary key',
  exclude: 'exclude',
} as const;

/** Reads one comma-separated action of `ALTER TABLE … action, action`. */
export function describeAlterAction(
  tokens: readonly Token[],
  qualify: (parts: readonly string[]) => string,
): AlterAction {
  const other: AlterAction = { type: 'other', text: textOf(tokens) };
  if (isWord(tokens[0], 'add')) {
    let i = 1;
    let name: string | undefined;
    if (isWord(tokens[i], 'constraint')) {
      name = tokens[i + 1]?.value;
      i += 2;
    }
    const head = tokens[i];
    if (head?.kind === 'word' && head.value in CONSTRAINT_KINDS) {
      const constraint = CONSTRAINT_KINDS[head.value as keyof typeof CONSTRAINT_KINDS];
      const refAt = findWord(tokens, 'references', i);
      const target = refAt === -1 ? undefined : readName(tokens, refAt + 1);
      const usingAt = findWord(tokens, 'using', i);
      return {
        type: 'add-constraint',
        name,
        constraint,
        notValid: tokens.some((t, k) => isWord(t, 'not') && isWord(tokens[k + 1], 'valid')),
        usingIndex: usingAt !== -1 && isWord(tokens[usingAt + 1], 'index') && constraint !== 'exclude',
        references: target === undefined ? undefined : qualify(target.parts),
      };
    }
    if (isWord(tokens[i], 'column')) i++;
    const ifNotExists = wordsAt(tokens, i, 'if', 'not', 'exists');
    if (ifNotExists) i += 3;
    const column = readColumnDefinition(tokens.slice(i), qualify);
    return column === undefined ? other : { type: 'add-column', ifNotExists, ...column };
  }
  if (isWord(tokens[0], 'drop') && !isWord(tokens[1], 'constraint')) {
    let i = isWord(tokens[1], 'column') ? 2 : 1;
    const ifExists = wordsAt(tokens, i, 'if', 'exists');
    if (ifExists) i += 2;
    const column = tokens[i];
    return column === undefined ? other : { type: 'drop-column', column: column.value, ifExists };
  }
  if (isWord(tokens[0], 'alter')) {
    const i = isWord(tokens[1], 'column') ? 2 : 1;
    const column = tokens[i]?.value;
    if (column === undefined) return other;
    const rest = i + 1;
    if (isWord(tokens[rest], 'type') || wordsAt(tokens, rest, 'set', 'data', 'type')) {
      const typeStart = isWord(tokens[rest], 'type') ? rest + 1 : rest + 3;
      const usingAt = findWord(tokens, 'using', typeStart);
      const collateAt = findWord(tokens, 'collate', typeStart);
      const typeEnd = [usingAt, collateAt, tokens.length].filter((k) => k !== -1).reduce((a, b) => Math.min(a, b));
      return {
        type: 'alter-column-type',
        column,
        dataType: tokens.slice(typeStart, typeEnd),
        using: usingAt !== -1,
        collate: collateAt !== -1,
      };
    }
    if (wordsAt(tokens, rest, 'set', 'not', 'null')) return { type: 'set-not-null', column };
    return other;
  }
  if (wordsAt(tokens, 0, 'attach', 'partition')) {
    const partition = readName(tokens, 2);
    if (partition !== undefined) return { type: 'attach-partition', partition: qualify(partition.parts) };
  }
  if (wordsAt(tokens, 0, 'validate', 'constraint') && tokens[2] !== undefined) {
    return { type: 'validate-constraint', name: tokens[2].value };
  }
  if (
    isWord(tokens[0], 'set') &&
    (isWord(tokens[1], 'tablespace', 'logged', 'unlogged') || wordsAt(tokens, 1, 'access', 'method'))
  ) {
    return { type: 'rewrite', what: textOf(tokens) };
  }
  return other;
}
