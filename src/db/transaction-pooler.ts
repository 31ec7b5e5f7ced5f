import type pg from 'pg';
import { ChatkeepError } from '../errors/index.js';

/**
 * The session settings chatkeep assumes (type-parsers.ts, SESSION_SETTINGS_SQL), as the
 * server's defaults must give them when chatkeep cannot set them itself.
 */
const ASSUMED: readonly { readonly setting: string; readonly ok: (value: string) => boolean; readonly value: string }[] = [
  { setting: 'DateStyle', ok: (v) => v.startsWith('ISO'), value: 'ISO, MDY' },
  { setting: 'IntervalStyle', ok: (v) => v === 'postgres', value: 'postgres' },
  { setting: 'standard_conforming_strings', ok: (v) => v === 'on', value: 'on' },
  { setting: 'default_transaction_isolation', ok: (v) => v === 'read committed', value: 'read committed' },
];

/**
 * Behind a pooler in transaction mode chatkeep cannot set its session
 * settings (a `SET` would stay on whichever server session ran it, for
 * another client's next transaction), so the server's defaults must already
 * be what it assumes; they are PostgreSQL's own unless the database or role
 * changed them. Refuses with CK_CONFIG naming the setting and the statement
 * that fixes it.
 */
export async function assertServerDefaults(client: pg.ClientBase, description: string): Promise<void> {
  const { rows } = await client.query<Record<string, string>>(
    `select ${ASSUMED.map(({ setting }, i) => `current_setting('${setting}') as s${i}`).join(', ')}, current_database() as db`,
  );
  const row = rows[0] ?? {};
  for (const [i, { setting, ok, value }] of ASSUMED.entries()) {
    const actual = row[`s${i}`] ?? '';
    if (ok(actual)) continue;
    throw new ChatkeepError(
      'CK_CONFIG',
      `pooler: behind a transaction pooler chatkeep cannot set ${setting} on its sessions, and ${description} defaults to '${actual}'; set it for the database: ALTER DATABASE "${row['db']}" SET ${setting} = '${value}'`,
      { field: 'pooler', setting },
    );
  }
}
