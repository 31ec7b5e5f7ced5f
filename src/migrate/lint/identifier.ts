/**
 * Identifiers as PostgreSQL stores them, so a table the lint names is the
 * table `tableRows`/`columnType` know (pg_class.relname). The rules are the
 * lexer's (src/backend/parser/scansup.c, scan.l): an unquoted name has only
 * its ASCII letters down-cased in a multi-byte (UTF-8) database; a
 * `U&"…"` name has its escapes decoded; every name is cut to
 * NAMEDATALEN - 1 = 63 bytes, never inside a character.
 */

/** The longest identifier PostgreSQL keeps, in bytes (NAMEDATALEN - 1). */
const MAX_IDENTIFIER_BYTES = 63;

/** An unquoted identifier or keyword as PostgreSQL folds it: `NOTÉS` → `notÉs`. */
export function foldIdentifier(word: string): string {
  return truncateIdentifier(word.replace(/[A-Z]+/g, (s) => s.toLowerCase()));
}

/** `name` cut to 63 bytes of UTF-8 at a character boundary (PostgreSQL's truncate_identifier). */
export function truncateIdentifier(name: string): string {
  let bytes = 0;
  let end = 0;
  for (const ch of name) {
    const cp = ch.codePointAt(0)!;
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes > MAX_IDENTIFIER_BYTES) return name.slice(0, end);
    end += ch.length;
  }
  return name;
}

/**
 * The body of a `U&'…'` string or `U&"…"` identifier with its escapes
 * decoded: `<e>XXXX`, `<e>+XXXXXX` and `<e><e>`, where `<e>` is `\` or the
 * character of a `UESCAPE` clause. A malformed escape is left as written
 * (PostgreSQL rejects the statement anyway).
 */
export function decodeUnicodeEscapes(body: string, escape = '\\'): string {
  let out = '';
  for (let i = 0; i < body.length; ) {
    if (body[i] !== escape) {
      out += body[i]!;
      i++;
    } else if (body[i + 1] === escape) {
      out += escape;
      i += 2;
    } else if (body[i + 1] === '+' && /^[0-9A-Fa-f]{6}$/.test(body.slice(i + 2, i + 8))) {
      out += String.fromCodePoint(Number.parseInt(body.slice(i + 2, i + 8), 16));
      i += 8;
    } else if (/^[0-9A-Fa-f]{4}$/.test(body.slice(i + 1, i + 5))) {
      // Surrogate halves written as two escapes combine in the JS string as in PostgreSQL.
      out += String.fromCharCode(Number.parseInt(body.slice(i + 1, i + 5), 16));
      i += 5;
    } else {
      out += body[i]!;
      i++;
    }
  }
  return out;
}
