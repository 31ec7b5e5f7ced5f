import { describeAlterAction } from './describe-alter-table.js';
import type { DdlShape, DdlStatement, DmlWrite } from './ddl-statement.js';
import type { SqlStatement } from './split-statements.js';
import { findWord, isWord, readName, skipParens, splitTopLevel, textOf, wordsAt } from './token-helpers.js';
import type { Token } from './tokenize.js';

/**
 * Recognises the statement shapes the rules need from the leading keywords
 * (the PostgreSQL grammar is keyword-led, so this is unambiguous for DDL).
 * `defaultSchema` qualifies unqualified table names.
 */
export function describeStatement(statement: SqlStatement, defaultSchema: string): DdlStatement {
  return { ...statement, ...shapeOf(statement.tokens, defaultSchema) };
}

function shapeOf(t: readonly Token[], defaultSchema: string): DdlShape {
  const qualify = (parts: readonly string[]): string =>
    parts.length >= 2 ? `${parts[parts.length - 2]}.${parts[parts.length - 1]}` : `${defaultSchema}.${parts[0] ?? ''}`;
  const nameAt = (i: number) => {
    const name = readName(t, i);
    return name === undefined ? undefined : { table: qualify(name.parts), next: name.next };
  };
  const other: DdlShape = {
    kind: 'other',
    keyword: t.slice(0, 2).map((x) => x.value.toUpperCase()).join(' '),
    concurrently: t.some((x) => isWord(x, 'concurrently')),
  };
  let i = 0;

  if (isWord(t[0], 'create')) {
    i = 1;
    if (wordsAt(t, i, 'or', 'replace')) i += 2;
    while (isWord(t[i], 'temp', 'temporary', 'unlogged', 'global', 'local')) i++;
    if (isWord(t[i], 'table')) {
      i++;
      const ifNotExists = wordsAt(t, i, 'if', 'not', 'exists');
      const name = nameAt(ifNotExists ? i + 3 : i);
      if (name === undefined) return other;
      const references = t.flatMap((x, k) => {
        const target = isWord(x, 'references') ? readName(t, k + 1) : undefined;
        return target === undefined ? [] : [qualify(target.parts)];
      });
      // CREATE TABLE … AS query [WITH [NO] DATA]: `as` at the top level only
      // there (a generated column's AS sits inside the column list).
      const withRows = findWord(t, 'as', name.next) !== -1 && !wordsAt(t, t.length - 3, 'with', 'no', 'data');
      return { kind: 'create-table', table: name.table, ifNotExists, references: [...new Set(references)], withRows };
    }
    if (isWord(t[i], 'domain', 'type')) {
      const name = readName(t, i + 1);
      if (name === undefined) return other;
      const domain = isWord(t[i], 'domain');
      const constrainedDomain = domain && t.some((x, k) => isWord(x, 'check') || (isWord(x, 'not') && isWord(t[k + 1], 'null')));
      return { kind: 'create-type', type: qualify(name.parts), constrainedDomain };
    }
    if (isWord(t[i], 'unique')) i++;
    if (isWord(t[i], 'index')) {
      const concurrently = isWord(t[i + 1], 'concurrently');
      const on = findWord(t, 'on', i);
      const ifNotExists = t.slice(i, on).some((x, k, a) => isWord(x, 'if') && isWord(a[k + 1], 'not'));
      const before = t[on - 1];
      const index = before === undefined || isWord(before, 'index', 'concurrently', 'exists') ? undefined : before.value;
      const target = nameAt(isWord(t[on + 1], 'only') ? on + 2 : on + 1);
      if (on === -1 || target === undefined) return other;
      return { kind: 'create-index', table: target.table, indexName: index, concurrently, ifNotExists };
    }
    return other;
  }

  if (wordsAt(t, 0, 'alter', 'table')) {
    i = 2;
    if (wordsAt(t, i, 'if', 'exists')) i += 2;
    if (isWord(t[i], 'only')) i++;
    const name = nameAt(i);
    if (name === undefined || isWord(t[i], 'all')) return other;
    i = name.next;
    if (t[i]?.value === '*') i++;
    if (wordsAt(t, i, 'rename', 'to') && t[i + 2] !== undefined) {
      return { kind: 'rename-table', table: name.table, to: t[i + 2]!.value };
    }
    if (wordsAt(t, i, 'set', 'schema') && t[i + 2] !== undefined) {
      return { kind: 'rename-table', table: name.table, to: `${t[i + 2]!.value}.${name.table.split('.')[1]}` };
    }
    if (isWord(t[i], 'rename') && !isWord(t[i + 1], 'constraint')) {
      const c = isWord(t[i + 1], 'column') ? i + 2 : i + 1;
      const column = t[c]?.value;
      const to = isWord(t[c + 1], 'to') ? t[c + 2]?.value : undefined;
      if (column !== undefined && to !== undefined) return { kind: 'rename-column', table: name.table, column, to };
      return other;
    }
    const actions = splitTopLevel(t.slice(i)).map((a) => describeAlterAction(a, qualify));
    return { kind: 'alter-table', table: name.table, actions };
  }

  if (wordsAt(t, 0, 'alter', 'domain')) {
    const name = readName(t, 2);
    if (name === undefined) return other;
    const k = name.next;
    const notValid = t.some((x, n) => isWord(x, 'not') && isWord(t[n + 1], 'valid'));
    const checks = isWord(t[k], 'add') && !notValid
      ? 'add-constraint'
      : wordsAt(t, k, 'validate', 'constraint')
        ? 'validate-constraint'
        : wordsAt(t, k, 'set', 'not', 'null')
          ? 'set-not-null'
          : undefined;
    const constrains = isWord(t[k], 'add') || wordsAt(t, k, 'set', 'not', 'null');
    return { kind: 'alter-domain', domain: qualify(name.parts), checks, constrains };
  }

  if (wordsAt(t, 0, 'drop', 'table')) {
    const ifExists = wordsAt(t, 2, 'if', 'exists');
    const names = splitTopLevel(t.slice(ifExists ? 4 : 2))
      .map((part) => readName(part, 0))
      .flatMap((n) => (n === undefined ? [] : [qualify(n.parts)]));
    return { kind: 'drop-table', tables: names, ifExists };
  }

  if (isWord(t[0], 'truncate')) {
    // TRUNCATE [TABLE] [ONLY] name [*] [, …] [RESTART IDENTITY] [CASCADE]
    const names = splitTopLevel(t.slice(isWord(t[1], 'table') ? 2 : 1))
      .map((part) => readName(part, isWord(part[0], 'only') ? 1 : 0))
      .flatMap((n) => (n === undefined ? [] : [qualify(n.parts)]));
    return { kind: 'truncate', tables: names };
  }

  if (wordsAt(t, 0, 'drop', 'index')) {
    i = 2;
    const concurrently = isWord(t[i], 'concurrently');
    if (concurrently) i++;
    const ifExists = wordsAt(t, i, 'if', 'exists');
    if (ifExists) i += 2;
    const indexes = splitTopLevel(t.slice(i))
      .map((part) => readName(part, 0))
      .flatMap((n) => (n === undefined ? [] : [qualify(n.parts)]));
    return { kind: 'drop-index', indexes, concurrently, ifExists };
  }

  if (isWord(t[0], 'vacuum')) {
    const options = t[1]?.value === '(' ? t.slice(1, findClose(t, 1)) : [];
    const full = isWord(t[1], 'full') || options.some((x) => isWord(x, 'full'));
    if (!full) return other;
    const last = t[t.length - 1];
    const table = last !== undefined && last.value !== ')' && !isWord(last, 'full', 'verbose', 'analyze', 'freeze') ? readTail(t, qualify) : undefined;
    return { kind: 'rewrite-command', command: 'VACUUM FULL', table };
  }
  if (isWord(t[0], 'cluster')) {
    const j = isWord(t[1], 'verbose') ? 2 : 1;
    const name = nameAt(j);
    return { kind: 'rewrite-command', command: 'CLUSTER', table: name?.table };
  }
  if (isWord(t[0], 'reindex')) {
    if (t.some((x) => isWord(x, 'concurrently'))) return other;
    // REINDEX [(options)] { INDEX | TABLE | SCHEMA | DATABASE | SYSTEM } [name]:
    // the option list may sit before the kind.
    const k = skipParens(t, 1);
    const kind = t[k]?.value.toUpperCase();
    if (kind === 'TABLE') return { kind: 'rewrite-command', command: 'REINDEX', table: readTail(t, qualify) };
    if (kind === 'INDEX' || kind === 'SCHEMA' || kind === 'DATABASE' || kind === 'SYSTEM') {
      const name = readName(t, k + 1);
      const named = name === undefined ? undefined : kind === 'INDEX' ? qualify(name.parts) : name.parts.join('.');
      return { kind: 'rewrite-command', command: 'REINDEX', table: undefined, target: { kind, name: named } };
    }
    return { kind: 'rewrite-command', command: 'REINDEX', table: undefined };
  }

  if (isWord(t[0], 'lock')) {
    i = isWord(t[1], 'table') ? 2 : 1;
    if (isWord(t[i], 'only')) i++;
    const inAt = findWord(t, 'in', i);
    const tables = splitTopLevel(t.slice(i, inAt === -1 ? undefined : inAt))
      .map((part) => readName(part, 0))
      .flatMap((n) => (n === undefined ? [] : [qualify(n.parts)]));
    const modeEnd = findWord(t, 'mode', i);
    const mode = inAt === -1 ? 'ACCESS EXCLUSIVE' : textOf(t.slice(inAt + 1, modeEnd === -1 ? undefined : modeEnd)).toUpperCase();
    return { kind: 'lock-table', tables, mode };
  }

  if (isWord(t[0], 'set', 'reset')) {
    i = isWord(t[1], 'local', 'session') ? 2 : 1;
    const name = t[i]?.value;
    if (name === undefined) return other;
    if (isWord(t[0], 'reset')) return { kind: 'set-setting', settings: [{ name, value: null, local: false }] };
    const value = t.slice(isWord(t[i + 1], 'to') || t[i + 1]?.value === '=' ? i + 2 : i + 1);
    return { kind: 'set-setting', settings: [{ name, value: value.map((x) => x.value).join(' '), local: isWord(t[1], 'local') }] };
  }

  if (isWord(t[0], 'select')) {
    // SELECT … INTO [TEMP | UNLOGGED] [TABLE] name FROM …: CREATE TABLE AS by another name.
    const into = findWord(t, 'into', 1);
    if (into !== -1) {
      let k = into + 1;
      while (isWord(t[k], 'temp', 'temporary', 'unlogged', 'global', 'local', 'table')) k++;
      const name = nameAt(k);
      if (name !== undefined) return { kind: 'create-table', table: name.table, ifNotExists: false, references: [], withRows: true };
    }
    // `SELECT set_config('lock_timeout', '0', …)` is SET (LOCAL) by another
    // name; the runner itself sets its timeouts that way. Only a select list
    // of nothing but such calls with one-token arguments counts (it writes
    // nothing, which tables-left-empty.ts relies on); a value that is not a
    // string literal is kept as a text no duration parses: "unreadable".
    const calls = splitTopLevel(t.slice(1));
    const settings = calls.flatMap((c) =>
      c.length === 8 && isWord(c[0], 'set_config') && c[1]!.value === '(' && c[2]!.kind === 'string' && c[3]!.value === ',' && c[5]!.value === ',' && c[7]!.value === ')'
        ? [{ name: c[2]!.value, value: c[4]!.kind === 'string' ? c[4]!.value : `<${c[4]!.value}>`, local: !isFalse(c[6]!) }]
        : [],
    );
    if (settings.length > 0 && settings.length === calls.length) return { kind: 'set-setting', settings };
  }

  // A data-modifying WITH runs its UPDATE/DELETE like a bare one, and they
  // may sit in any of its queries or be its main statement.
  const writes = dmlWrites(t, qualify);
  if (writes.length > 0) return { kind: 'dml', writes };
  return other;
}

