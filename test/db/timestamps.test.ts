import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTimestamptz } from '../../src/db/timestamps.js';
import { PG_ADMIN_URL, PG_AVAILABLE } from '../support/backends.js';

const driver = pg.types.getTypeParser(1184, 'text') as (text: string) => unknown;
/** A Date as its epoch milliseconds, anything else (infinity) as text, so both parsers compare exactly. */
const value = (v: unknown): number | string => (v instanceof Date ? v.getTime() : String(v));

describe('parseTimestamptz (hot reads of timestamptz)', () => {
  it.each([
    ['2026-11-23 21:11:36.938882+00', Date.UTC(2026, 10, 23, 21, 11, 36, 938)],
    ['2026-11-23 21:11:36+00', Date.UTC(2026, 10, 23, 21, 11, 36)],
    ['2026-11-23 16:11:36.9+05:30', Date.UTC(2026, 10, 23, 10, 41, 36, 900)],
    ['2026-03-29 01:30:00.123-03', Date.UTC(2026, 2, 29, 4, 30, 0, 123)],
    // A local mean time offset with seconds, as PostgreSQL writes it for old dates.
    ['1883-11-18 12:00:00+00:53:28', Date.UTC(1883, 10, 18, 11, 6, 32)],
    // The fraction is cut toward the past, before 1970 too.
    ['1969-12-31 23:59:59.9995+00', -1],
    ['2024-02-29 23:59:59.999999-12', Date.UTC(2024, 2, 1, 11, 59, 59, 999)],
  ])('reads %s as the driver does', (text, expected) => {
    expect(value(parseTimestamptz(text))).toBe(expected);
    expect(value(parseTimestamptz(text))).toBe(value(driver(text)));
  });

  it.each([
    '0099-01-01 00:00:00+00',
    '0099-01-01 00:00:00+00 BC',
    '10000-01-01 00:00:00+00',
    'infinity',
    '-infinity',
    '2026-11-23T21:11:36Z',
    '23/11/2026 21:11:36.938882 UTC',
  ])('hands %s, which it does not read itself, to the driver and returns its answer', (text) => {
    expect(value(parseTimestamptz(text))).toBe(value(driver(text)));
  });
});

describe.skipIf(!PG_AVAILABLE)('parseTimestamptz on PostgreSQL output', () => {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  beforeAll(() => client.connect());
  afterAll(() => client.end());

  // Offsets of whole hours, half hours, negative ones, and local mean time with seconds (before ~1900).
  it.each(['UTC', 'Asia/Kolkata', 'America/St_Johns', 'Europe/Amsterdam', 'Pacific/Chatham', 'America/New_York'])(
    'returns the driver’s Date for 20,000 timestamps written in time zone %s',
    async (zone) => {
      await client.query(`set timezone = '${zone}'`);
      const { rows } = await client.query<{ text: string }>({
        text: `select ts::text as text from (
                 select timestamptz '1700-01-01Z' + random() * (timestamptz '2300-01-01Z' - timestamptz '1700-01-01Z') as ts
                   from generate_series(1, 10000)
                 union all
                 select date_trunc('milliseconds', timestamptz '1900-01-01Z' + random() * (timestamptz '2100-01-01Z' - timestamptz '1900-01-01Z'))
                        + k * interval '1 microsecond'
                   from generate_series(1, 2500), (values (0), (-1), (1), (999)) v(k)) t`,
      });
      expect(rows).toHaveLength(20_000);
      const different = rows.filter((row) => value(parseTimestamptz(row.text)) !== value(driver(row.text)));
      expect(different.slice(0, 5)).toEqual([]);
    },
  );

  it('reads a stored time exactly as the database truncates it to milliseconds', async () => {
    await client.query(`set timezone = 'UTC'`);
    const { rows } = await client.query<{ text: string; ms: string }>(
      `select ts::text as text, floor(extract(epoch from ts) * 1000)::text as ms
         from (values (timestamptz '2038-01-19 03:14:07.999999Z'), (timestamptz '2106-02-07 06:28:16.000001Z'),
                      (timestamptz '1901-12-13 20:45:51.5Z'), (timestamptz '2255-06-05 23:47:34.740991Z')) v(ts)`,
    );
    for (const row of rows) expect(value(parseTimestamptz(row.text))).toBe(Number(row.ms));
  });
});
