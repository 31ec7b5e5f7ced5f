/** How often the parent is looked at: a stop is noticed within this long. */
const POLL_MS = 500;

/** A wait for the parent process to exit; `dispose` stops watching. */
export interface ParentExit {
  readonly exited: Promise<void>;
  dispose(): void;
}

/**
 * Resolves when the process that started this one exits, for a server
 * started by an npm script (`npm start`, `npx chatkeep serve`). npm runs the
 * script under `sh -c`, and passes a SIGTERM it receives to that shell
 * only; Debian's sh (dash) dies of it without passing it on, npm exits, and
 * the server ran on, orphaned, holding its port and its data folder. Node
 * has no parent-death signal, so `process.ppid` is polled: an orphan is
 * re-parented (to 1 or a subreaper) and its ppid changes.
 *
 * Undefined outside npm (no `npm_lifecycle_event`): a server started from a
 * shell that then exits, under nohup or `&`, is meant to outlive it.
 */
export function watchParentExit(env: NodeJS.ProcessEnv = process.env, pollMs = POLL_MS): ParentExit | undefined {
  if (env['npm_lifecycle_event'] === undefined) return undefined;
  const parent = process.ppid;
  let timer: NodeJS.Timeout | undefined;
  const exited = new Promise<void>((resolve) => {
    timer = setInterval(() => {
      if (process.ppid === parent) return;
      clearInterval(timer);
      resolve();
    }, pollMs);
    // Watching must not keep a process alive that has nothing else to do.
    timer.unref();
  });
  return { exited, dispose: () => clearInterval(timer) };
}
