import type { AgentMessage } from './agent.js';

/**
 * Roughly how many model tokens a text costs: one per four characters, the
 * rule of thumb OpenAI documents for English. Exact counts need the model's
 * own tokenizer, which chatkeep does not ship; a budget is a safety margin,
 * so an estimate that errs on the long side is what we want.
 */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4) + 4; // +4: per-message framing (role, separators)
}

/** The newest messages of `history` whose estimated tokens fit in `budget`, oldest first. */
export function cutToTokenBudget(history: readonly AgentMessage[], budget: number | undefined): readonly AgentMessage[] {
  if (budget === undefined) return history;
  let used = 0;
  let start = history.length;
  while (start > 0) {
    const cost = estimateTokens(history[start - 1]!.content);
    if (used + cost > budget) break;
    used += cost;
    start--;
  }
  return history.slice(start);
}
