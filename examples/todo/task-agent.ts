import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Agent } from '../../src/store/index.js';

/**
 * A deterministic stand-in for a model that uses the task tools, so the
 * walkthrough runs offline: "add <task>" / "remind me to <task>" calls
 * add_task, "done <id>" calls complete_task, anything else list_tasks. A real
 * assistant gives the same MCP client to its model as tools. It reaches the
 * tools only through MCP, as the user whose token it holds, and, like every
 * chatkeep agent, gets no database handle (R-SEC-2).
 */
export function taskAgent(mcpUrl: string, token: string): Agent {
  return async ({ message, signal }) => {
    const client = new Client({ name: 'todo-assistant', version: '0.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(mcpUrl), {
        requestInit: { headers: { Authorization: `Bearer ${token}` }, signal },
      }),
    );
    try {
      const add = /^(?:add|remind me to)\s+(.+)$/i.exec(message.trim());
      const done = /^done\s+#?(\d+)$/i.exec(message.trim());
      const [tool, args] = add?.[1]
        ? (['add_task', { title: add[1] }] as const)
        : done?.[1]
          ? (['complete_task', { task_id: Number(done[1]) }] as const)
          : (['list_tasks', { status: 'pending' }] as const);
      const result = await client.callTool({ name: tool, arguments: args });
      const text = (result.content as { text?: string }[])[0]?.text ?? '';
      if (result.isError === true)
        return { content: `I could not do that: ${text}`, metadata: { tool } };
      const data = result.structuredContent as {
        task?: { id: number; title: string };
        tasks?: { id: number; title: string }[];
        next_after_id?: number | null;
      };
      // list_tasks answers one page at a time: follow next_after_id to the
      // end, or a long list would silently lose its newest tasks.
      for (let after = data.next_after_id; typeof after === 'number';) {
        const next = await client.callTool({
          name: 'list_tasks',
          arguments: { status: 'pending', after_id: after },
        });
        const page = next.structuredContent as {
          tasks?: { id: number; title: string }[];
          next_after_id?: number | null;
        };
        if (next.isError === true || page.tasks === undefined) break;
        data.tasks = [...(data.tasks ?? []), ...page.tasks];
        after = page.next_after_id;
      }
      if (tool === 'add_task' && data.task) {
        return {
          content: `Added task #${data.task.id}: "${data.task.title}".`,
          metadata: { tool, taskId: data.task.id },
        };
      }
      if (tool === 'complete_task' && data.task) {
        return {
          content: `Marked #${data.task.id} "${data.task.title}" as done.`,
          metadata: { tool, taskId: data.task.id },
        };
      }
      const list = (data.tasks ?? []).map((t) => `#${t.id} ${t.title}`).join('; ');
      return {
        content: list === '' ? 'You have no pending tasks.' : `Your pending tasks: ${list}.`,
        metadata: { tool },
      };
    } finally {
      await client.close();
    }
  };
}
