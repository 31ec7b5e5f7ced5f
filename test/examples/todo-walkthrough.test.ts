import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKENDS, PG_ADMIN_URL, createPgDatabase } from '../support/backends.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HOST = 'examples/todo/host.ts';
const CHAT = 'examples/todo/chat.ts';
const CHAT_SERVER = 'examples/todo/chat-server.ts';
const CLI = 'dist/cli/main.js';

interface Exited {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A process of the walkthrough, started from the repository root as the README does. */
interface Started {
  readonly child: ChildProcess;
  /** Resolves with the first match of `pattern` in what it printed (stdout and stderr), or rejects if it exits first. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
  /** Everything it printed so far. */
  output(): string;
  readonly exited: Promise<Exited>;
}

function start(args: readonly string[], env: Record<string, string>): Started {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters: (() => void)[] = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  child.stdout!.on('data', (d: Buffer) => ((stdout += d.toString()), wake()));
  child.stderr!.on('data', (d: Buffer) => ((stderr += d.toString()), wake()));
  const exited = new Promise<Exited>((resolve) =>
    child.on('close', (code) => (resolve({ code, stdout, stderr }), wake())),
  );
  const output = () => stdout + stderr;
  return {
    child,
    exited,
    output,
    waitFor: (pattern) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = output().match(pattern);
          if (match !== null) resolve(match);
          else if (child.exitCode !== null || child.signalCode !== null)
            reject(new Error(`exited before printing ${pattern}:\n${output()}`));
          else waiters.push(check);
        };
        check();
      }),
  };
}

/** `npx tsx <script> …args` of the README, run to its end. */
const tsx = (script: string, args: readonly string[], env: Record<string, string> = {}) =>
  start(['--import', 'tsx', script, ...args], env).exited;

const postgres = BACKENDS.find((b) => b.name === 'postgres')!;

/**
 * examples/todo/README.md steps 2–5 on PostgreSQL, with the README's own
 * commands (ports chosen by the OS, and a tools role of its own, since roles
 * are cluster-wide): the host app set up with chatkeep beside it, the MCP
 * tool server, a conversation whose assistant adds tasks through MCP — one
 * turn at a time with chat.ts, then over chatkeep's HTTP API with
 * chat-server.ts — and the tools' role kept out of chat data. Every output
 * the README shows is checked.
 */
