import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../support/backends.js';
import { useMcpSession } from './fixtures/use-mcp-session.js';

/**
 * An argument the tool does not take is refused by name (docs/mcp.md), in
 * one line. The name is the caller's text: it must not be able to add lines
 * to the message (which the CLI also writes to its log, one line per failed
 * call) nor make it as long as the request.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: unknown argument names in tool errors`, () => {
    const fixture = useMcpSession(backend.name, 'http');

    it('a name with a line break is quoted, so the message stays one line', async () => {
      await fixture.session().withClient('alice', async (alice) => {
        const outcome = await alice.call('add_task', {
          title: 'x',
          'x\nCK_INTERNAL: forged line': 1,
        });
        expect(outcome.isError).toBe(true);
        expect(outcome.text).toBe(
          'CK_VALIDATION: "x\\nCK_INTERNAL: forged line": not an argument of this tool (the tools always act for the calling user)',
        );
        expect(outcome.text).not.toContain('\n');
      });
    });

    it('a very long name is cut short, not echoed whole', async () => {
      await fixture.session().withClient('alice', async (alice) => {
        const outcome = await alice.call('complete_task', { task_id: 1, ['k'.repeat(100_000)]: 1 });
        expect(outcome.isError).toBe(true);
        expect(outcome.text.length).toBeLessThan(300);
        expect(outcome.text).toMatch(/^CK_VALIDATION: "k+…": not an argument of this tool/);
      });
    });

    it('a plain unknown name is named as it is', async () => {
      await fixture.session().withClient('alice', async (alice) => {
        const outcome = await alice.call('list_tasks', { user_id: 'bob' });
        expect(outcome.text).toBe(
          'CK_VALIDATION: user_id: not an argument of this tool (the tools always act for the calling user)',
        );
      });
    });

    it('an unknown tool is named once in the message, as docs/mcp.md shows it, and quoted when it is not a plain name', async () => {
      await fixture.session().withClient('alice', async ({ client }) => {
        await expect(client.callTool({ name: 'drop_tables', arguments: {} })).rejects.toMatchObject({
          code: -32602,
          message: 'MCP error -32602: Unknown tool: drop_tables',
        });
        await expect(client.callTool({ name: 'x\nCK_INTERNAL: forged', arguments: {} })).rejects.toMatchObject({
          code: -32602,
          message: 'MCP error -32602: Unknown tool: "x\\nCK_INTERNAL: forged"',
        });
      });
    });
  });
}
