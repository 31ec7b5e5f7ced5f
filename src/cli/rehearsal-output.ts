import type { HeldLock, RehearsalReport, RehearsedStep } from '../migrate/index.js';
import { outcomeTally } from './invariant-lines.js';
import { errorJson, formatVersion, plural, type Output } from './output.js';

/**
 * Modes shown in the human report: SHARE UPDATE EXCLUSIVE and stronger.
 * Weaker ones (ACCESS SHARE, ROW SHARE, ROW EXCLUSIVE) block nothing the
 * application does; `--json` lists them too.
 */
const SHOWN = new Set(['SHARE UPDATE EXCLUSIVE', 'SHARE', 'SHARE ROW EXCLUSIVE', 'EXCLUSIVE', 'ACCESS EXCLUSIVE']);

/**
 * Prints a rehearsal as SQL comments (so `migrate plan --rehearse` output
 * stays a valid SQL script): per migration, one row per step and lock with
 * the step's duration and the lock's held time, `!!` on flagged steps, the
 * outcomes of its invariants counted, and a verdict line.
 */
export function printRehearsal(output: Output, report: RehearsalReport): void {
  const line = (text = '') => output.line(text === '' ? '--' : `-- ${text}`);
  output.line();
  line(`Rehearsal on a ${report.copy}: the target was not changed.`);
  line(`Lock times are ${report.lockSource.toUpperCase()}.`);
  for (const note of report.notes) line(note);
  line(`Budget: a lock that blocks writes (SHARE or stronger) on an existing relation, held longer than ${report.maxLockMs} ms, flags its step (!!).`);
  if (report.migrations.length === 0) line('Nothing to rehearse.');
  let hidden = 0;
  for (const migration of report.migrations) {
    line();
    line(`${formatVersion(migration.version)} ${migration.name} (${migration.direction}${migration.inFlightUp === true ? ' of an up in flight' : ''}, ${migration.status}${migration.durationMs !== undefined ? `, ${ms(migration.durationMs)}` : ''})`);
    // Counted only: each outcome was printed live, on stderr, as it was checked.
    if (migration.invariants !== undefined && migration.invariants.length > 0) line(`   invariants: ${outcomeTally(migration.invariants)}`);
    if (migration.steps.length === 0) continue;
    line(`   ${'step'.padEnd(46)} ${'duration'.padStart(9)}  ${'lock'.padEnd(22)} ${'relation'.padEnd(32)} ${'held'.padStart(9)}`);
    for (const step of migration.steps) {
      const shown = step.locks.filter((l) => SHOWN.has(l.mode) && !l.newRelation);
      hidden += step.locks.length - shown.length;
      const head = `${step.flagged ? '!!' : '  '} ${stepLabel(step).padEnd(46)} ${ms(step.durationMs).padStart(9)}`;
      if (shown.length === 0) line(`${head}  ${step.status === 'skipped' ? '(done in an earlier run)' : report.lockSource === 'measured' && step.samples === 0 ? '(shorter than one sample)' : '(no lock that blocks the application)'}`);
      for (const [i, lock] of shown.entries()) line(`${i === 0 ? head : ' '.repeat(head.length)}  ${lock.mode.padEnd(22)} ${lock.relation.padEnd(32)} ${ms(lock.heldMs).padStart(9)}  ${effect(lock)}`);
    }
  }
  line();
  if (hidden > 0) line(`Not shown: ${plural(hidden, 'lock')} weaker than SHARE UPDATE EXCLUSIVE or on relations the step itself created (invisible to other sessions until commit); --json lists every lock.`);
  const flagged = report.migrations.flatMap((m) => m.steps.filter((s) => s.flagged).map((s) => ({ m, s })));
  if (report.error !== undefined) line(`The rehearsal FAILED: ${report.error.message}`);
  if (flagged.length === 0) {
    line(`Result: no step held a lock that blocks writes for longer than ${report.maxLockMs} ms${report.error !== undefined ? ' (up to the failure)' : ''}.`);
    return;
  }
  line(`Result: ${plural(flagged.length, 'step')} held a lock that blocks writes for longer than ${report.maxLockMs} ms:`);
  for (const { m, s } of flagged) {
    const worst = s.locks.filter((l) => l.blocksWrites && !l.newRelation && l.heldMs > report.maxLockMs);
    line(`  ${formatVersion(m.version)} ${m.name} step ${s.index + 1}: ${worst.map((l) => `${l.mode} on ${l.relation} for ${ms(l.heldMs)}`).join(', ')}`);
  }
}

/** The report as `--json` shows it: the error as `{ code, message, details }`. */
export function rehearsalJson(report: RehearsalReport) {
  const { error, ...rest } = report;
  return { ...rest, ...(error !== undefined ? { error: errorJson(error) } : {}) };
}

function stepLabel(step: RehearsedStep): string {
  const text = `${step.index + 1}  ${step.description}${step.status === 'failed' ? ' (FAILED)' : ''}`;
  return text.length > 46 ? `${text.slice(0, 45)}…` : text;
}

function effect(lock: HeldLock): string {
  if (lock.blocksReads) return 'blocks reads and writes';
  if (lock.blocksWrites) return 'blocks writes';
  return 'blocks DDL and VACUUM only';
}

function ms(value: number): string {
  return `${value.toLocaleString('en-US')} ms`;
}
