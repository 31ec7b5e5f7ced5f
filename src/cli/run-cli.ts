import { CommanderError } from 'commander';
import { exitCodeFor, type ExitCode } from './exit-codes.js';
import { Output, type TextSink } from './output.js';
import { packageVersion } from '../package-version.js';
import { buildProgram, type ProgramOptions } from './program.js';

/**
 * Runs one command line (without `node` and the script) and resolves with
 * the exit code; it never calls `process.exit` and never rejects.
 *
 * @example
 * const code = await runCli(['migrate', 'status', '--json']);
 */
export async function runCli(
  args: readonly string[],
  io: { readonly stdout: TextSink; readonly stderr: TextSink } = {
    stdout: process.stdout,
    stderr: process.stderr,
  },
  options: ProgramOptions = {},
): Promise<ExitCode> {
  const output = new Output(io.stdout, io.stderr);
  try {
    await buildProgram(output, packageVersion(), options).parseAsync([...args], { from: 'user' });
  } catch (error) {
    // Commander has already printed its own message (or the help/version).
    if (error instanceof CommanderError) output.fail(exitCodeFor(error));
    else output.error(error);
  }
  return output.exitCode;
}
