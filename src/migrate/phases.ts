import type { MigrationStatement, MigrationStepSpec } from './steps.js';

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
