import type { AgentMessage } from './agent.js';

/**
 * Roughly how many model tokens a text costs, on the long side: a budget is
 * a safety margin. Exact counts need the model's own tokenizer, which
 * chatkeep does not ship. "One token per four characters" holds for English
 * only; Chinese, Hindi or Greek cost about one token per character, four
 * times that (measured with cl100k_base and o200k_base), so a budget sized
 * for English let four times too much history through. Each character is
 * costed by its kind instead, with weights fitted so that the estimate is at
 * least both tokenizers' count on natural text in 16 languages, code, JSON,
 * numbers and emoji (test/store/history-budget.test.ts); English comes out
 * about 1.3 times its count. Random strings (base64, long runs of spaces)
 * can still cost more than estimated.
 */
export function estimateTokens(text: string): number {
  let cost = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) cost += ASCII_COST[c]!;
    else if (c < 0x250) cost += 1.2; // Latin-1 and Latin Extended: accented letters
    else if (c >= 0x400 && c < 0x530) cost += 0.65; // Cyrillic
    else if (c < 0x800) cost += 1.1; // Greek, Armenian, Hebrew, Arabic, …
    else if (c >= 0xd800 && c < 0xdc00) {
      cost += 3.5; // a code point beyond the BMP, two UTF-16 units: emoji, rare Han
      i++;
    } else if ((c >= 0x2e80 && c < 0xa000) || (c >= 0xac00 && c < 0xd7b0) || (c >= 0xf900 && c < 0xfb00) || (c >= 0xff00 && c < 0xfff0)) {
      cost += 1.25; // Han, kana, Hangul, CJK punctuation and full-width forms
    } else if ((c >= 0x2000 && c < 0x2c00) || (c >= 0xfe00 && c < 0xfe10)) {
      cost += 2.5; // punctuation, arrows, maths, dingbats, variation selectors
    } else cost += 1.35; // Indic scripts, Thai, other scripts
  }
  return Math.ceil(cost) + 4; // +4: per-message framing (role, separators)
}

/** ASCII by kind: letters, digits, white space, punctuation and symbols. */
const ASCII_COST = Float64Array.from({ length: 128 }, (_, code) => {
  const ch = String.fromCharCode(code);
  return /[A-Za-z]/.test(ch) ? 0.28 : /\d/.test(ch) ? 0.6 : /\s/.test(ch) ? 0.25 : 1;
});

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
