import { randomBytes } from 'node:crypto';
import type { LogEvent } from 'kysely';
import { ChatkeepError } from '../../errors/index.js';
import type { Migration, MigrationContext } from '../migration.js';
import type { MigrationResult } from '../migration-result.js';
import { Migrator } from '../migrator.js';
import type { AllowLintErrors, MigratorOptions } from '../migrator-options.js';
import { groupPhases, type Phase } from '../phases.js';
import type { PlannedMigration, PlanOptions } from '../planned-migration.js';
import { renderMigration, type MigrationDirection } from '../render-migration.js';
import { hasSteps, runnableStatements } from '../steps.js';
import { estimatedLocks, type LoggedQuery } from './estimated-locks.js';
import { compareModes } from './lock-modes.js';
import { LockSampler, type SampledLocks } from './lock-sampler.js';
import { measuredLocks } from './measured-locks.js';
import type { OpenedCopy, RehearsalCopy } from './rehearsal-copy.js';
import { serverRoles, serverRolesNote } from './server-roles.js';
import { isStopped, rehearsalStopped } from './rehearsal-stopped.js';
import { terminateSessions } from './terminate-sessions.js';
import type { HeldLock, RehearsalReport, RehearsedMigration, RehearsedStep } from './rehearsal-report.js';
import { StepTimeline, type TimedStep } from './step-timeline.js';

// In a module of their own, so `chatkeep migrate plan --help` can print them without loading the drivers.
import { DEFAULT_MAX_LOCK_MS, DEFAULT_SAMPLE_INTERVAL_MS } from './rehearse-defaults.js';
export { DEFAULT_MAX_LOCK_MS, DEFAULT_SAMPLE_INTERVAL_MS };

export interface RehearseOptions {
  /** Where to rehearse: `pgliteClone(…)`, `postgresDumpCopy(…)` or `postgresScratch(…)`. */
  readonly copy: RehearsalCopy;
  /**
   * The options the real run uses, without `db` (the copy's is used). Its
   * `onEvent`, if any, also receives the rehearsal's events (progress).
   */
  readonly migrator: Omit<MigratorOptions, 'db'>;
  /** What to rehearse; default `{ direction: 'up' }` (every pending migration). */
  readonly plan?: PlanOptions;
  /** Flag a step that holds a write-blocking lock on an existing relation longer than this; default 200. */
  readonly maxLockMs?: number;
  /** PostgreSQL: time between two `pg_locks` samples; default 5. Shorter is finer and costs the server more. */
  readonly sampleIntervalMs?: number;
  /**
   * What the real target would run (its `migrator.plan()`): when the copy
   * would run anything else — an older snapshot, a copy taken before
   * another deploy — the rehearsal is refused with CK_CONFIG instead of
   * rehearsing a different plan.
   */
  readonly expectPlan?: readonly Pick<PlannedMigration, 'version' | 'direction'>[];
  /**
   * Stops the rehearsal (the CLI aborts it on SIGINT and SIGTERM): a copy
   * being made is removed, a migration running on a PostgreSQL copy is ended
   * (its sessions terminated), the copy is discarded, and `rehearse` rejects
   * with CK_SHUTTING_DOWN. A PGlite clone's running statement cannot be
   * interrupted: the stop takes effect when it ends.
   */
  readonly signal?: AbortSignal;
}

/**
 * Runs the plan on a throw-away copy of the database and reports, per
 * migration and step, how long it took and which locks it held for how
 * long — measured on PostgreSQL by a second session sampling `pg_locks`,
 * estimated on PGlite (one session) from the lint's reading of each
 * statement and the query log's timings. A step that held a write-blocking
 * lock (SHARE or stronger) on an existing relation longer than `maxLockMs`
 * is flagged. The target is never written to; the copy is discarded.
 *
 * A migration that fails on the copy is reported (`report.error`), not
 * thrown, like `Migrator.up`. Throws when the rehearsal cannot start: no
 * copy (CK_CONFIG, CK_DB_UNAVAILABLE), history problems on the copy (as
 * `plan` does), or a copy whose plan is not `expectPlan` (CK_CONFIG).
 *
 * @example
 * const report = await rehearse({
 *   copy: pgliteClone(pglite),
 *   migrator: { migrations, schema: 'app' },
 *   maxLockMs: 200,
 * });
 * for (const m of report.migrations) for (const s of m.steps) if (s.flagged) console.log(m.version, s.description, s.locks);
 */
