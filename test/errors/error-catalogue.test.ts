import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ChatkeepError, ERROR_CATALOGUE, ValidationError } from '../../src/index.js';
import { wrapDriverError } from '../../src/errors/index.js';

describe('the error catalogue', () => {
  it('docs/errors.md lists exactly the codes and statuses of src/errors/error-catalogue.ts', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const documented = Object.fromEntries(
      [...doc.matchAll(/^\| (CK_[A-Z_]+) \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]),
    );
    const catalogued = Object.fromEntries(Object.entries(ERROR_CATALOGUE).map(([code, e]) => [code, e.status]));
    expect(documented).toEqual(catalogued);
  });

  it('validation errors name the field in code, details and message', () => {
    const error = new ValidationError('user.content', 'must not be empty');
    expect(error).toBeInstanceOf(ChatkeepError);
    expect(error.toJSON()).toEqual({ code: 'CK_VALIDATION', message: 'user.content: must not be empty', details: { field: 'user.content' } });
    expect(error.status).toBe(400);
  });

  it('wrapping a driver error keeps it as cause and leaks no parameters', () => {
    const driver = Object.assign(new Error('new row violates check constraint "messages_content_check"'), {
      code: '23514',
      constraint: 'messages_content_check',
      parameters: ['my private message'],
    });
    const wrapped = wrapDriverError(driver) as ChatkeepError;
    expect(wrapped.code).toBe('CK_VALIDATION');
    expect(wrapped.details.field).toBe('content');
    expect(wrapped.cause).toBe(driver);
    expect(JSON.stringify(wrapped)).not.toContain('my private message');
    expect(wrapped.message).not.toContain('my private message');
  });
});
