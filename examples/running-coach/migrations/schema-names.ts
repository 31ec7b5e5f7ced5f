import type { MigrationContext } from '../../../src/migrate/index.js';

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * The two schemas the running coach's onboarding migrations write SQL for:
 * `s`, the host's own (the migration set's schema, validated by the engine),
 * and `c`, chatkeep's, from `context.settings.chatkeepSchema` (default
 * `chatkeep`). The setting is interpolated into SQL, so it must be a plain
 * lower-case identifier.
 *
 * @example
 * const { s, c } = coachSchemaNames(ctx); // { s: 'coach', c: 'chatkeep' }
 */
export function coachSchemaNames(ctx: MigrationContext): {
  readonly s: string;
  readonly c: string;
} {
  const c = ctx.settings['chatkeepSchema'] ?? 'chatkeep';
  if (typeof c !== 'string' || !IDENTIFIER.test(c)) {
    throw new Error(
      `settings.chatkeepSchema: expected a lower-case identifier, got ${JSON.stringify(c)}`,
    );
  }
  return { s: ctx.schema, c };
}