export async function rehearse(options: RehearseOptions): Promise<RehearsalReport> {
  const maxLockMs = checkedMs('maxLockMs', options.maxLockMs ?? DEFAULT_MAX_LOCK_MS, 0);
  const sampleIntervalMs = checkedMs('sampleIntervalMs', options.sampleIntervalMs ?? DEFAULT_SAMPLE_INTERVAL_MS, 1);
  // A lock held longer than the budget spans at least one sample only when
  // samples come at least once per budget; with a longer interval a step
  // over the budget can go unsampled and pass as within it (exit 0). Budgets
  // below the default interval keep working: their accuracy is the
  // interval's, as documented.
  if (sampleIntervalMs > Math.max(maxLockMs, DEFAULT_SAMPLE_INTERVAL_MS)) {
    throw new ChatkeepError(
      'CK_CONFIG',
      `sampleIntervalMs: ${sampleIntervalMs} ms is longer than the lock budget (${maxLockMs} ms); a lock held longer than the budget could fall between two samples and its step pass unflagged`,
      { field: 'sampleIntervalMs' },
    );
  }
  const target = options.plan ?? { direction: 'up' };
  // Unique per rehearsal: the monitor finds the rehearsal's sessions by it.
  const applicationName = `chatkeep-rehearsal-${randomBytes(6).toString('hex')}`;
  const log: LoggedQuery[] = [];
  let keepLog = false;
  const { signal } = options;
  if (signal !== undefined && isStopped(signal)) throw rehearsalStopped(signal);
  const copy = await options.copy.open({
    applicationName,
    log: (event: LogEvent) => {
      if (!keepLog) return;
      const end = performance.now();
      log.push({ sql: event.query.sql, start: end - event.queryDurationMillis, end });
    },
    ...(signal !== undefined ? { signal } : {}),
  });
  let sampler: LockSampler | undefined;
  // Stopped while the plan runs: end the copy's sessions, so the migrator
  // returns (its migration failed) and the copy can be discarded now rather
  // than when the migration would have finished.
  let terminating: Promise<void> | undefined;
  const onAbort = () => {
    if (copy.url !== undefined) terminating ??= terminateSessions(copy.url, applicationName);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (signal !== undefined && isStopped(signal)) throw rehearsalStopped(signal);
    const timeline = new StepTimeline();
    const migrator = new Migrator({
      ...options.migrator,
      db: copy.db,
      onEvent: (event) => {
        timeline.listener(event);
        options.migrator.onEvent?.(event);
      },
    });
    const plan = await migrator.plan(target);
    assertSamePlan(plan, options.expectPlan, copy.description);
    timeline.usePlan(plan);
    // Only a single-session copy needs the log (estimates); a long backfill logs many queries.
    keepLog = copy.url === undefined;
    // PGlite's clone is an instance of its own; a PostgreSQL copy shares its server's roles.
    const rolesBefore = copy.url !== undefined ? await serverRoles(copy.db) : undefined;
    if (copy.url !== undefined) sampler = await LockSampler.start(copy.url, applicationName, sampleIntervalMs);
    const started = performance.now();
    // The lint gate is not rehearsed: measuring what the lint warns about is
    // the point, and which migrations the real `up` would refuse is noted below.
    const outcome =
      target.direction === 'up'
        ? await migrator.up({ ...(target.to === undefined ? {} : { to: target.to }), allowLintErrors: true })
        : await migrator.down({ to: target.to });
    const durationMs = Math.round(performance.now() - started);
    // A migration "failed" because its session was terminated is not a finding. Migrations
    // committed before the stop may have changed the server's roles, which the copy does not take away.
    if (signal !== undefined && isStopped(signal)) {
      await terminating;
      throw rehearsalStopped(signal, rolesBefore === undefined ? [] : await rolesNoteAfterStop(copy.db, rolesBefore));
    }
    const sampled = await sampler?.stop();
    sampler = undefined;
    const rolesNote = rolesBefore !== undefined ? serverRolesNote(rolesBefore, await serverRoles(copy.db)) : [];
    const locksOf = sampled !== undefined ? measuredStep(sampled) : estimatedStep(options.migrator.migrations, migrator.context, log);
    const migrations = outcome.results.map((result): RehearsedMigration => {
      const timed = timeline.migrations.find((m) => m.version === result.version && m.direction === result.direction);
      const steps = (timed?.steps ?? []).map((step) => rehearsedStep(step, locksOf(step, result), maxLockMs));
      return { ...result, steps };
    });
    return {
      copy: copy.description,
      lockSource: sampled !== undefined ? 'measured' : 'estimated',
      ...(sampled !== undefined ? { sampleIntervalMs } : {}),
      maxLockMs,
      durationMs,
      migrations,
      overBudget: migrations.some((m) => m.steps.some((s) => s.flagged)),
      ...(outcome.error !== undefined ? { error: outcome.error } : {}),
      notes: [...notesFor(copy, sampled, sampleIntervalMs), ...rolesNote, ...lintGateNotes(outcome.results, options.migrator.allowLintErrors ?? false)],
    };
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await terminating;
    await sampler?.stop().catch(() => undefined);
    await copy.discard();
  }
}

