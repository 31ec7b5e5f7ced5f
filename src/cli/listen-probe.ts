import { createServer } from 'node:net';
import { CommandFailure } from './exit-codes.js';

/**
 * Binds `host:port` and lets go of it at once, so that `serve` finds a port
 * that is taken (or a `--host` that is not this machine's) before it opens
 * the database: on a new data folder that would otherwise run initdb and
 * every migration first, and leave the migrated folder behind for an error
 * that had nothing to do with it. The server itself cannot listen that early
 * (it is built over the open store), so this only narrows the window: a port
 * taken between the probe and the real `listen` is still explained by
 * `listenOrExplain`, in the same words.
 *
 * @example
 * await probeListen('127.0.0.1', 8787); // throws CommandFailure (exit 1) when the port is taken
 */
export async function probeListen(host: string, port: number, names: ListenOptionNames = SERVE_OPTION_NAMES): Promise<void> {
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen({ host, port }, () => resolve());
    });
  } catch (error) {
    throw listenRefusal(error, host, port, names);
  }
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}

/**
 * The operating system's refusal to listen (port taken, address not on this
 * machine, no permission) as a sentence that names the option to change,
 * instead of an internal error; any other error is returned as it is.
 */
export function listenRefusal(error: unknown, host: string, port: number, names: ListenOptionNames = SERVE_OPTION_NAMES): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const why = code === undefined ? undefined : LISTEN_ERRORS[code];
  if (why === undefined) return error;
  return new CommandFailure(`cannot listen on ${host}:${port}: ${why(names)} (${code})`, { cause: error });
}

/** The options (and variables) that choose the address, as the refusal names them. */
export interface ListenOptionNames {
  readonly port: string;
  readonly host: string;
}

/** `serve`'s: each option also has a variable. */
const SERVE_OPTION_NAMES: ListenOptionNames = { port: '--port (or PORT)', host: '--host (or CHATKEEP_HOST)' };

const LISTEN_ERRORS: Readonly<Record<string, (names: ListenOptionNames) => string>> = {
  EADDRINUSE: ({ port }) => `the port is already in use; stop what holds it or choose another with ${port}`,
  EACCES: ({ port }) => `permission denied; ports below 1024 need privileges, choose another with ${port}`,
  EADDRNOTAVAIL: ({ host }) => `no network interface of this machine has that address; check ${host}`,
  ENOTFOUND: ({ host }) => `no such address or host name; check ${host}`,
  EAI_AGAIN: ({ host }) => `the host name could not be resolved; check ${host}`,
};
