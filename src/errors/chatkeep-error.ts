import { ERROR_CATALOGUE, type ErrorCode } from './error-catalogue.js';

/** Extra, non-sensitive facts about an error (never message content). */
export interface ErrorDetails {
  /** The input field at fault, as a dotted path (`content`, `metadata.tags.0`). */
  readonly field?: string;
  readonly [key: string]: unknown;
}

/**
 * Every error chatkeep throws on purpose. `code` is stable and documented in
 * docs/errors.md; `status` is the HTTP status the server maps it to.
 *
 * @example
 * try { await store.conversations.get(user, id) }
 * catch (e) { if (e instanceof ChatkeepError && e.code === 'CK_NOT_FOUND') … }
 */
export class ChatkeepError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetails;

  constructor(
    code: ErrorCode,
    message?: string,
    details: ErrorDetails = {},
    options?: { readonly cause?: unknown },
  ) {
    super(message ?? ERROR_CATALOGUE[code].message, options);
    this.name = 'ChatkeepError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.details = details;
  }

  /** The field at fault, for validation errors. */
  get field(): string | undefined {
    return this.details.field;
  }

  toJSON(): { code: ErrorCode; message: string; details: ErrorDetails } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export class ValidationError extends ChatkeepError {
  constructor(field: string, message: string, options?: { readonly cause?: unknown }) {
    super('CK_VALIDATION', `${field}: ${message}`, { field }, options);
    this.name = 'ValidationError';
  }
}

export class NotFoundError extends ChatkeepError {
  constructor(what: string, options?: { readonly cause?: unknown }) {
    super('CK_NOT_FOUND', `${what} not found`, { resource: what }, options);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends ChatkeepError {
  constructor(message: string, details: ErrorDetails = {}, options?: { readonly cause?: unknown }) {
    super('CK_CONFLICT', message, details, options);
    this.name = 'ConflictError';
  }
}

export function isChatkeepError(error: unknown): error is ChatkeepError {
  return error instanceof ChatkeepError;
}
