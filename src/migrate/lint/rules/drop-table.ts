import { dataLossRule } from './data-loss-rule.js';

/** Dropping a table loses its data for good and breaks code still reading it. */
export const dropTable = dataLossRule({
  id: 'drop-table',
  summary: 'DROP TABLE destroys data; down cannot bring it back',
  kind: 'drop-table',
  verb: 'DROP TABLE',
  consequence: 'its data is gone for good, down can only recreate an empty table, and application code still reading it fails',
  fix: 'Contract in steps: stop using the table in code first; then rename it aside (ALTER TABLE … RENAME TO …_dropped_<date>) or copy it, so down can restore the data; drop the backup in a later cleanup migration.',
});
