import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  type CallToolResult,
} from '@modelcontextprotocol/sdk/types.js';
import {
  addTaskInput,
  listTasksInput,
  shownName,
  taskIdInput,
  updateTaskInput,
  type AddTaskInput,
  type ListTasksInput,
  type TaskIdInput,
  type UpdateTaskInput,
} from './task-input.js';
import type { TaskStore } from './task-store.js';
import { toolError, toolResult } from './tool-result.js';

/** What the MCP server says about itself, and who hears about failures. */
export interface McpServerOptions {
  /** Reported to clients in the `initialize` handshake (default `0.0.0`). */
  readonly version?: string;
  /**
   * Called with every error a tool turned into a tool result, for logging.
   * The tool result already told the caller; this must not throw.
   */
  readonly onToolError?: (tool: string, error: unknown) => void;
  /**
   * Called when the transport or protocol fails below the tools, e.g. a
   * stdin line that is not a JSON-RPC message (which the SDK skips without
   * an answer, so this is the only trace of it). The error's message may
   * quote what the client sent: log its name, not its message (STYLE 9).
   */
  readonly onProtocolError?: (error: Error) => void;
}

/** The tool names, in the order they are listed. */
export const TASK_TOOLS = [
  'list_tasks',
  'add_task',
  'complete_task',
  'update_task',
  'delete_task',
] as const;

type TaskTool = (typeof TASK_TOOLS)[number];

/**
 * Builds an MCP server whose five task tools act for exactly one user,
 * `userId`, fixed here: the stdio front door builds one per process (the
 * chat backend spawns one per user), the HTTP front door one per request
 * after authenticating it. No tool takes a user argument, and `tasks` is the
 * server's only handle on the database: it cannot reach chat data.
 * Like `buildServer`, it never opens a transport; `connect` one.
 *
 * @example
 * const server = buildMcpServer(new TaskStore(database.db), 'alice');
 * await server.connect(new StdioServerTransport());
 */
export function buildMcpServer(
  tasks: TaskStore,
  userId: string,
  options: McpServerOptions = {},
): McpServer {
  const server = new McpServer(
    { name: 'chatkeep-tasks', version: options.version ?? '0.0.0' },
    {
      instructions:
        'Task tools of the Todo app. They always act on the tasks of the user you are talking to.',
    },
  );
  if (options.onProtocolError !== undefined) server.server.onerror = options.onProtocolError;
  // The arguments as the client sent them: TaskStore parses them (task-input.ts).
  const calls: Record<TaskTool, (args: unknown) => Promise<Record<string, unknown>>> = {
    list_tasks: async (args) => ({ ...(await tasks.listPage(userId, args as ListTasksInput)) }),
    add_task: async (args) => ({ task: await tasks.add(userId, args as AddTaskInput) }),
    complete_task: async (args) => ({ task: await tasks.complete(userId, args as TaskIdInput) }),
    update_task: async (args) => ({ task: await tasks.update(userId, args as UpdateTaskInput) }),
    delete_task: async (args) => ({ task: await tasks.delete(userId, args as TaskIdInput) }),
  };
  const run = async (
    tool: string,
    work: () => Promise<Record<string, unknown>>,
  ): Promise<CallToolResult> => {
    try {
      return toolResult(await work());
    } catch (error) {
      try {
        options.onToolError?.(tool, error);
      } catch {
        // A failing logger must not turn a clean tool error into a protocol error.
      }
      return toolError(error);
    }
  };

  server.registerTool(
    'list_tasks',
    {
      title: 'List tasks',
      description:
        "List the user's tasks, oldest first: all, only pending or only completed, optionally in one category. When next_after_id is not null there are more: call again with after_id set to it.",
      inputSchema: listTasksInput,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    (args) => run('list_tasks', () => calls.list_tasks(args)),
  );
  server.registerTool(
    'add_task',
    {
      title: 'Add a task',
      description: 'Add a task for the user. Returns the new task with its id.',
      inputSchema: addTaskInput,
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: false,
        openWorldHint: false,
      },
    },
    (args) => run('add_task', () => calls.add_task(args)),
  );
  server.registerTool(
    'complete_task',
    {
      title: 'Complete a task',
      description: "Mark one of the user's tasks as done, by id.",
      inputSchema: taskIdInput,
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: false,
      },
    },
    (args) => run('complete_task', () => calls.complete_task(args)),
  );
  server.registerTool(
    'update_task',
    {
      title: 'Update a task',
      description:
        "Change the title, description, priority, due date, category or done state of one of the user's tasks.",
      inputSchema: updateTaskInput,
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: false,
      },
    },
    (args) => run('update_task', () => calls.update_task(args)),
  );
  server.registerTool(
    'delete_task',
    {
      title: 'Delete a task',
      description: "Delete one of the user's tasks, by id. Returns the task as it was.",
      inputSchema: taskIdInput,
      annotations: {
        readOnlyHint: false,
        destructiveHint: true,
        idempotentHint: false,
        openWorldHint: false,
      },
    },
    (args) => run('delete_task', () => calls.delete_task(args)),
  );

  // The SDK would check the arguments against the tool's schema itself and
  // word the failure its own way: every issue zod found, one per line, in
  // zod's default words ("Unrecognized key: \"user_id\""), as a tool error
  // with no code or field. TaskStore parses the same schemas and reports the
  // first fault as a ValidationError naming its field, so calls go straight
  // to it; the schemas registered above are still what tools/list shows.
  server.server.setRequestHandler(CallToolRequestSchema, (request) => {
    const name = request.params.name;
    if (!Object.hasOwn(calls, name)) {
      // Not an McpError: its message already starts `MCP error -32602: `, and
      // the client's McpError adds that prefix again. The SDK answers any
      // error with its `code` and `message`. The name is the caller's text,
      // quoted unless plain (task-input.ts), so it cannot break the line.
      throw Object.assign(new Error(`Unknown tool: ${shownName(name)}`), {
        code: ErrorCode.InvalidParams,
      });
    }
    return run(name, () => calls[name as TaskTool](request.params.arguments ?? {}));
  });
  return server;
}
