import { Command, InvalidArgumentError } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_DATA_DIR } from '../../src/db/database-options.js';
import {
  addGlobalOptions,
  databaseOptions,
  globalOptions,
  type GlobalOptions,
} from '../../src/cli/global-options.js';
import { UsageError } from '../../src/cli/exit-codes.js';
import {
  parseHost,
  parseInteger,
  parseLintRuleIds,
  parseMilliseconds,
  parseVersion,
} from '../../src/cli/option-parsers.js';

/** The message a parser refuses `value` with, or `undefined` when it accepts it. */
function refusal(parse: (value: string) => unknown, value: string): string | undefined {
  try {
    parse(value);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return (error as Error).message;
  }
}

/**
 * The option parsers every command shares, in process: what they accept is
 * what a command runs with, so anything that is not exactly a whole number
 * in range (a fraction, a sign, a unit, an empty list) must be refused here,
 * before a database is opened, rather than reach a command as NaN or 1.5.
 */
describe('CLI option parsers', () => {
  it('parseInteger takes whole numbers within [min, max] and nothing else', () => {
    const port = parseInteger('--port', 0, 65_535);
    expect(['0', '8787', '65535'].map(port)).toEqual([0, 8787, 65_535]);
    for (const value of ['1.5', '1.0', '-1', '+1', '1e3', '0x10', ' 1', '1 ', '', '65536', 'many']) {
      expect(refusal(port, value), JSON.stringify(value)).toBe(
        '--port: expected a whole number from 0 to 65535',
      );
    }
    const atLeastOne = parseInteger('--sample-interval', 1, 60_000);
    expect(refusal(atLeastOne, '0')).toBe('--sample-interval: expected a whole number from 1 to 60000');
  });

  it('parseVersion takes 0 and positive whole numbers only: no sign, fraction or unit', () => {
    expect(['0', '2', '007'].map(parseVersion)).toEqual([0, 2, 7]);
    for (const value of ['-1', '+1', '1.5', '2abc', 'v2', '', '1234567890']) {
      expect(refusal(parseVersion, value), JSON.stringify(value)).toMatch(/^expected a migration version/);
    }
    // The refusal states the range, so a too-large whole number is not told it must be a whole number.
    expect(parseVersion('999999999')).toBe(999_999_999);
    expect(refusal(parseVersion, '1234567890')).toBe('expected a migration version: a whole number from 0 to 999999999, e.g. 2');
  });

  it('parseMilliseconds takes whole milliseconds only: "5s" or "1.5" is refused, never NaN', () => {
    expect(['0', '300', '60000'].map(parseMilliseconds)).toEqual([0, 300, 60_000]);
    for (const value of ['5s', '5000ms', '1.5', '-1', '', '1e3']) {
      expect(refusal(parseMilliseconds, value), JSON.stringify(value)).toMatch(/^expected milliseconds/);
    }
    expect(refusal(parseMilliseconds, '3000000000')).toBe('expected milliseconds: a whole number from 0 to 999999999, e.g. 5000');
  });

  it('parseHost refuses an empty or blank address, which Node.js would bind on every interface', () => {
    const host = parseHost('--host');
    expect(['127.0.0.1', '0.0.0.0', '::1', 'localhost'].map(host)).toEqual(['127.0.0.1', '0.0.0.0', '::1', 'localhost']);
    for (const value of ['', ' ', '\t']) {
      expect(refusal(host, value), JSON.stringify(value)).toMatch(/^--host: empty; an empty address would listen on every network interface/);
    }
  });

  it('parseLintRuleIds refuses an empty list and unknown ids, naming the option', () => {
    const parse = parseLintRuleIds('--allow-lint-errors');
    expect(parse(' drop-column , missing-down ')).toEqual(['drop-column', 'missing-down']);
    for (const value of ['', ',', ' , ']) {
      expect(refusal(parse, value), JSON.stringify(value)).toMatch(
        /^--allow-lint-errors: expected comma-separated lint rule ids/,
      );
    }
    expect(refusal(parse, 'drop-column,nope')).toMatch(/^--allow-lint-errors: unknown lint rule nope /);
  });
});

/**
 * The global options as a command sees them, parsed by commander in this
 * process from arguments and the environment (DATABASE_URL,
 * CHATKEEP_DATA_DIR), as `chatkeep` parses them.
 */
