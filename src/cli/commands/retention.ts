import { InvalidArgumentError, type Command } from 'commander';
import { globalOptions } from '../global-options.js';
import { helpEpilog } from '../help-text.js';
import { parseInteger } from '../option-parsers.js';
import type { Output } from '../output.js';
import { withStore } from '../store-session.js';

interface PurgeCliOptions {
  readonly olderThan: number;
  readonly batchSize: number;
  readonly pause: number;
  readonly json?: boolean;
}

/** `90d`, `12h`, `30m` → milliseconds. */
function parseAge(value: string): number {
  const match = /^(\d{1,6})(d|h|m)$/.exec(value);
  if (match === null) throw new InvalidArgumentError('expected an age like 90d, 12h or 30m');
  const unit = { d: 86_400_000, h: 3_600_000, m: 60_000 }[match[2] as 'd' | 'h' | 'm'];
  const age = Number(match[1]) * unit;
  // 0d is every conversation of every user, active this second: a slip of the keyboard, not a retention policy.
  if (age === 0) throw new InvalidArgumentError('expected an age above zero (0 would delete every conversation, however recent)');
  // 999999d reaches back to 712 BC: the store refused that only after the
  // database was opened (and a new one installed), as `before: expected a
  // Date in the years 1–9999`, naming no option the user typed.
  if (new Date(Date.now() - age).getUTCFullYear() < 1) {
    throw new InvalidArgumentError('expected an age like 90d, 12h or 30m that reaches back no further than the year 1');
  }
  return age;
}

/**
 * `chatkeep retention purge --older-than 90d`: deletes conversations (with
 * their messages) of every user whose last activity is older than the age,
 * in short batches, printing progress (SPEC R-CHAT-6).
 */
export function registerRetention(program: Command, output: Output): void {
  const retention = program
    .command('retention')
    .description('retention of chat data: purge inactive conversations in batches')
    .addHelpText('after', helpEpilog('chatkeep retention purge --older-than 365d'));
  retention
    .command('purge')
    .description('delete every user\'s conversations (and their messages) inactive for longer than --older-than, in short batches')
    .requiredOption('--older-than <age>', 'inactivity age: 90d, 12h, 30m (required)', parseAge)
    .option('--batch-size <n>', 'conversations per batch (one short transaction each)', parseInteger('--batch-size', 1, 10_000), 100)
    .option('--pause <ms>', 'pause between batches', parseInteger('--pause', 0, 60_000), 0)
    .option('--json', 'print the report as JSON')
    .addHelpText('after', helpEpilog('chatkeep retention purge --older-than 365d', 'chatkeep retention purge --older-than 90d --batch-size 500 --pause 50'))
    .action(async (options: PurgeCliOptions, command: Command) => {
      const json = options.json === true;
      await withStore(globalOptions(command), output, { json }, async (store) => {
        const before = new Date(Date.now() - options.olderThan);
        let lastPrint = 0;
        const report = await store.retention.purge({
          before,
          batchSize: options.batchSize,
          pauseMs: options.pause,
          onProgress: (p) => {
            if (json || Date.now() - lastPrint < 1000) return;
            lastPrint = Date.now();
            output.warn(`  purged ${p.conversations} conversations, ${p.messages} messages (${p.batches} batches)…`);
          },
        });
        if (json) output.json({ before: before.toISOString(), ...report });
        else output.line(`Purged ${report.conversations} conversations and ${report.messages} messages inactive since before ${before.toISOString()} (${report.batches} batches).`);
      });
    });
}
