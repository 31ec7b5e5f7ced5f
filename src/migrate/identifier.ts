import { ChatkeepError } from '../errors/index.js';

/**
 * A lower-case PostgreSQL identifier that never needs quoting. Schema and
 * table names are interpolated into DDL, so they are checked against this
 * rather than escaped: a name that needs quotes is almost always a mistake.
 */
export const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** Throws CK_CONFIG naming `field` unless `value` matches {@link IDENTIFIER} and fits `maxLength`. */
export function assertIdentifier(field: string, value: unknown, maxLength = 63): string {
  if (typeof value !== 'string' || !IDENTIFIER.test(value) || value.length > maxLength) {
    throw new ChatkeepError(
      'CK_CONFIG',
      `${field}: expected a lower-case identifier matching ${IDENTIFIER.source} of at most ${maxLength} characters, got ${JSON.stringify(value)}`,
      { field },
    );
  }
  return value;
}
