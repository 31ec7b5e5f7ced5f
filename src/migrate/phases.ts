import { createHash } from 'node:crypto';
import { withoutGeneratedLintComments } from './lint/generated-lint-comments.js';
import { statementText, type MigrationStatement, type MigrationStepSpec } from './steps.js';

/** One unit of a phased migration: it either finished (journaled) or did not start. */
export type Phase =
  | { readonly kind: 'sql'; readonly statements: readonly string[]; readonly transactional: boolean }
  | MigrationStepSpec;

/**
 * Splits a rendered statement list into phases: each run of consecutive SQL
 * strings is one phase (one transaction, unless the migration says
 * `transactional: false`), and each step is a phase of its own.
 */
export function groupPhases(statements: readonly MigrationStatement[], transactional: boolean): Phase[] {
  const phases: Phase[] = [];
  let run: string[] = [];
  const flush = () => {
    if (run.length > 0) phases.push({ kind: 'sql', statements: run, transactional });
    run = [];
  };
  for (const statement of statements) {
    if (typeof statement === 'string') run.push(statement);
    else {
      flush();
      phases.push(statement);
    }
  }
  flush();
  return phases;
}

/**
 * SHA-256 (hex) of what a phase does, as the migration's checksum counts it
 * (checksum.ts): a backfill's pacing and a builder's lint comments are left
 * out. The step journal records it with the phase's work, so a resumed run
 * can tell that a phase it would skip (or a backfill it would continue) was
 * edited since it ran.
 */
export function phaseChecksum(phase: Phase): string {
  const text =
    phase.kind === 'sql' ? phase.statements.map((s) => withoutGeneratedLintComments(s)).join('\n;\n') : statementText(phase, { forChecksum: true });
  return createHash('sha256').update(`${phase.kind}\n${text}`).digest('hex');
}
