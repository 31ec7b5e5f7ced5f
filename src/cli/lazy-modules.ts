/**
 * The modules behind the commands, loaded by the command that runs them.
 *
 * The command tree (program.ts) is built on every run, `--help` included,
 * so it statically imports only commander and the CLI's own small modules.
 * Loading the store, the drivers, the HTTP server and the MCP SDK up front
 * cost ~1.2 s of CPU per start on a 2-core VM, for `chatkeep --help` as
 * much as for `chatkeep serve`. test/cli/startup-imports.test.ts keeps the
 * tree free of them.
 */
export const loadStore = () => import('../store/index.js');
export const loadDb = () => import('../db/index.js');
export const loadServer = () => import('../server/index.js');
export const loadMcp = () => import('../mcp/index.js');
export const loadSchema = () => import('../schema/index.js');
export const loadMigrate = () => import('../migrate/index.js');
export const loadAgents = () => import('../agents/index.js');
