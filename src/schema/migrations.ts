import type { Migration } from '../migrate/migration.js';
import { conversationsMigration } from './0001-conversations.js';
import { messagesMigration } from './0002-messages.js';
import { onboardingSessionsMigration } from './0003-onboarding-sessions.js';
import { streamedTurnsMigration } from './0004-streamed-turns.js';
import { apiKeysMigration } from './0005-api-keys.js';
import { featureFlagsMigration } from './0006-feature-flags.js';
import { rowLevelSecurityMigration } from './0007-row-level-security.js';
import { rateLimitsMigration } from './0008-rate-limits.js';
import { runReservationsMigration } from './0009-run-reservations.js';
import { monotonicMessageTimesMigration } from './0010-monotonic-message-times.js';

/** chatkeep's own migrations, the single source of its schema, in order. */
export const CHATKEEP_MIGRATIONS: readonly Migration[] = [
  conversationsMigration,
  messagesMigration,
  onboardingSessionsMigration,
  streamedTurnsMigration,
  apiKeysMigration,
  featureFlagsMigration,
  rowLevelSecurityMigration,
  rateLimitsMigration,
  runReservationsMigration,
  monotonicMessageTimesMigration,
];
