import type { ChatkeepError } from '../errors/index.js';
import type { Migrator, MigrationResult } from '../migrate/index.js';
import { outcomeTally } from './invariant-lines.js';
import { errorJson, formatVersion, plural, type Output } from './output.js';

/** What `up` and `down` print when their run ends: JSON or a summary, then the error if any. */
export async function reportRun(
  output: Output,
  run: {
    readonly migrator: Migrator;
    readonly where: string;
    readonly json: boolean;
    readonly direction: 'up' | 'down';
    readonly error: ChatkeepError | undefined;
    readonly results: readonly MigrationResult[];
    /** `up`: the store roles whose grants were extended to the tables it added (schema/store-role.ts). */
    readonly grantedRoles?: readonly string[];
  },
): Promise<void> {
  const { error, results, grantedRoles = [] } = run;
  const { current } = await run.migrator.status();
  if (run.json) {
    output.json({
      database: run.where,
      direction: run.direction,
      current,
      results,
      ...(run.direction === 'up' ? { grantedRoles } : {}),
      ...(error ? { error: errorJson(error) } : {}),
    });
  } else {
    printOutcome(output, run.direction === 'up' ? 'applied' : 'reverted', results, current, error === undefined);
    printChecks(output, results);
    if (grantedRoles.length > 0) {
      output.line(`Granted the store's privileges on the new tables to ${grantedRoles.map((r) => `"${r}"`).join(', ')} (roles \`migrate grant\` had set up).`);
    }
  }
  if (error !== undefined) output.error(error);
}

/** The closing summary of `up` or `down`, shared by both. */
function printOutcome(
  output: Output,
  verb: 'applied' | 'reverted',
  results: readonly MigrationResult[],
  current: number,
  ok: boolean,
): void {
  const done = results.filter((r) => r.status === 'applied' || r.status === 'reverted');
  const notRun = results.filter((r) => r.status === 'not-run');
  if (ok && done.length === 0) {
    output.line(`Nothing to do: the schema is at version ${current}.`);
    return;
  }
  const ms = done.reduce((sum, r) => sum + (r.durationMs ?? 0), 0);
  output.line(
    `${ok ? 'Done' : 'Stopped'}: ${verb} ${plural(done.length, 'migration')} in ${ms} ms; the schema is at version ${current}.`,
  );
  if (notRun.length > 0)
    output.line(
      `Not run: ${notRun.map((r) => `${formatVersion(r.version)} ${r.name}`).join(', ')}`,
    );
}

/**
 * What each migration's declared invariants showed, counted: the progress
 * printer (migration-progress.ts) already printed every outcome with its
 * expected and observed values as it was checked, and a broken one is
 * named again, with its values, in the error below. Also the lint errors
 * a migration ran with because `allowLintErrors` accepted them (announced
 * with their messages before anything ran).
 */
function printChecks(output: Output, results: readonly MigrationResult[]): void {
  for (const result of results) {
    const label = `${formatVersion(result.version)} ${result.name}`;
    if (result.inFlightUp === true && result.status === 'reverted') {
      output.line(`Undid ${label}: its up had stopped part-way (in flight, never recorded); its down() removed what it had done, and the next up starts it from the beginning.`);
    }
    if (result.invariants !== undefined && result.invariants.length > 0) {
      const undone =
        result.rollback === undefined
          ? ''
          : `; undone: ${{ transaction: 'rolled back with its transaction', down: 'reverted by its down()', 'down-failed': 'its down() failed too; see the error' }[result.rollback]}`;
      output.line(`Invariants of ${label}: ${outcomeTally(result.invariants)}${undone}`);
    }
    if (result.lintErrors !== undefined && result.lintErrors.length > 0 && result.status !== 'not-run') {
      output.line(
        `Ran ${label} despite lint errors (allowLintErrors): ${result.lintErrors.map((f) => `${f.rule}${f.statementIndex >= 0 ? ` at statement ${f.statementIndex + 1}` : ''}`).join(', ')}`,
      );
    }
  }
}