/** The roles note after a stop; the sessions just ended may make the look-up fail, which is said rather than hidden. */
async function rolesNoteAfterStop(db: OpenedCopy['db'], before: ReadonlySet<string>): Promise<string[]> {
  try {
    return serverRolesNote(before, await serverRoles(db));
  } catch (error) {
    return [`Whether the migrations committed before the stop changed the server's roles could not be checked (${error instanceof Error ? error.message : String(error)}).`];
  }
}

type StepLocks = (step: TimedStep, migration: MigrationResult) => { readonly locks: HeldLock[]; readonly samples?: number };

function measuredStep(sampled: SampledLocks): StepLocks {
  return (step) => measuredLocks(step, sampled.samples, sampled.names);
}

function estimatedStep(migrations: readonly Migration[], context: MigrationContext, log: readonly LoggedQuery[]): StepLocks {
  const phasesOf = (version: number, direction: MigrationDirection): readonly Phase[] => {
    const migration = migrations.find((m) => m.version === version);
    if (migration === undefined) return [];
    const transactional = migration.transactional ?? true;
    // The phases as the runner runs them (a non-transactional migration: one per statement).
    const statements = runnableStatements(renderMigration(migration, direction, context), transactional);
    return hasSteps(statements) ? groupPhases(statements, transactional) : [{ kind: 'sql', statements: statements as readonly string[], transactional }];
  };
  return (step, migration) => ({ locks: estimatedLocks(step, phasesOf(migration.version, migration.direction)[step.index], context.schema, log) });
}

function rehearsedStep(step: TimedStep, found: { readonly locks: HeldLock[]; readonly samples?: number }, maxLockMs: number): RehearsedStep {
  const locks = [...found.locks].sort((a, b) => compareModes(a.mode, b.mode) || b.heldMs - a.heldMs || a.relation.localeCompare(b.relation));
  return {
    index: step.index,
    description: step.description,
    durationMs: Math.round(step.end - step.start),
    status: step.status,
    ...(found.samples !== undefined ? { samples: found.samples } : {}),
    locks,
    flagged: locks.some((l) => l.blocksWrites && !l.newRelation && l.heldMs > maxLockMs),
  };
}

function assertSamePlan(
  plan: readonly PlannedMigration[],
  expected: readonly Pick<PlannedMigration, 'version' | 'direction'>[] | undefined,
  copy: string,
): void {
  if (expected === undefined) return;
  const list = (p: readonly Pick<PlannedMigration, 'version' | 'direction'>[]) => p.map((m) => `${m.version} ${m.direction}`).join(', ') || 'nothing';
  if (list(plan) === list(expected)) return;
  throw new ChatkeepError(
    'CK_CONFIG',
    `The rehearsal copy (${copy}) would run ${list(plan)}, but the target would run ${list(expected)}: the copy is not at the target's version (an older snapshot, or the target changed since the copy was made)`,
    { field: 'rehearse' },
  );
}

function notesFor(copy: OpenedCopy, sampled: SampledLocks | undefined, sampleIntervalMs: number): string[] {
  const notes: string[] = [];
  if (sampled === undefined) {
    notes.push('PGlite has one session, so no second one can watch: each lock mode is the one the lint reads from the statement, held from that statement\'s start until its transaction commits.');
    notes.push('On PGlite every other query of the process waits while a step runs, whatever its locks.');
  } else {
    notes.push(`Measured by sampling pg_locks every ${sampleIntervalMs} ms from a second session: held times are within about one interval, and a lock held for less may not appear.`);
    if (sampled.error !== undefined) notes.push(`The lock monitor stopped early (${sampled.error}); steps after that show no locks.`);
  }
  notes.push(`The copy had no other traffic: on the target, each lock must first be acquired (waiting up to lock_timeout behind open transactions) and steps may run slower under load.`);
  if (!copy.disposable) notes.push('The scratch database is left migrated; restore it before the next rehearsal.');
  notes.push(...(copy.notes ?? []));
  return notes;
}

/** The migrations the real `up` would refuse for their lint errors (CK_MIGRATION_LINT), which the rehearsal ran anyway. */
function lintGateNotes(results: readonly MigrationResult[], allow: AllowLintErrors): string[] {
  if (allow === true) return [];
  return results.flatMap((r) => {
    const refused = [...new Set((r.lintErrors ?? []).filter((f) => !(Array.isArray(allow) && allow.includes(f.rule))).map((f) => f.rule))];
    return refused.length === 0
      ? []
      : [`The real \`up\` refuses migration ${r.version} ${r.name} for its lint errors (${refused.join(', ')}) unless allowLintErrors accepts them; the rehearsal ran it to measure it.`];
  });
}

function checkedMs(field: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new ChatkeepError('CK_CONFIG', `${field}: expected an integer >= ${min}`, { field });
  }
  return value;
}
