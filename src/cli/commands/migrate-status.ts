import type { Command } from 'commander';
import type { MigrationStatus } from '../../migrate/index.js';
import { EXIT_CODES } from '../exit-codes.js';
import { globalOptions } from '../global-options.js';
import { helpEpilog } from '../help-text.js';
import { withMigrationSession } from '../migration-session.js';
import { errorJson, formatError, formatVersion, type Output } from '../output.js';
import type { ProgramOptions } from '../program.js';

/**
 * `chatkeep migrate status`: where the database stands. Reads only. Exits 0
 * with pending migrations (that is a state, not a failure) and 1 when the
 * recorded history disagrees with the migrations shipped in this version.
 */
export function registerMigrateStatus(migrate: Command, output: Output, program: ProgramOptions = {}): Command {
  return migrate
    .command('status')
    .description(
      'show applied migrations (time, duration, checksum), pending ones, and history problems; changes nothing',
    )
    .option('--json', 'print the status as JSON')
    .addHelpText('after', helpEpilog('chatkeep migrate status', 'chatkeep migrate status --json'))
    .action(async (options: { readonly json?: boolean }, command: Command) => {
      await withMigrationSession(
        globalOptions(command),
        output,
        async ({ migrator, where, migrations }) => {
          const status = await migrator.status();
          const latest = migrations.reduce((max, m) => Math.max(max, m.version), 0);
          if (options.json === true) output.json(statusJson(status, where, latest));
          else printStatus(output, status, where, latest);
          if (status.problems.length > 0) output.fail(EXIT_CODES.FAILED);
        },
        program,
      );
    });
}

function statusJson(status: MigrationStatus, where: string, latest: number) {
  return {
    database: where,
    current: status.current,
    latest,
    applied: status.applied,
    pending: status.pending,
    problems: status.problems.map(errorJson),
    inFlight: status.inFlight,
  };
}

function printStatus(output: Output, status: MigrationStatus, where: string, latest: number): void {
  output.line(`Database: ${where}`);
  output.line(
    `Version:  ${status.current} of ${latest} (${status.applied.length} applied, ${status.pending.length} pending)`,
  );
  output.line();
  output.line('Applied:');
  if (status.applied.length === 0) output.line('  (none)');
  const width = Math.max(0, ...status.applied.map((a) => a.name.length));
  for (const a of status.applied) {
    const at = a.appliedAt
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, 'Z');
    output.line(
      `  ${formatVersion(a.version)} ${a.name.padEnd(width)}  ${at}  ${`${a.durationMs} ms`.padStart(8)}  sha256:${a.checksum.slice(0, 12)}`,
    );
  }
  output.line('Pending:');
  if (status.pending.length === 0) output.line('  (none)');
  for (const p of status.pending) output.line(`  ${formatVersion(p.version)} ${p.name}`);
  if (status.inFlight.length > 0) {
    output.line('In flight (interrupted; `migrate up` resumes an up, `migrate down` a down; a down past an up in flight undoes it):');
    for (const f of status.inFlight) {
      output.line(
        `  ${formatVersion(f.version)} ${f.name} (${f.direction}): ${f.phasesDone} phase${f.phasesDone === 1 ? '' : 's'} done${f.rowsDone > 0 ? `, ${f.rowsDone.toLocaleString('en-US')} rows backfilled` : ''}, last progress ${f.updatedAt.toISOString()}${f.direction === 'down' ? '; half-reverted: `migrate up` refuses until `migrate down` finishes it' : ''}`,
      );
    }
  }
  if (status.problems.length > 0) {
    output.line('Problems (migrate up and down refuse to run until these are resolved):');
    for (const problem of status.problems)
      output.line(`  ${formatError(problem).replace(/^error /, '')}`);
  }
}
