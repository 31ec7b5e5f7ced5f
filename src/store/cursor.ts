import { ValidationError } from '../errors/index.js';

/**
 * Opaque pagination cursors. They are base64url JSON so the format can grow
 * without breaking clients that only pass them back; they carry positions,
 * never content.
 */
export function encodeCursor(position: Readonly<Record<string, string | number>>): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

export function decodeCursor(cursor: string, field: string): Record<string, unknown> {
  try {
    if (typeof cursor !== 'string' || cursor.length > 512) throw new Error('bad');
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('bad');
    return value as Record<string, unknown>;
  } catch {
    throw new ValidationError(field, 'not a cursor returned by chatkeep');
  }
}

export function decodeSeqCursor(cursor: string, field: string): number {
  const s = decodeCursor(cursor, field)['s'];
  if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) {
    throw new ValidationError(field, 'not a message cursor returned by chatkeep');
  }
  return s;
}
