import { ChatkeepError } from '../errors/index.js';
import type { Migration } from './migration.js';

/**
 * Checks a migration list before anything touches the database: versions are
 * positive integers in strictly ascending order (so the order on disk is the
 * order of application), names are non-empty, `up`/`down` are functions.
 * Throws CK_CONFIG naming the first problem.
 */
export function validateMigrations(migrations: readonly Migration[]): void {
  if (!Array.isArray(migrations)) {
    throw configError('migrations: expected an array of migrations');
  }
  let previous = 0;
  migrations.forEach((migration: Migration, index) => {
    const at = `migrations[${index}]`;
    if (typeof migration !== 'object' || migration === null)
      throw configError(`${at}: expected a migration object`);
    const { version, name } = migration;
    if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
      throw configError(`${at}.version: expected a positive integer, got ${String(version)}`);
    }
    if (typeof name !== 'string' || name.trim() === '') {
      throw configError(`${at}.name: expected a non-empty name (version ${version})`);
    }
    if (version === previous) {
      throw configError(`${at}.version: version ${version} is used twice`);
    }
    if (version < previous) {
      throw configError(
        `${at}.version: versions must be ascending, but ${version} (${name}) comes after ${previous}`,
      );
    }
    if (typeof migration.up !== 'function' || typeof migration.down !== 'function') {
      throw configError(`${at}: migration ${version} ${name} needs both up() and down()`);
    }
    if (migration.transactional !== undefined && typeof migration.transactional !== 'boolean') {
      throw configError(`${at}.transactional: expected a boolean (migration ${version} ${name})`);
    }
    for (const key of ['lockTimeout', 'statementTimeout'] as const) {
      const value = migration[key];
      if (value !== undefined && (typeof value !== 'string' || value.trim() === '')) {
        throw configError(
          `${at}.${key}: expected a PostgreSQL interval such as '5s' (migration ${version} ${name})`,
        );
      }
    }
    previous = version;
  });
}

function configError(message: string): ChatkeepError {
  return new ChatkeepError('CK_CONFIG', message, { field: 'migrations' });
}
