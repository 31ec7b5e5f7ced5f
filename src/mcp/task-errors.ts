import {
  ChatkeepError,
  ConflictError,
  ValidationError,
  pgErrorFields,
  wrapDriverError,
} from '../errors/index.js';

/** Constraints of the host's task tables (examples/todo/migrations) and the argument each protects. */
const CONSTRAINT_FIELDS: Readonly<Record<string, string>> = {
  tasks_title_check: 'title',
  tasks_description_check: 'description',
  tasks_priority_check: 'priority',
  tasks_category_fk: 'category',
  categories_name_check: 'category',
};

/**
 * Turns a driver error from a task statement into a ChatkeepError, keeping
 * it as `cause`. Messages never carry the statement or its parameters
 * (STYLE 9), and a privilege error is reported as the configuration problem
 * it is, not as something the caller did.
 */
export function wrapTaskError(
  error: unknown,
  where: { readonly hostSchema: string; readonly role: string },
): unknown {
  if (error instanceof ChatkeepError) return error;
  const pg = pgErrorFields(error);
  if (pg === undefined) {
    return wrapDriverError(error);
  }
  const constraint = pg.constraint ?? '';
  switch (pg.code) {
    case '23503':
      if (constraint === 'tasks_user_fk' || constraint === 'categories_user_fk') {
        return new ChatkeepError(
          'CK_FORBIDDEN',
          'The calling user is not a user of the host application',
          {},
          { cause: error },
        );
      }
      // The category the call found was deleted by the host app before the
      // call committed (the key check waits for that delete, then fails).
      // The name was fine: the whole call rolled back, and sent again it
      // creates the category anew.
      if (constraint === 'tasks_category_fk') {
        return new ConflictError(
          'The category was deleted meanwhile; nothing was written, retry',
          { field: 'category', sqlState: pg.code },
          { cause: error },
        );
      }
      break;
    case '23514':
    case '22001':
    case '22007':
    case '22008': {
      const field = CONSTRAINT_FIELDS[constraint];
      if (field !== undefined) {
        return new ValidationError(field, `rejected by the database (${pg.code} ${constraint})`, {
          cause: error,
        });
      }
      break;
    }
    case '42501':
    case '42704':
    case '22023': // `set role` to a role that does not exist: not the caller's input at fault.
      return new ChatkeepError(
        'CK_CONFIG',
        `The task tools' role "${where.role}" is missing or lacks a privilege on schema "${where.hostSchema}" (SQLSTATE ${pg.code}); run \`chatkeep mcp role\``,
        { field: 'role', sqlState: pg.code },
        { cause: error },
      );
    case '42P01':
    case '3F000':
      return new ChatkeepError(
        'CK_CONFIG',
        `The host's task tables are missing in schema "${where.hostSchema}" (SQLSTATE ${pg.code}); migrate the host app first`,
        { field: 'hostSchema', sqlState: pg.code },
        { cause: error },
      );
  }
  return wrapDriverError(error);
}