describe('CLI global options', () => {
  const saved = { DATABASE_URL: process.env['DATABASE_URL'], CHATKEEP_DATA_DIR: process.env['CHATKEEP_DATA_DIR'] };
  afterEach(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  async function parsed(args: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<GlobalOptions> {
    for (const [name, value] of Object.entries(env)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    let seen: GlobalOptions | undefined;
    const program = addGlobalOptions(new Command('chatkeep')).exitOverride();
    program.command('probe').action((_options: unknown, command: Command) => {
      seen = globalOptions(command);
    });
    await program.parseAsync(['probe', ...args], { from: 'user' });
    if (seen === undefined) throw new Error('the probe command did not run');
    return seen;
  }

  it('CHATKEEP_DATA_DIR sets the data folder; --data-dir wins over it', async () => {
    expect(await parsed([], { DATABASE_URL: undefined, CHATKEEP_DATA_DIR: '/srv/chat' })).toEqual({
      databaseUrl: undefined,
      dataDir: '/srv/chat',
      schema: 'chatkeep',
      given: undefined,
    });
    expect((await parsed(['--data-dir', '/tmp/flag'], { DATABASE_URL: undefined, CHATKEEP_DATA_DIR: '/srv/chat' })).dataDir).toBe('/tmp/flag');
    expect((await parsed([], { DATABASE_URL: undefined, CHATKEEP_DATA_DIR: undefined })).dataDir).toBe(DEFAULT_DATA_DIR);
  });

  it('DATABASE_URL selects PostgreSQL; exported but empty (or blank) it means "not set"', async () => {
    const url = 'postgres://app@db/app';
    const fromEnv = await parsed([], { DATABASE_URL: url, CHATKEEP_DATA_DIR: undefined });
    expect(databaseOptions(fromEnv)).toEqual({ url });
    for (const blank of ['', '   ']) {
      const options = await parsed([], { DATABASE_URL: blank, CHATKEEP_DATA_DIR: '/srv/chat' });
      expect(options.databaseUrl, JSON.stringify(blank)).toBeUndefined();
      expect(databaseOptions(options)).toEqual({ dataDir: '/srv/chat' });
    }
    // An empty CHATKEEP_DATA_DIR is "not set" too: the default folder, not the current directory.
    expect((await parsed([], { DATABASE_URL: undefined, CHATKEEP_DATA_DIR: '' })).dataDir).toBe(DEFAULT_DATA_DIR);
  });

  // The command line beats the environment, as the options of openStore do.
  it('--data-dir beats DATABASE_URL; --database-url beats CHATKEEP_DATA_DIR; with neither typed, DATABASE_URL wins', async () => {
    const url = 'postgres://app@db/app';
    const dirOverEnvUrl = await parsed(['--data-dir', '/tmp/flag'], { DATABASE_URL: url, CHATKEEP_DATA_DIR: undefined });
    expect(dirOverEnvUrl).toMatchObject({ databaseUrl: undefined, dataDir: '/tmp/flag', given: '--data-dir' });
    expect(databaseOptions(dirOverEnvUrl)).toEqual({ dataDir: '/tmp/flag' });
    const memory = await parsed(['--data-dir', 'memory://'], { DATABASE_URL: url, CHATKEEP_DATA_DIR: '/srv/chat' });
    expect(databaseOptions(memory)).toEqual({ dataDir: 'memory://' });

    const urlOverEnvDir = await parsed(['--database-url', url], { DATABASE_URL: undefined, CHATKEEP_DATA_DIR: '/srv/chat' });
    expect(urlOverEnvDir.given).toBe('--database-url');
    expect(databaseOptions(urlOverEnvDir)).toEqual({ url });
    const flagOverEnvUrl = await parsed(['--database-url', url], { DATABASE_URL: 'postgres://env@db/env', CHATKEEP_DATA_DIR: undefined });
    expect(databaseOptions(flagOverEnvUrl)).toEqual({ url });

    const bothFromEnv = await parsed([], { DATABASE_URL: url, CHATKEEP_DATA_DIR: '/srv/chat' });
    expect(bothFromEnv.given).toBeUndefined();
    expect(databaseOptions(bothFromEnv)).toEqual({ url });
  });

  it('--database-url and --data-dir both typed are a usage error naming both', async () => {
    const error = await parsed(['--database-url', 'postgres://app@db/app', '--data-dir', '/tmp/flag'], {
      DATABASE_URL: undefined,
      CHATKEEP_DATA_DIR: undefined,
    }).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toBe('--database-url and --data-dir name two databases: give one of them');
  });
});
