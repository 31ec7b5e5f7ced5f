import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, chatkeep } from './cli-process.js';

beforeAll(assertBuilt);

/** Every command, with options its --help must mention. */
const COMMANDS: readonly (readonly [string[], readonly string[]])[] = [
  [[], ['--database-url', '--data-dir', '--schema', '--version', 'migrate', 'demo', 'serve', 'keys', 'mcp', 'retention']],
  [['migrate'], ['up', 'down', 'status', 'plan', 'grant']],
  [['migrate', 'grant'], ['<role>', 'PostgreSQL only']],
  [
    ['migrate', 'up'],
    ['--to', '--lock-wait', '--allow-lint-errors', '--json'],
  ],
  [
    ['migrate', 'down'],
    ['--to', '--yes', '--lock-wait', '--json'],
  ],
  [['migrate', 'status'], ['--json']],
  [
    ['migrate', 'plan'],
    ['--to', '--down', '--json', '--rehearse', '--rehearse-copy', '--rehearse-url', '--max-lock', '--sample-interval'],
  ],
  [['demo'], ['--memory', '--json']],
  [['serve'], ['--port', '--host', '--jwt-secret', '--jwks-url', '--admin-token', '--agent', '--rate-limit', '--body-limit', '--abandon-after', '--shutdown-grace', '--sse-heartbeat', '--no-demo-key']],
  [['keys'], ['create', 'list', 'revoke']],
  [['keys', 'create'], ['--user', '--name', '--json']],
  [['keys', 'list'], ['--user', '--json']],
  [['keys', 'revoke'], ['--user', '<key-id>']],
  [['retention'], ['purge']],
  [['retention', 'purge'], ['--older-than', '--batch-size', '--pause', '--json']],
  [['mcp'], ['--transport', '--user', '--port', '--host', '--rate-limit', '--allowed-host', '--host-schema', '--role', 'role']],
  [['mcp', 'role'], ['--grant-to', '--login', '--host-schema', '--role']],
];

/** The lines of one section ("Options:", "Global Options:", "Commands:") of a --help text. */
function sectionOf(help: string, title: string): string[] {
  const lines = help.split('\n');
  const start = lines.indexOf(`${title}:`);
  if (start === -1) return [];
  const end = lines.findIndex((line, i) => i > start && line !== '' && !line.startsWith(' '));
  return lines.slice(start + 1, end === -1 ? undefined : end);
}

/** The long flags (`--schema`, `--version`) a section lists. */
function flagsIn(help: string, title: string): string[] {
  return sectionOf(help, title).flatMap((line) => /^ {2}(?:-\w, )?(--[\w-]+)/.exec(line)?.[1] ?? []);
}

/** The subcommands a --help text lists (not commander's own `help`). */
function subcommandsIn(help: string): string[] {
  return sectionOf(help, 'Commands').flatMap((line) => /^ {2}([a-z][\w-]*)/.exec(line)?.[1] ?? []).filter((name) => name !== 'help');
}

/** Every command of the tree, found by walking the "Commands:" sections from the root, with its --help text. */
async function commandTree(): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  let level: string[][] = [[]];
  while (level.length > 0) {
    const runs = await Promise.all(level.map((command) => chatkeep([...command, '--help'])));
    level = runs.flatMap((run, i) => {
      found.set(level[i]!.join(' '), run.stdout);
      return subcommandsIn(run.stdout).map((name) => [...level[i]!, name]);
    });
  }
  return found;
}

