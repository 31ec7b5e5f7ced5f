import { sql, type Kysely } from 'kysely';

/** What migration 2 did, per outcome, and the users that need a person. */
export interface OnboardingMigrationReport {
  /** The host's schema the ledger lives in. */
  readonly schema: string;
  /** Users per outcome (`completed`, `active`, `not-started`, `corrupt`, `conflict`, `error`); `pending` = not processed yet. */
  readonly outcomes: Readonly<Record<string, number>>;
  /** Users whose legacy onboarding was kept, not migrated, and why (`onboarding_migration_issues`). */
  readonly issues: readonly {
    readonly userId: string;
    readonly outcome: string;
    readonly reason: string;
  }[];
}

/**
 * Reads the ledger migration 2 keeps (`<schema>.onboarding_migration`).
 *
 * @example
 * const { outcomes, issues } = await onboardingMigrationReport(db, 'coach');
 */
export async function onboardingMigrationReport(
  db: Kysely<any>,
  schema: string,
): Promise<OnboardingMigrationReport> {
  const { rows: counts } = await sql<{ outcome: string; n: number | string }>`
    select coalesce(outcome, 'pending') as outcome, count(*) as n from ${sql.id(schema, 'onboarding_migration')} group by 1 order by 1`.execute(
    db,
  );
  const { rows: issues } = await sql<{ user_id: string; outcome: string; reason: string }>`
    select user_id, outcome, reason from ${sql.id(schema, 'onboarding_migration_issues')} order by user_id`.execute(
    db,
  );
  return {
    schema,
    outcomes: Object.fromEntries(counts.map((c) => [c.outcome, Number(c.n)])),
    issues: issues.map((i) => ({ userId: i.user_id, outcome: i.outcome, reason: i.reason })),
  };
}

/** The report as text, as `host.ts report` prints it; at most `limit` issues listed. */
export function formatOnboardingReport(report: OnboardingMigrationReport, limit = 50): string {
  const lines = ['Legacy onboarding → chatkeep, users per outcome:'];
  for (const [outcome, n] of Object.entries(report.outcomes))
    lines.push(`  ${outcome.padEnd(12)} ${n}`);
  lines.push(`Kept in the host table, not migrated (${report.issues.length}):`);
  for (const issue of report.issues.slice(0, limit))
    lines.push(`  ${issue.userId}  ${issue.outcome}: ${issue.reason}`);
  if (report.issues.length > limit)
    lines.push(
      `  … and ${report.issues.length - limit} more (select * from ${report.schema}.onboarding_migration_issues)`,
    );
  return lines.join('\n');
}
