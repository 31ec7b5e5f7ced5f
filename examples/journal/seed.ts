import { sql, type Kysely } from 'kysely';

const MODELS = [
  'gemini_2_5_flash_lite@2025-06-17',
  'gpt_4@0613',
  'fallback',
  'gemini_2_5_flash_lite@2025-07-01',
] as const;
const REGIONS = ['eu-west1', 'us-central1', 'asia-east1'] as const;

/** The journal user ids the seed creates: `journal-user-001` … */
export function journalUserId(i: number): string {
  return `journal-user-${String(i).padStart(3, '0')}`;
}

/**
 * The i-th analysis's old shape, deterministic and as uneven as real data:
 * several models (one without a version), a failed analysis without a model,
 * documents missing keys, one without a document, a wrong-typed value.
 */
export function legacyAnalysis(i: number): {
  model: string | null;
  processing_metadata: Record<string, unknown> | null;
  status: string;
} {
  if (i % 50 === 0) return { model: null, processing_metadata: null, status: 'failed' };
  const metadata: Record<string, unknown> = {
    requestTokens: 300 + ((i * 37) % 900),
    responseTokens: 80 + ((i * 11) % 300),
    cached: i % 4 === 0,
    batch: i % 3 === 0,
    region: REGIONS[i % REGIONS.length],
    retries: i % 5,
  };
  if (i % 7 === 0) delete metadata['region'];
  if (i % 11 === 0) delete metadata['cached'];
  if (i % 97 === 0) metadata['requestTokens'] = 'n/a';
  return {
    model: MODELS[i % MODELS.length]!,
    processing_metadata: i % 61 === 0 ? null : metadata,
    status: 'completed',
  };
}

/**
 * Inserts `users` users with `entriesPerUser` entries each, and one analysis
 * per entry in the old shape — as the app itself wrote them.
 *
 * @example
 * await seedJournal(db, 'journal', { users: 200, entriesPerUser: 15 });
 */
export async function seedJournal(
  db: Kysely<any>,
  schema: string,
  options: { readonly users?: number; readonly entriesPerUser?: number } = {},
): Promise<void> {
  const users = options.users ?? 200;
  const perUser = options.entriesPerUser ?? 15;
  const s = sql.id(schema);
  await sql`insert into ${s}.users (id, name)
            select 'journal-user-' || lpad(g::text, 3, '0'), 'Writer ' || g from generate_series(1, ${users}::int) g
            on conflict (id) do nothing`.execute(db);
  await sql`insert into ${s}.entries (user_id, body, created_at)
            select 'journal-user-' || lpad(u::text, 3, '0'), 'Entry ' || e || ' of writer ' || u,
                   timestamptz '2025-01-01' + make_interval(days => e, mins => u)
              from generate_series(1, ${users}::int) u, generate_series(1, ${perUser}::int) e
             order by u, e`.execute(db);
  const { rows: entries } = await sql<{ id: string | number; user_id: string }>`
    select e.id, e.user_id from ${s}.entries e
     where not exists (select 1 from ${s}.ai_analysis a where a.entry_id = e.id) order by e.id`.execute(
    db,
  );
  for (let from = 0; from < entries.length; from += 500) {
    const rows = entries.slice(from, from + 500).map((entry, k) => {
      const i = from + k + 1;
      const old = legacyAnalysis(i);
      return {
        entry_id: entry.id,
        user_id: entry.user_id,
        status: old.status,
        result: JSON.stringify({
          sentiment: ((i % 21) - 10) / 10,
          themes: ['running', 'sleep', 'work'].slice(0, 1 + (i % 3)),
        }),
        model: old.model,
        processing_metadata:
          old.processing_metadata === null ? null : JSON.stringify(old.processing_metadata),
        api_cost: (i % 90) / 100_000,
        processing_time_ms: 200 + (i % 1800),
      };
    });
    await db.withSchema(schema).insertInto('ai_analysis').values(rows).execute();
  }
  await sql`analyze ${s}.users, ${s}.entries, ${s}.ai_analysis`.execute(db);
}
