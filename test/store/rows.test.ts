import { describe, expect, it } from 'vitest';
import { MESSAGE_COLUMNS, toMessage, toMessageFromValues } from '../../src/store/rows.js';

/** A message row as the driver returns it, keyed by column. */
const rows: Record<string, unknown>[] = [
  {
    seq: 7,
    id: '0190f5c2-8a40-7c3e-9d61-3b7f0e2a4c11',
    turn_id: '0190f5c2-8a40-7c3e-9d61-3b7f0e2a4c10',
    role: 'assistant',
    content: `A reply with 😀 past the hundredth character: ${'x'.repeat(120)}`,
    metadata: { model: 'demo', tokens: 12 },
    aborted: true,
    created_at: new Date(Date.UTC(2026, 10, 23, 21, 11, 36, 938)),
  },
  { seq: 1, id: '0190f5c2-8a40-7c3e-9d61-3b7f0e2a4c12', turn_id: null, role: 'user', content: 'Hi', metadata: '{}', aborted: false, created_at: 1795468296938 },
];

describe('message rows read as values (PostgreSQL hot pages)', () => {
  it.each(rows.map((row) => [row['seq'], row] as const))('builds the same Message, keys in the same order, as a keyed row (seq %s)', (_seq, row) => {
    const values = MESSAGE_COLUMNS.map((column) => row[column]);
    const fromValues = toMessageFromValues(values, 'user-1', 'conversation-1');
    const fromRow = toMessage(row, 'user-1', 'conversation-1');
    expect(fromValues).toEqual(fromRow);
    expect(JSON.stringify(fromValues)).toBe(JSON.stringify(fromRow));
  });
});
