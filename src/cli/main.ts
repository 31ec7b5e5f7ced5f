#!/usr/bin/env node
/**
 * The `chatkeep` executable. Everything lives in run-cli.ts and the command
 * files; this file only hands over the arguments and sets the exit code.
 * `process.exitCode` (not `process.exit`) lets stdout drain before the
 * process ends; every command closes its database, so nothing keeps it alive.
 */
import { runCli } from './run-cli.js';

process.exitCode = await runCli(process.argv.slice(2));
