import { isChatkeepError } from '../errors/index.js';
import { CommandFailure, EXIT_CODES, UsageError, exitCodeFor, type ExitCode } from './exit-codes.js';

/** Where a stream of text goes; `process.stdout` and `process.stderr` fit. */
export interface TextSink {
  write(text: string): unknown;
}

/**
 * The CLI's only way to talk: human output and JSON to stdout, warnings,
 * progress in --json mode and errors to stderr. It also carries the exit code
 * a command decided on, so commands never call `process.exit` themselves.
 */
export class Output {
  readonly #stdout: TextSink;
  readonly #stderr: TextSink;
  #exitCode: ExitCode = EXIT_CODES.OK;

  constructor(stdout: TextSink, stderr: TextSink) {
    this.#stdout = stdout;
    this.#stderr = stderr;
  }

  /** Whether stderr is a terminal (live progress bars) rather than a file or pipe. */
  get interactiveErr(): boolean {
    return (this.#stderr as { isTTY?: boolean }).isTTY === true;
  }

  /** The exit code the process should end with. */
  get exitCode(): ExitCode {
    return this.#exitCode;
  }

  /** Sets the exit code; a later, more specific failure may overwrite an earlier one. */
  fail(code: ExitCode): void {
    this.#exitCode = code;
  }

  /** Raw text on stdout (commander's help and version go here). */
  writeOut(text: string): void {
    this.#stdout.write(text);
  }

  /** Raw text on stderr (commander's usage errors go here). */
  writeErr(text: string): void {
    this.#stderr.write(text);
  }

  /** A line on stdout. */
  line(text = ''): void {
    this.#stdout.write(`${text}\n`);
  }

  /** A line on stderr. */
  warn(text: string): void {
    this.#stderr.write(`${text}\n`);
  }

  /** One JSON document on stdout (bigints as strings, dates as ISO strings). */
  json(value: unknown): void {
    this.#stdout.write(`${JSON.stringify(value, jsonReplacer, 2)}\n`);
  }

  /** Prints `error [CODE]: message` on stderr and records the matching exit code. */
  error(error: unknown): void {
    this.warn(formatError(error));
    this.fail(exitCodeFor(error));
  }
}

/**
 * `error [CK_CODE]: message` for chatkeep's errors, `error: message` for
 * usage errors (the shape commander uses for its own) and command failures. Only the message is
 * printed, never `details` or `cause`: those may carry SQL parameters.
 */
export function formatError(error: unknown): string {
  if (isChatkeepError(error)) return `error [${error.code}]: ${error.message}`;
  if (error instanceof UsageError || error instanceof CommandFailure) return `error: ${error.message}`;
  const message = error instanceof Error ? error.message : String(error);
  return `error [CK_INTERNAL]: ${message}`;
}

/** A ChatkeepError as JSON output shows it: code, message and details. */
export function errorJson(error: unknown): { code: string; message: string; details?: unknown } {
  if (isChatkeepError(error)) return error.toJSON();
  return { code: 'CK_INTERNAL', message: error instanceof Error ? error.message : String(error) };
}

function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** `3` → `0003`, the way migration files are numbered. */
export function formatVersion(version: number): string {
  return String(version).padStart(4, '0');
}

/** `n thing` / `n things`. */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
