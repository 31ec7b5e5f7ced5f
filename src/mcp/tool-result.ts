import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { isChatkeepError } from '../errors/index.js';

/** A successful tool call: the value as JSON text (what models read) and as structured content. */
export function toolResult(value: Readonly<Record<string, unknown>>): CallToolResult {
  return {
    content: [{ type: 'text', text: JSON.stringify(value) }],
    structuredContent: { ...value },
  };
}

/**
 * A failed tool call, as a tool error (`isError`) the model can read and act
 * on: `CK_VALIDATION: title: must not be empty`. Only ChatkeepErrors say
 * what went wrong; anything else becomes CK_INTERNAL without its message,
 * which could quote a statement or its parameters (STYLE 9).
 */
export function toolError(error: unknown): CallToolResult {
  const shown = isChatkeepError(error)
    ? {
        code: error.code,
        message: error.message,
        ...(error.field !== undefined ? { field: error.field } : {}),
      }
    : { code: 'CK_INTERNAL', message: 'Internal error' };
  return {
    isError: true,
    content: [{ type: 'text', text: `${shown.code}: ${shown.message}` }],
    structuredContent: { error: shown },
  };
}
