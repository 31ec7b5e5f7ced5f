import { EXIT_CODES_HELP } from './exit-codes.js';

/** The `--help` epilog of a command: its examples, then the exit codes. */
export function helpEpilog(...examples: readonly string[]): string {
  return `\nExamples:\n${examples.map((e) => `  $ ${e}`).join('\n')}\n${EXIT_CODES_HELP}\n`;
}
