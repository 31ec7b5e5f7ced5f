import { dataLossRule } from './data-loss-rule.js';

/**
 * TRUNCATE empties a table for good, like DROP TABLE: no `down` brings the
 * rows back, and it holds ACCESS EXCLUSIVE (no reads or writes) while it
 * runs. Without this rule a migration wiping a populated table passed the
 * gate without a word (test/migrate/migrator-lint.test.ts).
 */
export const truncateTable = dataLossRule({
  id: 'truncate-table',
  summary: 'TRUNCATE deletes every row for good; down cannot bring them back',
  kind: 'truncate',
  verb: 'TRUNCATE',
  consequence: 'every row is deleted for good (down cannot restore them), under an ACCESS EXCLUSIVE lock that blocks reads and writes while it runs',
  fix: 'Keep the rows: copy them aside (or move the table aside with dropTableWithBackup and create it afresh) so down can restore them, and drop the copy in a later cleanup migration; to delete rows selectively on a live table, delete in keyset batches.',
});