describe('chatkeep CLI: help, version and usage errors (no database)', () => {
  it('--help of every command exits 0 and lists its options, an example and the exit codes', async () => {
    const runs = await Promise.all(COMMANDS.map(([command]) => chatkeep([...command, '--help'])));
    for (const [index, run] of runs.entries()) {
      const [command, options] = COMMANDS[index]!;
      expect(run.code, `chatkeep ${command.join(' ')} --help`).toBe(0);
      for (const option of options)
        expect(run.stdout, `${command.join(' ')} --help mentions ${option}`).toContain(option);
      expect(run.stdout).toContain('Examples:');
      expect(run.stdout).toContain('Exit codes:');
      // Global options are shown on subcommands too.
      expect(run.stdout).toContain('--database-url');
    }
  });

  it("every command's --help lists its own options, and as Global Options exactly the root's: not a parent's (mcp's under mcp role)", async () => {
    const tree = await commandTree();
    expect([...tree.keys()].sort(), 'every command is in COMMANDS above').toEqual(COMMANDS.map(([command]) => command.join(' ')).sort());
    const globals = flagsIn(tree.get('')!, 'Options').filter((flag) => flag !== '--help');
    expect(globals).toEqual(['--version', '--database-url', '--data-dir', '--schema', '--pooler']);
    for (const [command, help] of tree) {
      if (command === '') continue;
      expect({ command, globals: flagsIn(help, 'Global Options') }).toEqual({ command, globals });
      const own = flagsIn(help, 'Options');
      expect({ command, own: own.filter((flag) => globals.includes(flag)) }).toEqual({ command, own: [] });
    }
    expect(flagsIn(tree.get('mcp role')!, 'Options')).toEqual(['--grant-to', '--login', '--host-schema', '--role', '--help']);
  });

  it('options a command cannot run without are marked (required) in its --help', async () => {
    for (const [args, option] of [
      [['keys', 'create'], '--user'],
      [['keys', 'list'], '--user'],
      [['keys', 'revoke'], '--user'],
      [['retention', 'purge'], '--older-than'],
    ] as const) {
      const help = await chatkeep([...args, '--help']);
      const line = help.stdout.split('\n').find((l) => l.trimStart().startsWith(`${option} <`));
      expect({ args, line }).toEqual({ args, line: expect.stringContaining('(required)') });
    }
  });

  it('--version prints the version from package.json', async () => {
    const { version } = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    const run = await chatkeep(['--version']);
    expect(run).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it('exits 2 on usage errors, saying what is wrong on stderr', async () => {
    const [
      unknownOption,
      unknownCommand,
      noCommand,
      missingTo,
      badTo,
      planDownWithoutTo,
      extraArgument,
    ] = await Promise.all([
      chatkeep(['migrate', 'up', '--bogus']),
      chatkeep(['frobnicate']),
      chatkeep([]),
      chatkeep(['migrate', 'down', '--yes']),
      chatkeep(['migrate', 'up', '--to', 'two']),
      chatkeep(['migrate', 'plan', '--down', '--data-dir', 'memory://']),
      chatkeep(['migrate', 'status', 'extra']),
    ]);
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stderr).toContain("unknown option '--bogus'");
    expect(unknownCommand.code).toBe(2);
    expect(unknownCommand.stderr).toContain("unknown command 'frobnicate'");
    expect(noCommand.code).toBe(2);
    expect(missingTo.code).toBe(2);
    expect(missingTo.stderr).toContain("required option '--to <version>'");
    expect(badTo.code).toBe(2);
    expect(badTo.stderr).toContain('expected a migration version');
    expect(planDownWithoutTo.code).toBe(2);
    expect(planDownWithoutTo.stderr).toContain('--down needs --to');
    expect(extraArgument.code).toBe(2);
  });

  it('help <command path> shows that command\'s help like --help does, and an unknown name is exit 2 naming it and the commands there are', async () => {
    const paths = [[], ['migrate'], ['migrate', 'up'], ['keys', 'create'], ['mcp', 'role']];
    const [viaHelp, viaFlag, nested] = await Promise.all([
      Promise.all(paths.map((path) => chatkeep(['help', ...path]))),
      Promise.all(paths.map((path) => chatkeep([...path, '--help']))),
      chatkeep(['migrate', 'help', 'down']),
    ]);
    for (const [i, path] of paths.entries()) {
      expect(viaHelp[i], `chatkeep help ${path.join(' ')}`).toMatchObject({ code: 0, stdout: viaFlag[i]!.stdout, stderr: '' });
    }
    expect(nested.stdout).toBe((await chatkeep(['migrate', 'down', '--help'])).stdout);

    const [top, deeper, viaParent, pastLeaf] = await Promise.all([
      chatkeep(['help', 'nosuch']),
      chatkeep(['help', 'migrate', 'nosuch']),
      chatkeep(['migrate', 'help', 'nosuch']),
      chatkeep(['help', 'keys', 'create', 'extra']),
    ]);
    expect(pastLeaf).toMatchObject({ code: 2, stdout: '' });
    expect(pastLeaf.stderr).toContain("unknown command 'extra' for 'chatkeep keys create' (it has no subcommands)");
    expect(top).toMatchObject({ code: 2, stdout: '' });
    expect(top.stderr).toContain("unknown command 'nosuch' for 'chatkeep' (its commands: migrate, serve, keys, retention, demo, mcp)");
    for (const run of [deeper, viaParent]) {
      expect(run).toMatchObject({ code: 2, stdout: '' });
      expect(run.stderr).toContain("unknown command 'nosuch' for 'chatkeep migrate' (its commands: up, down, status, plan, grant)");
      expect(run.stderr, 'not the whole help').not.toContain('Usage:');
    }
  });

  it('migrate plan --help gives --max-lock the exit code the command uses for it (5)', async () => {
    const help = await chatkeep(['migrate', 'plan', '--help']);
    const maxLock = /--max-lock <ms>([\s\S]*?)\n {2}--/.exec(help.stdout)?.[1]?.replace(/\s+/g, ' ');
    expect(maxLock).toContain('the command exits 5');
  });

  it('--allow-lint-errors with an unknown rule id is a usage error naming the option, before the data folder is created', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chatkeep-cli-lint-ids-'));
    try {
      const data = join(dir, 'data');
      const run = await chatkeep(['--data-dir', data, 'migrate', 'up', '--allow-lint-errors', 'drop-column,no-such-rule']);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('--allow-lint-errors: unknown lint rule no-such-rule');
      expect(run.stdout).toBe(''); // no "Migrating …", no "Stopped: applied 0 migrations"
      expect(existsSync(data)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 2 for an invalid --schema, a non-PostgreSQL URL or a URL-like data folder, before opening anything, naming the option or variable as typed', async () => {
    const [badSchema, badUrl, badDir, badUrlEnv, badDirEnv, badSchemaInKeys] = await Promise.all([
      chatkeep(['--schema', 'Not-Valid', 'migrate', 'status', '--data-dir', 'memory://']),
      chatkeep(['--database-url', 'mysql://localhost/x', 'migrate', 'status']),
      chatkeep(['--data-dir', 'file:///tmp/x', 'migrate', 'status']),
      chatkeep(['migrate', 'status'], { DATABASE_URL: 'mysql://localhost/x' }),
      chatkeep(['migrate', 'status'], { CHATKEEP_DATA_DIR: 'memory://scratch' }),
      chatkeep(['keys', 'list', '--user', 'u1', '--schema', 'x-y', '--data-dir', 'memory://']),
    ]);
    for (const run of [badSchema, badUrl, badDir, badUrlEnv, badDirEnv, badSchemaInKeys]) expect(run.code).toBe(2);
    expect(badSchema.stderr).toMatch(/^error \[CK_CONFIG\]: --schema: expected a lower-case identifier/m);
    expect(badSchemaInKeys.stderr).toMatch(/^error \[CK_CONFIG\]: --schema: /m);
    expect(badUrl.stderr).toMatch(/^error \[CK_CONFIG\]: --database-url: expected a postgres:\/\/ or postgresql:\/\/ URL$/m);
    expect(badDir.stderr).toMatch(/^error \[CK_CONFIG\]: --data-dir: "file:\/\/\/tmp\/x" is neither a folder nor memory:\/\/ .*goes in --database-url$/m);
    expect(badUrlEnv.stderr).toMatch(/^error \[CK_CONFIG\]: \$DATABASE_URL: expected a postgres:\/\//m);
    expect(badDirEnv.stderr).toMatch(/^error \[CK_CONFIG\]: \$CHATKEEP_DATA_DIR: "memory:\/\/scratch"/m);
    expect(existsSync('file:'), 'no folder named after the URL').toBe(false);
  });
});