/** The UPDATEs and DELETEs of `t`: a bare one, or those of a `WITH` (its queries, nested WITHs, its main statement). */
function dmlWrites(t: readonly Token[], qualify: (parts: readonly string[]) => string): DmlWrite[] {
  if (isWord(t[0], 'update') || wordsAt(t, 0, 'delete', 'from')) {
    const update = isWord(t[0], 'update');
    let i = update ? 1 : 2;
    if (isWord(t[i], 'only')) i++;
    const name = readName(t, i);
    if (name === undefined) return [];
    return [{ verb: update ? 'UPDATE' : 'DELETE', table: qualify(name.parts), hasWhere: findWord(t, 'where', i) !== -1 }];
  }
  if (!isWord(t[0], 'with')) return [];
  // WITH [RECURSIVE] name [(columns)] AS [[NOT] MATERIALIZED] (query) [, …] statement
  const writes: DmlWrite[] = [];
  let i = isWord(t[1], 'recursive') ? 2 : 1;
  for (;;) {
    i = skipParens(t, i + 1);
    if (!isWord(t[i], 'as')) return writes;
    i++;
    if (isWord(t[i], 'not')) i++;
    if (isWord(t[i], 'materialized')) i++;
    const end = skipParens(t, i);
    if (end === i) return writes;
    writes.push(...dmlWrites(t.slice(i + 1, end - 1), qualify));
    i = end;
    if (t[i]?.value !== ',' || t[i]?.kind !== 'op') break;
    i++;
  }
  return [...writes, ...dmlWrites(t.slice(i), qualify)];
}

/** Whether `token` is a boolean false as PostgreSQL reads one (`false`, `'f'`, `'off'`, …): set_config's is_local. */
function isFalse(token: Token): boolean {
  return isWord(token, 'false') || (token.kind === 'string' && ['f', 'fa', 'fal', 'fals', 'false', 'n', 'no', 'of', 'off', '0'].includes(token.value.trim().toLowerCase()));
}

function findClose(t: readonly Token[], open: number): number {
  let depth = 0;
  for (let k = open; k < t.length; k++) {
    if (t[k]!.value === '(' && t[k]!.kind === 'op') depth++;
    if (t[k]!.value === ')' && t[k]!.kind === 'op' && --depth === 0) return k;
  }
  return t.length;
}

/** The qualified name formed by the statement's trailing name tokens (`… schema.table`). */
function readTail(t: readonly Token[], qualify: (parts: readonly string[]) => string): string | undefined {
  let k = t.length - 1;
  while (k > 0 && t[k - 1]?.kind === 'op' && t[k - 1]?.value === '.') k -= 2;
  const name = readName(t, k);
  return name === undefined ? undefined : qualify(name.parts);
}