describe.skipIf(postgres.skip)('postgres: the Todo walkthrough (examples/todo/README.md)', () => {
  const role = `ck_tools_${randomBytes(5).toString('hex')}`;
  const processes: Started[] = [];
  let drop: (() => Promise<void>) | undefined;

  afterAll(async () => {
    for (const p of processes) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await drop?.();
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    try {
      await admin.query(`drop role if exists ${role}`);
    } finally {
      await admin.end();
    }
  });

  it(
    'host app, chatkeep beside it, MCP server, and a chat whose assistant adds tasks through MCP',
    { timeout: 60_000 },
    async () => {
      const created = await createPgDatabase();
      drop = created.drop;
      const url = created.url;
      const db = ['--database-url', url];

      // 2. The host app, and chatkeep migrated in beside it.
      const setup = await tsx(HOST, ['setup', ...db, '--role', role]);
      expect(setup.stderr).toBe('');
      expect(setup.code).toBe(0);
      expect(setup.stdout.split('\n')).toEqual([
        expect.stringMatching(
          /^Host app: schema "todo" migrated on PostgreSQL at postgres:\/\/\S+; users alice, bob$/,
        ),
        `chatkeep: schema "chatkeep" migrated beside it (the host's tables are untouched)`,
        `MCP tools: role "${role}" may use todo.tasks and todo.categories, and nothing in "chatkeep"`,
        '',
      ]);

      // 3. The MCP tool server. Alice's token is base64, so it ends in "=":
      // the chat server must read CHATKEEP_MCP_TOKENS exactly as this server does.
      const aliceToken = randomBytes(16).toString('base64');
      const bobToken = randomBytes(16).toString('hex');
      const tokens = `alice=${aliceToken},bob=${bobToken}`;
      const mcp = start([CLI, 'mcp', '--transport', 'http', '--port', '0', '--role', role], {
        DATABASE_URL: url,
        CHATKEEP_MCP_TOKENS: tokens,
      });
      processes.push(mcp);
      const mcpUrl = (await mcp.waitFor(/listening on (http:\/\/\S+\/mcp) /))[1]!;

      // The chat server starts while the chat turns below run.
      const secret = randomBytes(32).toString('hex');
      const chatServer = start(['--import', 'tsx', CHAT_SERVER], {
        DATABASE_URL: url,
        CHATKEEP_JWT_SECRET: secret,
        CHATKEEP_MCP_TOKENS: tokens,
        CHATKEEP_MCP_URL: mcpUrl,
        PORT: '0',
      });
      processes.push(chatServer);

      // The README's curl: a tool called directly, as the assistant will.
      const direct = await fetch(mcpUrl, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
          Authorization: `Bearer ${aliceToken}`,
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: {
            name: 'add_task',
            arguments: { title: 'Pay rent', due_date: '2026-02-01', category: 'home' },
          },
        }),
      });
      const added = (await direct.json()) as {
        result: { structuredContent: { task: { id: number; category: string } } };
      };
      expect(added.result.structuredContent.task).toMatchObject({ id: 3, category: 'home' });

      // 4. A conversation whose assistant adds tasks through MCP.
      const chat = ['--mcp-url', mcpUrl, ...db];
      const first = await tsx(CHAT, ['alice', 'Remind me to buy milk', ...chat], {
        CHATKEEP_MCP_TOKEN: aliceToken,
      });
      expect(first.stderr).toBe('');
      const conversation = /^Conversation (\S+) of alice:\n/.exec(first.stdout)?.[1];
      expect(first.stdout).toBe(
        `Conversation ${conversation} of alice:\n` +
          '  user      Remind me to buy milk\n' +
          '  assistant Added task #4: "buy milk".\n',
      );
      const second = await tsx(
        CHAT,
        ['alice', 'what is on my list?', '--conversation', conversation!, ...chat],
        { CHATKEEP_MCP_TOKEN: aliceToken },
      );
      expect(second.stdout.split('\n').slice(-3)).toEqual([
        '  user      what is on my list?',
        '  assistant Your pending tasks: #1 Water the plants (Alice); #3 Pay rent; #4 buy milk.',
        '',
      ]);

      // Bob's assistant cannot touch Alice's task #4: "not found", as if it did not exist.
      const bobTurn = tsx(CHAT, ['bob', 'done 4', ...chat], { CHATKEEP_MCP_TOKEN: bobToken });

      // Over chatkeep's HTTP API: the chat server, with JWTs the host's login would issue.
      const base = (await chatServer.waitFor(/Todo chat server: (http:\/\/\S+)/))[1]!;
      const jwt = (sub: string) =>
        new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject(sub)
          .setExpirationTime('1h')
          .sign(new TextEncoder().encode(secret));
      const post = async (user: string, path: string, body?: unknown) =>
        fetch(`${base}${path}`, {
          method: 'POST',
          headers: {
            Authorization: `Bearer ${await jwt(user)}`,
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        });
      const { id: c } = (await (await post('alice', '/v1/conversations')).json()) as {
        id: string;
      };
      const ran = (await (
        await post('alice', `/v1/conversations/${c}/turns/run`, { message: 'add call the plumber' })
      ).json()) as { assistantMessage?: { content: string } };
      expect(ran.assistantMessage?.content).toBe('Added task #5: "call the plumber".');
      // The host app's view of them, while the rest (which adds no task) goes on.
      const hostSees = tsx(HOST, ['tasks', 'alice', ...db]);
      const streamed = await (
        await post('alice', `/v1/conversations/${c}/turns/stream`, {
          message: 'what is on my list?',
        })
      ).text();
      expect(streamed.match(/^event: \w+$/gm)).toEqual([
        'event: begin',
        'event: text',
        'event: commit',
      ]);
      expect(streamed).toContain(
        'Your pending tasks: #1 Water the plants (Alice); #3 Pay rent; #4 buy milk; #5 call the plumber.',
      );

      expect((await bobTurn).stdout).toMatch(
        /^Conversation \S+ of bob:\n {2}user {6}done 4\n {2}assistant I could not do that: CK_NOT_FOUND: task not found\n$/,
      );
      // The same over the chat server, as bob.
      const { id: bobs } = (await (await post('bob', '/v1/conversations')).json()) as {
        id: string;
      };
      const refused = (await (
        await post('bob', `/v1/conversations/${bobs}/turns/run`, { message: 'done 4' })
      ).json()) as { assistantMessage?: { content: string } };
      expect(refused.assistantMessage?.content).toBe(
        'I could not do that: CK_NOT_FOUND: task not found',
      );

      // The host app sees what the assistant did.
      const tasks = await hostSees;
      expect(tasks.code).toBe(0);
      expect(tasks.stdout).toBe(
        'Tasks of alice:\n' +
          '  #1 [ ] Water the plants (Alice)  (home)\n' +
          '  #3 [ ] Pay rent  (home)  due 2026-02-01\n' +
          '  #4 [ ] buy milk\n' +
          '  #5 [ ] call the plumber\n',
      );

      // 5. What the tools cannot do.
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await expect(
          client.query(`set role ${role}; select content from chatkeep.messages`),
        ).rejects.toMatchObject({
          code: '42501',
          message: 'permission denied for schema chatkeep',
        });
      } finally {
        await client.end();
      }

      // Clean up: both servers stop on SIGTERM.
      for (const p of [chatServer, mcp]) {
        p.child.kill('SIGTERM');
        expect((await p.exited).code).toBe(0);
      }
    },
  );
});
