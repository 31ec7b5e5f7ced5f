export { ERROR_CATALOGUE, type ErrorCode } from './error-catalogue.js';
export {
  ChatkeepError,
  ConflictError,
  NotFoundError,
  ValidationError,
  isChatkeepError,
  type ErrorDetails,
} from './chatkeep-error.js';
export { isLostConnectionState, pgErrorFields, SESSION_STATE, sqlState, wrapDriverError, type PgErrorFields } from './driver-error.js';
export { firstIssue, issueText, wordedParse, wrongValue, type FirstIssue } from './zod-issues.js';
