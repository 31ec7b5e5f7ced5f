#!/usr/bin/env node
/**
 * The `chatkeep` executable. Everything lives in run-cli.ts and the command
 * files; this file only hands over the arguments and sets the exit code.
 * `process.exitCode` (not `process.exit`) lets stdout drain before the
 * process ends; every command closes its database, so nothing keeps it alive.
 */
import { runCli } from './run-cli.js';

// `chatkeep migrate plan | head` closes the pipe early. Without a listener the
// EPIPE would crash the process, possibly in the middle of a migration; the
// run carries on instead and only its remaining output is lost.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
}

process.exitCode = await runCli(process.argv.slice(2));
