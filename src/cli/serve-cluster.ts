import cluster, { type Address, type Worker } from 'node:cluster';
import { createServer, type AddressInfo } from 'node:net';
import { answerRateLimitHits, RateLimitCounts } from '../server/cluster/rate-limit-counts.js';
import { buildServer } from '../server/index.js';
import { openStore, type StoreOptions } from '../store/index.js';
import type { Output } from './output.js';
import { listenOrExplain, logListening, PARENT_EXITED_LINE, printBanner, serverOptionsFrom, shutdownSignal, type ServeOptions } from './serve-setup.js';
import { CrashWindow } from './crash-window.js';
import { wantsDemoKey, type InstallWatch } from './demo-key.js';

/** What a worker tells its primary once it has drained. */
interface Drained {
  readonly chatkeep: 'drained';
  readonly finishedInFlight: boolean;
}

/**
 * What the primary tells a listening worker once the banner is printed: the
 * worker may now log its "Server listening at …" line, which would otherwise
 * land in the middle of the banner (serve-setup.ts, listenOrExplain).
 */
interface BannerPrinted {
  readonly chatkeep: 'banner-printed';
}

const BANNER_PRINTED: BannerPrinted = { chatkeep: 'banner-printed' };

/**
 * The port every worker listens on, set by the primary in its environment.
 * With `--port 0` the primary picks the free port itself, before forking:
 * workers each asking for port 0 share the socket only while one of them
 * lives, so when every worker had died at once (the cluster then closes it)
 * the replacements got a new port, serving where nobody knew while the
 * printed address refused connections. And a replacement asking for the
 * bound port instead, while the others still listened on "port 0", would be
 * refused it (EADDRINUSE: the cluster shares a socket per port as asked).
 */
const WORKER_PORT = 'CHATKEEP_CLUSTER_PORT';

/** More unexpected worker exits than this within `CRASH_WINDOW_MS` and the primary gives up. */
const CRASH_LIMIT = 5;
const CRASH_WINDOW_MS = 60_000;

/**
 * How long past `--shutdown-grace` the primary waits for a draining worker
 * before it kills it. A worker aborts its turns at the grace and then only
 * closes its pool, so one still running this much later is wedged (an event
 * loop that never comes back, a stopped process); waiting on, the server
 * would never exit.
 */
const DRAIN_MARGIN_MS = 10_000;

/**
 * The primary of `chatkeep serve --workers N`: migrates once, forks N workers
 * that share the listening port (Node.js cluster), keeps the per-user
 * rate-limit counts for all of them, replaces a worker that dies, and on
 * SIGINT/SIGTERM has every worker drain its in-flight turns before it exits.
 * It serves no requests itself and holds no database connection once the
 * banner is printed.
 */
