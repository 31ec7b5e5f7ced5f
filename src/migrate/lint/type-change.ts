import type { Token } from './tokenize.js';
import { textOf } from './token-helpers.js';

/** A column type reduced to what decides a rewrite: its base name and modifiers. */
interface TypeShape {
  readonly base: string;
  readonly mods: readonly number[];
}

const ALIASES: Readonly<Record<string, string>> = {
  'character varying': 'varchar', varchar: 'varchar', text: 'text', numeric: 'numeric', decimal: 'numeric',
  'bit varying': 'varbit', varbit: 'varbit', citext: 'citext', character: 'char', char: 'char',
};

function shapeOf(type: string): TypeShape | undefined {
  const match = /^\s*([a-z ]+?)\s*(?:\(([\d\s,]+)\))?\s*$/.exec(type.toLowerCase());
  if (match === null) return undefined;
  const base = ALIASES[match[1]!.trim()];
  if (base === undefined) return undefined;
  return { base, mods: (match[2] ?? '').split(',').filter((m) => m.trim() !== '').map(Number) };
}

/** The target type of `ALTER COLUMN … TYPE` as text (`varchar(20)`). */
export function typeText(tokens: readonly Token[]): string {
  return textOf(tokens);
}

/**
 * Whether changing a column from `from` to `to` is binary-coercible, so
 * PostgreSQL neither rewrites the table nor rebuilds its indexes (ALTER TABLE
 * manual: "changing the type of an existing column … will require the entire
 * table and its indexes to be rewritten", with the exceptions of widening a
 * varchar/varbit length, going varchar → text, and raising a numeric's
 * precision with the same scale, or making it unconstrained).
 */
export function isSafeWidening(from: string, to: string): boolean {
  const a = shapeOf(from);
  const b = shapeOf(to);
  if (a === undefined || b === undefined) return false;
  if (b.base === 'text') return a.base === 'varchar' || a.base === 'text';
  if ((a.base === 'varchar' || a.base === 'varbit') && a.base === b.base) {
    return b.mods.length === 0 || (a.mods.length > 0 && b.mods[0]! >= a.mods[0]!);
  }
  if (a.base === 'text' && b.base === 'varchar') return b.mods.length === 0;
  if (a.base === 'numeric' && b.base === 'numeric') {
    if (b.mods.length === 0) return true;
    if (a.mods.length === 0) return false;
    return b.mods[0]! >= a.mods[0]! && (b.mods[1] ?? 0) === (a.mods[1] ?? 0);
  }
  return false;
}

/** Whether `to` is a type a safe widening can end in (text, varchar, numeric, varbit). */
export function couldBeWidening(to: string): boolean {
  const b = shapeOf(to);
  return b !== undefined && b.base !== 'char' && b.base !== 'citext';
}
