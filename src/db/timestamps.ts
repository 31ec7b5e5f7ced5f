import type pg from 'pg';
import { CHATKEEP_TYPES, defaultTextParser } from './type-parsers.js';

const TIMESTAMPTZ_OID = 1184;
/** The driver's own parser: a Date, or for `infinity` what the driver makes of it. */
const pgTimestamptz = defaultTextParser(TIMESTAMPTZ_OID);

const ZERO = 48;
const digits = (text: string, at: number, count: number): number => {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const d = text.charCodeAt(i) - ZERO;
    if (d < 0 || d > 9) return Number.NaN;
    value = value * 10 + d;
  }
  return value;
};

/**
 * A `timestamptz` as PostgreSQL writes it under DateStyle ISO (the default),
 * `2026-11-23 21:11:36.938882+00` (offset `+HH`, `+HH:MM` or `+HH:MM:SS`),
 * read into a Date by character codes. Hot reads used to have the database
 * compute epoch milliseconds with numeric arithmetic instead, so that the
 * driver's parser (a regular expression per value) stayed off the path:
 * that arithmetic cost PostgreSQL ~20 µs of CPU per 50-row page, about a
 * sixth of the statement (pgbench, bench/README.md). The fraction is cut to
 * whole milliseconds toward the past, as Date and the driver's parser cut
 * it. Anything else (years before 100 or after 9999, BC, infinity, another
 * DateStyle) goes to the driver's own parser, so the result never differs
 * from what the driver would return.
 */
export function parseTimestamptz(text: string): unknown {
  const n = text.length;
  if (n >= 22 && text.charCodeAt(4) === 45 && text.charCodeAt(7) === 45 && text.charCodeAt(10) === 32) {
    const year = digits(text, 0, 4);
    let i = 19;
    let ms = 0;
    if (text.charCodeAt(i) === 46) {
      // Up to 6 fractional digits; the first three are the milliseconds.
      let place = 100;
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i) - ZERO;
        if (d < 0 || d > 9) break;
        ms += d * place;
        place /= 10;
      }
      ms = Math.floor(ms);
    }
    const sign = text.charCodeAt(i) === 43 ? 1 : text.charCodeAt(i) === 45 ? -1 : 0;
    let offset = digits(text, i + 1, 2) * 3600;
    i += 3;
    if (text.charCodeAt(i) === 58) {
      offset += digits(text, i + 1, 2) * 60;
      i += 3;
      if (text.charCodeAt(i) === 58) {
        offset += digits(text, i + 1, 2);
        i += 3;
      }
    }
    const time =
      Date.UTC(year, digits(text, 5, 2) - 1, digits(text, 8, 2), digits(text, 11, 2), digits(text, 14, 2), digits(text, 17, 2), ms) -
      sign * offset * 1000;
    // Date.UTC reads years 0–99 as 1900–1999; NaN marks a character out of place.
    if (i === n && sign !== 0 && year >= 100 && text.charCodeAt(13) === 58 && text.charCodeAt(16) === 58 && !Number.isNaN(time)) {
      return new Date(time);
    }
  }
  return pgTimestamptz(text);
}

/** The driver's type parsers, with `parseTimestamptz` for timestamptz: passed per statement on hot paths. */
export const HOT_PATH_TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === TIMESTAMPTZ_OID && format !== 'binary' ? parseTimestamptz : CHATKEEP_TYPES.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};