export async function servePrimary(output: Output, options: ServeOptions, storeOptions: StoreOptions, install: InstallWatch): Promise<void> {
  const serverOptions = serverOptionsFrom(options, 'cluster');
  const store = await openStore(storeOptions);
  const counts = new RateLimitCounts();
  const drained = new Map<number, boolean>();
  const listening = new Set<number>();
  let bannerPrinted = false;
  const announce = (worker: Worker) => {
    // A callback, so a worker that died unnoticed fails the send quietly (see answerRateLimitHits).
    if (worker.isConnected()) worker.send(BANNER_PRINTED, () => undefined);
  };
  cluster.on('listening', (worker) => {
    listening.add(worker.id);
    if (bannerPrinted) announce(worker); // a replacement, forked after the banner
  });
  let stopping = false;
  const crashes = new CrashWindow(CRASH_LIMIT, CRASH_WINDOW_MS);
  let gaveUp: ((why: string) => void) | undefined;
  const givenUp = new Promise<{ readonly gaveUp: string }>((resolve) => (gaveUp = (why) => resolve({ gaveUp: why })));

  let forkEnv: Readonly<Record<string, string>> = { [WORKER_PORT]: String(options.port) };
  const fork = (): Worker => {
    const worker = cluster.fork(forkEnv);
    answerRateLimitHits(worker, counts);
    worker.on('message', (message: Drained | undefined) => {
      if (message?.chatkeep === 'drained') drained.set(worker.id, message.finishedInFlight);
    });
    return worker;
  };

  const killEvery = () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
  };
  try {
    if (options.port === 0) forkEnv = { [WORKER_PORT]: String(await freePort(options.host)) };
    const started = await startWorkers(options.workers, fork);
    if ('failed' in started) {
      // The worker printed its own error (e.g. EADDRINUSE); this says what it means for the server.
      stopping = true;
      killEvery();
      output.warn(`chatkeep serve: ${started.failed}`);
      output.fail(1);
      return;
    }
    // Watching for deaths starts before the banner: a worker lost while it prints is replaced too.
    cluster.on('exit', (worker, code, signal) => {
      if (stopping) return;
      // Exit code 0 is a worker that drained on a SIGTERM of its own (a rolling
      // restart, an operator's kill): replaced, but no crash. Counted, restarting
      // six or more workers one by one within a minute would stop the server.
      const crashed = code === 0 ? { count: 0, giveUp: false } : crashes.record(Date.now());
      const exited = `chatkeep serve: worker ${worker.process.pid} exited (${signal ?? `code ${code}`})`;
      if (crashed.giveUp) {
        output.warn(exited);
        gaveUp?.(`${crashed.count} workers exited within ${CRASH_WINDOW_MS / 1000} s; giving up`);
        return;
      }
      output.warn(`${exited}; starting another`);
      fork();
    });
    await printBanner(output, store, started.address, serverOptions, { workers: options.workers, demoKey: wantsDemoKey(options, install.installed()) });
  } catch (error) {
    stopping = true;
    killEvery();
    throw error;
  } finally {
    await store.close();
  }

  const live = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
  const killAll = (code: number) => {
    for (const worker of live()) worker.process.kill('SIGKILL');
    process.exit(code);
  };
  // Listening before the line that invites the signal: a SIGTERM that finds
  // no listener ends the process outright, leaving the workers undrained.
  const signalled = shutdownSignal(killAll);
  output.line('Stop with Ctrl-C or SIGTERM: in-flight turns finish first.');
  bannerPrinted = true;
  for (const worker of live()) if (listening.has(worker.id)) announce(worker);
  const reason = await Promise.race([signalled, givenUp]);
  stopping = true;
  if (reason === 'parent exited') output.warn(PARENT_EXITED_LINE);
  const workers = live();
  output.warn(`chatkeep serve: draining in-flight turns in ${workers.length} workers…`);
  // SIGTERM, not a message: a worker still starting would miss a message sent
  // before it listens for one, and dies of the signal instead — harmless, as
  // it has served nothing yet.
  const exits = workers.map(
    (worker) => new Promise<string | undefined>((resolve) => {
      worker.once('exit', (code, signal) => resolve(code === 0 || (!listening.has(worker.id) && signal !== null) ? undefined : (signal ?? `code ${code}`)));
    }),
  );
  for (const worker of workers) worker.process.kill('SIGTERM');
  const deadline = setTimeout(() => {
    for (const worker of workers) {
      if (worker.isDead()) continue;
      output.warn(`chatkeep serve: worker ${worker.process.pid} had not stopped ${DRAIN_MARGIN_MS / 1000} s after the shutdown grace; killed it`);
      worker.process.kill('SIGKILL');
    }
  }, options.shutdownGrace + DRAIN_MARGIN_MS);
  const failures = (await Promise.all(exits)).filter((failure) => failure !== undefined);
  clearTimeout(deadline);
  if (typeof reason === 'object') {
    output.warn(`chatkeep serve: ${reason.gaveUp}`);
    output.fail(1);
    return;
  }
  const everyTurnFinished = workers.every((worker) => drained.get(worker.id) === true || !listening.has(worker.id));
  if (failures.length > 0) {
    output.warn(`chatkeep serve: stopped; a worker exited with ${failures[0]} while draining`);
    output.fail(1);
    return;
  }
  output.warn(everyTurnFinished ? 'chatkeep serve: stopped; every in-flight turn finished' : 'chatkeep serve: stopped; turns still running after the grace period were aborted (nothing of them stored)');
}

/** Forks `count` workers; resolves with the address once all listen, or with why one exited first. */
function startWorkers(count: number, fork: () => Worker): Promise<{ readonly address: string } | { readonly failed: string }> {
  return new Promise((resolve) => {
    let listening = 0;
    const onListening = (_worker: Worker, address: Address) => {
      listening += 1;
      if (listening === count) {
        cleanup();
        resolve({ address: urlOf(address) });
      }
    };
    const onExit = (worker: Worker, code: number | null, signal: string | null) => {
      cleanup();
      resolve({ failed: `worker ${worker.process.pid} exited (${signal ?? `code ${code}`}) before it was listening${code !== null && code !== 0 ? '; its error is above' : ''}` });
    };
    const cleanup = () => {
      cluster.off('listening', onListening);
      cluster.off('exit', onExit);
    };
    cluster.on('listening', onListening);
    cluster.on('exit', onExit);
    for (let i = 0; i < count; i++) fork();
  });
}

