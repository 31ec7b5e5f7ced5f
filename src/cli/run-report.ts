import type { ChatkeepError } from '../errors/index.js';
import type { Migrator, MigrationResult } from '../migrate/index.js';
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
  },
): Promise<void> {
  const { error, results } = run;
  const { current } = await run.migrator.status();
  if (run.json) {
    output.json({
      database: run.where,
      direction: run.direction,
      current,
      results,
      ...(error ? { error: errorJson(error) } : {}),
    });
  } else {
    printOutcome(output, run.direction === 'up' ? 'applied' : 'reverted', results, current, error === undefined);
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
