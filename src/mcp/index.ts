/**
 * The MCP tool server: the Todo host app's task tools, over stdio or
 * streamable HTTP, through a handle that cannot read chat data. See docs/mcp.md.
 */
export { TaskStore } from './task-store.js';
export type { Task } from './task.js';
export type { AddTaskInput, ListTasksInput, TaskIdInput, UpdateTaskInput } from './task-input.js';
export {
  DEFAULT_HOST_SCHEMA,
  DEFAULT_TOOLS_ROLE,
  type TaskToolsConfig,
} from './task-tools-config.js';
export {
  TOOLS_GRANTS,
  assertToolsRole,
  checkToolsRole,
  ensureToolsRole,
  type ToolsRoleOptions,
} from './tools-role.js';
export { TASK_TOOLS, buildMcpServer, type McpServerOptions } from './mcp-server.js';
export { serveStdio, type ServeStdioOptions } from './stdio.js';
export {
  createMcpHttpHandler,
  type McpHttpHandler,
  type McpHttpHandlerOptions,
} from './http-handler.js';
export {
  startMcpHttpServer,
  type McpHttpServer,
  type McpHttpServerOptions,
} from './http-server.js';
export { LOOPBACK_HOSTS, hostnameOf, isLoopbackAddress } from './allowed-hosts.js';
export { DEFAULT_TOOL_CALL_LIMIT, type ToolCallLimitOptions } from './tool-call-limit.js';
export {
  MIN_TOKEN_LENGTH,
  bearerToken,
  parseTokenList,
  staticTokens,
  type Authenticate,
  type StaticToken,
  type StaticTokensOptions,
} from './authenticate.js';