/**
 * A port free on `host` now, for `--port 0`. Another process could take it
 * before the workers listen (they then fail to start, and the server with
 * them, explaining EADDRINUSE); the window is the workers' start, a second or so.
 */
async function freePort(host: string): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen({ host, port: 0 }, () => resolve());
  });
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

function urlOf(address: Address): string {
  const host = address.addressType === 6 || address.address?.includes(':') ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

/**
 * A worker of `chatkeep serve --workers N`: serves the API on the port the
 * cluster shares, with rate limits counted by the primary. The primary
 * migrated already, so the store is opened without migrating. It drains and
 * exits on SIGTERM, which the primary sends to stop it; a SIGINT from the
 * terminal goes to the primary too, which decides.
 */
export async function serveWorker(options: ServeOptions, storeOptions: StoreOptions): Promise<void> {
  // Before anything else: a SIGTERM from the primary that arrives while this
  // worker is still opening the store must start a drain, not be missed.
  process.on('SIGINT', () => undefined);
  // `on`, not `once`: a SIGTERM sent to the whole process group (systemd's
  // default KillMode=control-group, `kill -- -<pgid>`, `timeout`) reaches the
  // worker directly and then again from the primary; with `once` the second
  // one would kill it in the middle of its drain. Every later one is a no-op.
  let primaryGone = false;
  let losePrimary: () => void = () => undefined;
  const primaryLost = new Promise<undefined>((resolve) => (losePrimary = () => resolve(undefined)));
  const stop = new Promise<void>((resolve) => {
    process.on('SIGTERM', () => resolve());
    // The primary died (killed outright: it would have sent SIGTERM
    // otherwise). Node.js's cluster then exits the worker at once, cutting
    // the turns it is serving, unless the disconnect counts as expected: this
    // listener runs before that check, so the worker drains like on SIGTERM
    // and exits once its in-flight turns are stored. No new connection
    // reaches it: the listening socket was the primary's.
    cluster.worker?.on('disconnect', () => {
      if (cluster.worker === undefined || cluster.worker.exitedAfterDisconnect === true) return;
      cluster.worker.exitedAfterDisconnect = true;
      primaryGone = true;
      losePrimary();
      resolve();
    });
  });
  try {
    const store = await openStore({ ...storeOptions, migrate: false });
    try {
      const server = await buildServer(store, serverOptionsFrom(options, 'cluster'));
      const port = process.env[WORKER_PORT] === undefined ? options.port : Number(process.env[WORKER_PORT]);
      // A worker listens through its primary (which holds the socket): with the
      // primary gone, `listen` waits for an answer that never comes, and the
      // worker would linger, deaf to SIGTERM, until its pool fell idle.
      const address = await Promise.race([listenOrExplain(server.app, options.host, port), primaryLost]);
      if (address === undefined) {
        server.app.log.warn('the primary process is gone before this worker listened; exiting');
        // Its hooks (the sweeper) stop before the store closes under them.
        await server.app.close();
        return;
      }
      // Registered in time: the primary announces the banner only in answer to
      // this worker's 'listening' message, an I/O round-trip away, while this
      // runs in the same turn of the event loop as `listen` resolving.
      const onMessage = (message: BannerPrinted | undefined) => {
        if (message?.chatkeep === 'banner-printed') logListening(server.app, address);
      };
      process.on('message', onMessage);
      try {
        await stop;
      } finally {
        process.off('message', onMessage);
      }
      if (primaryGone) server.app.log.warn('the primary process is gone: finishing the in-flight turns, then exiting');
      const { finishedInFlight } = await server.close();
      const report: Drained = { chatkeep: 'drained', finishedInFlight };
      // A callback: a primary that died since the check fails the send quietly instead of crashing this worker.
      if (process.connected) process.send?.(report, () => undefined);
    } finally {
      await store.close();
    }
  } finally {
    // The IPC channel would keep the process alive. Worker#disconnect (not
    // process.disconnect, which exits 0 at once) lets it end with the exit
    // code the CLI sets — 1 after an error such as EADDRINUSE.
    if (process.connected) cluster.worker?.disconnect();
  }
}
