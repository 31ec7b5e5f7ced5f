/**
 * Whether PostgreSQL can store `text` as given. `text` columns refuse NUL
 * (SQLSTATE 22021) and `jsonb` refuses its `\u0000` escape (22P05). A lone
 * surrogate (half of a UTF-16 pair) has no UTF-8 encoding: both drivers would
 * silently store U+FFFD in its place, so what is read back would differ from
 * what was written, and `jsonb` refuses its escape (22P02). `\p{Cs}` with the
 * `u` flag matches only unpaired surrogates, never a proper pair (an emoji).
 */
export function storable(text: string): boolean {
  return !text.includes('\u0000') && !LONE_SURROGATE.test(text);
}

export const NOT_STORABLE = 'must not contain NUL characters or unpaired surrogates';

const LONE_SURROGATE = /\p{Cs}/u;
