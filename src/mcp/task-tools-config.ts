import { assertIdentifier } from '../migrate/identifier.js';

/** The host schema holding `tasks` and `categories` (the Todo example's default). */
export const DEFAULT_HOST_SCHEMA = 'todo';

/** The database role the task tools run as. */
export const DEFAULT_TOOLS_ROLE = 'chatkeep_tools';

/**
 * Where the task tools act and as whom. Every name is a checked identifier,
 * because each is interpolated into SQL (`set local role`, `grant … on`).
 */
export interface TaskToolsConfig {
  /** Schema of the host's `tasks` and `categories` tables (default `todo`). */
  readonly hostSchema?: string;
  /** Role every task statement runs as (default `chatkeep_tools`). */
  readonly role?: string;
}

export interface ResolvedTaskToolsConfig {
  readonly hostSchema: string;
  readonly role: string;
}

/** Applies defaults; throws CK_CONFIG naming the field when a name is not a plain identifier. */
export function resolveTaskToolsConfig(config: TaskToolsConfig = {}): ResolvedTaskToolsConfig {
  return {
    hostSchema: assertIdentifier('hostSchema', config.hostSchema ?? DEFAULT_HOST_SCHEMA),
    role: assertIdentifier('role', config.role ?? DEFAULT_TOOLS_ROLE),
  };
}
