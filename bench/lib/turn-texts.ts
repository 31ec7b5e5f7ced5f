/**
 * The text of every turn the benchmarks append: a short question and a
 * paragraph-long answer (~90 and ~400 characters). One definition, so the
 * core bench, the HTTP bench and the probes measure the same payload.
 */
export const USER_TEXT = 'How do I keep the history of this chat when the server restarts? ' + 'lorem ipsum '.repeat(2);
export const ASSISTANT_TEXT = 'Store each turn in a database as it happens. ' + 'dolor sit amet '.repeat(24);
