import { describe, expect, it } from 'vitest';
import type { AgentMessage } from '../../src/store/agent.js';
import { cutToTokenBudget, estimateTokens } from '../../src/store/history-budget.js';

const message = (content: string): AgentMessage => ({
  role: 'user',
  content,
  createdAt: new Date(0),
});

/** The history token budget: a safety margin, so estimates err long and whatever fits is kept. */
describe('estimateTokens', () => {
  it('counts a started group of four characters as a whole token, plus 4 for the framing: it never under-estimates', () => {
    expect(
      ['', 'abcd', 'abcde', 'abcdefg', 'abcdefgh', 'x'.repeat(401)].map(estimateTokens),
    ).toEqual([4, 5, 6, 6, 6, 105]);
  });
});

describe('cutToTokenBudget', () => {
  const history = ['oldest message', 'a middle one', 'the newest'].map(message);
  const costs = history.map((m) => estimateTokens(m.content));
  const total = costs.reduce((sum, cost) => sum + cost, 0);

  it('keeps the whole history when it fits exactly, and drops the oldest message once it is one token over', () => {
    expect(cutToTokenBudget(history, total)).toEqual(history);
    expect(cutToTokenBudget(history, total - 1)).toEqual(history.slice(1));
  });

  it('keeps the newest messages, oldest first; a budget too small for the newest keeps nothing; no budget keeps all', () => {
    expect(cutToTokenBudget(history, costs[2]!)).toEqual(history.slice(2));
    expect(cutToTokenBudget(history, costs[2]! - 1)).toEqual([]);
    expect(cutToTokenBudget(history, undefined)).toBe(history);
  });
});
