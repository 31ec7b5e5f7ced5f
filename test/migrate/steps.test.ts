import { describe, expect, it } from 'vitest';
import { ChatkeepError } from '../../src/errors/index.js';
import { backfill, concurrentIndex, verify, type Migration, type MigrationStatement } from '../../src/migrate/index.js';
import { renderMigration } from '../../src/migrate/render-migration.js';
import { checksumOf } from '../../src/migrate/checksum.js';

/**
 * A migration whose steps are malformed is refused with CK_CONFIG naming the
 * migration and what is wrong, before anything runs (the render happens
 * before the lint, the lock's work and any SQL).
 */
function rendering(statement: MigrationStatement): () => unknown {
  const migration: Migration = { version: 7, name: 'bad-step', up: () => [statement], down: () => [] };
  return () => renderMigration(migration, 'up', { schema: 'app', settings: {} });
}

const good = { table: 'app.notes', key: ['id'], set: 'slug = lower(title)', where: 'slug is null' };

describe('step validation', () => {
  it('a well-formed backfill, index and verify render', () => {
    expect(rendering(backfill({ ...good, batchSize: 500, concurrency: 2, rowsPerSecond: 1000, pauseMs: 0, tuneSession: false }))).not.toThrow();
    expect(rendering(concurrentIndex({ name: 'notes_slug_idx', table: 'app.notes', columns: 'slug' }))).not.toThrow();
    expect(rendering(concurrentIndex({ name: 'notes_slug_idx', table: 'app.notes', columns: 'slug', tuneSession: false }))).not.toThrow();
    expect(rendering(verify('every note has a slug', 'select true'))).not.toThrow();
  });

  it.each([
    [{ ...good, table: 'notes' }, /backfill: table must be schema\.table, got "notes"/],
    [{ ...good, key: [] }, /backfill: key must be a non-empty list of plain column names/],
    [{ ...good, key: ['id; drop table x'] }, /backfill: key must be a non-empty list/],
    [{ ...good, set: '' }, /backfill: set and where are required/],
    [{ ...good, batchSize: 0 }, /backfill: batchSize and rowsPerSecond must be positive, pauseMs >= 0/],
    [{ ...good, rowsPerSecond: -5 }, /batchSize and rowsPerSecond must be positive/],
    [{ ...good, pauseMs: -1 }, /pauseMs >= 0/],
    [{ ...good, concurrency: 0 }, /backfill: concurrency must be an integer from 1 to 64/],
    [{ ...good, concurrency: 1.5 }, /concurrency must be an integer from 1 to 64/],
    [{ ...good, concurrency: 65 }, /concurrency must be an integer from 1 to 64/],
    [{ ...good, tuneSession: 'yes' as never }, /backfill: tuneSession must be true or false/],
  ])('backfill %o is refused: %s', (step, message) => {
    const render = rendering(backfill(step));
    expect(render).toThrow(ChatkeepError);
    expect(render).toThrow(/^Migration 7 bad-step: up\(\) must return an array of SQL strings and steps/);
    expect(render).toThrow(message);
  });

  it.each([
    [{ name: 'Notes Idx', table: 'app.notes', columns: 'slug' }, /concurrentIndex: name "Notes Idx" is not a plain identifier/],
    [{ name: 'notes_idx', table: 'notes', columns: 'slug' }, /concurrentIndex: table must be schema\.table, got "notes"/],
    [{ name: 'notes_idx', table: 'app.notes', columns: ' ' }, /concurrentIndex: columns is empty/],
    [{ name: 'notes_idx', table: 'app.notes', columns: 'slug', tuneSession: 1 as never }, /concurrentIndex: tuneSession must be true or false/],
  ])('concurrentIndex %o is refused: %s', (step, message) => {
    const render = rendering(concurrentIndex(step));
    expect(render).toThrow(ChatkeepError);
    expect(render).toThrow(message);
  });

  it('how a step runs is not part of the checksum; what it does is', () => {
    const context = { schema: 'app', settings: {} };
    const withSteps = (...statements: MigrationStatement[]): string => checksumOf({ version: 3, name: 'slugs', up: () => statements, down: () => [] }, context);
    const index = { name: 'notes_slug_idx', table: 'app.notes', columns: 'slug' };
    const reference = withSteps(backfill(good), concurrentIndex(index));
    // Session tuning and pacing may change between a run and its resumption without counting as an edit.
    expect(withSteps(backfill({ ...good, tuneSession: false, batchSize: 50, concurrency: 2, rowsPerSecond: 10, pauseMs: 5 }), concurrentIndex({ ...index, tuneSession: false }))).toBe(reference);
    // What the steps change does count.
    expect(withSteps(backfill({ ...good, set: 'slug = upper(title)' }), concurrentIndex(index))).not.toBe(reference);
    expect(withSteps(backfill(good), concurrentIndex({ ...index, columns: 'slug, id' }))).not.toBe(reference);
  });
});
