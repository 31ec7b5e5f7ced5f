import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { ChatkeepError } from '../errors/index.js';
import { cachedClusterImage, saveClusterImage } from './cluster-image.js';

const LOCK_FILE = 'chatkeep.lock';

/** Present while a cluster is being moved into an existing folder; its contents are ours to clear. */
const INIT_MARKER = '.chatkeep-initializing';

/**
 * Makes sure `dataDir` holds an initialised PGlite cluster. A process killed
 * during PGlite's initdb leaves a half-written folder that a later open
 * cannot tell from a real (empty) database, so a brand-new cluster is never
 * built where it will live:
 * - a folder that does not exist yet: built in a sibling temp folder and
 *   renamed into place;
 * - an existing empty folder (a mount point, e.g. a fresh Docker volume,
 *   which cannot be removed or renamed over, or one whose parent is
 *   read-only): built in a temp folder inside it, whose entries are then
 *   moved up, PG_VERSION last, under a marker file that a later open reads as
 *   "interrupted: clear and start again".
 */
export async function prepareDataDir(dataDir: string): Promise<string> {
  const dir = resolve(dataDir);
  if (!existsSync(dir)) {
    await buildBeside(dir);
    return dir;
  }
  let isDir: boolean;
  let entries: string[];
  try {
    isDir = statSync(dir).isDirectory();
    entries = isDir ? readdirSync(dir).filter((name) => name !== LOCK_FILE) : [];
  } catch (cause) {
    throw dataDirError(dir, 'cannot be read', cause);
  }
  if (!isDir) throw dataDirError(dir, 'is a file, not a folder');
  if (entries.includes(INIT_MARKER)) {
    // Only a cluster this code was moving in is here (the marker is written
    // into an empty folder first and removed last): no data to lose.
    for (const name of entries) rmSync(join(dir, name), { recursive: true, force: true });
    entries = [];
  }
  if (entries.length === 0) {
    await buildInside(dir);
    return dir;
  }
  if (!entries.includes('PG_VERSION')) {
    throw dataDirError(dir, 'is not empty and is not a chatkeep/PGlite data folder');
  }
  const server = serverProcess(dir);
  if (server !== undefined) {
    throw dataDirError(
      dir,
      `is the data directory of a PostgreSQL server (its postmaster.pid names server process ${server}); the embedded database must not open it: give chatkeep that server's postgres:// URL instead`,
    );
  }
  return dir;
}

/**
 * The process a PostgreSQL server records in `postmaster.pid` (the file's
 * first line), when `dir` holds one: `dataDir` pointed at a server's own
 * data directory (PGDATA, a volume shared with a postgres container). PGlite
 * opened such a folder beside the running server, replaced its
 * postmaster.pid and wrote into its files. PGlite writes a postmaster.pid
 * too, while open, but as a single-user backend it records a negative pid
 * (-42), which it takes over itself after a crash; a server (postmaster)
 * records a positive one. Whether that process is alive is not asked: the
 * server may run in another container, whose pids this one cannot see.
 */
function serverProcess(dir: string): number | undefined {
  const pid = Number(readFileSafe(join(dir, 'postmaster.pid')).split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

async function buildBeside(dir: string): Promise<void> {
  const staging = `${dir}.init-${process.pid}`;
  try {
    mkdirSync(dirname(dir), { recursive: true });
    rmSync(staging, { recursive: true, force: true });
    removeAbandonedStaging(dir);
    await buildCluster(staging);
    renameSync(staging, dir);
  } catch (cause) {
    rmSync(staging, { recursive: true, force: true });
    throw dataDirError(dir, 'could not be created', cause);
  }
}

async function buildInside(dir: string): Promise<void> {
  const marker = join(dir, INIT_MARKER);
  try {
    writeFileSyncExclusive(marker);
  } catch (cause) {
    throw dataDirError(dir, 'is not writable', cause);
  }
  const staging = join(dir, `.init-${process.pid}`);
  try {
    await buildCluster(staging);
    const names = readdirSync(staging).sort((a, b) => Number(a === 'PG_VERSION') - Number(b === 'PG_VERSION'));
    for (const name of names) renameSync(join(staging, name), join(dir, name));
    rmSync(staging, { recursive: true, force: true });
    unlinkSync(marker);
  } catch (cause) {
    for (const name of readdirSync(dir)) if (name !== LOCK_FILE) rmSync(join(dir, name), { recursive: true, force: true });
    throw dataDirError(dir, 'could not be initialised', cause);
  }
}

/** Temp folders `<dir>.init-<pid>` of earlier first starts killed mid-build (their process is gone). */
function removeAbandonedStaging(dir: string): void {
  const prefix = `${basename(dir)}.init-`;
  for (const name of readdirSync(dirname(dir))) {
    const pid = name.startsWith(prefix) ? Number(name.slice(prefix.length)) : NaN;
    if (Number.isInteger(pid) && pid > 0 && !isAlive(pid)) rmSync(join(dirname(dir), name), { recursive: true, force: true });
  }
}

async function buildCluster(folder: string): Promise<void> {
  const image = cachedClusterImage();
  const fresh = await PGlite.create(folder, image === undefined ? {} : { loadDataDir: image });
  if (image === undefined) await saveClusterImage(fresh);
  await fresh.close();
}

function writeFileSyncExclusive(path: string): void {
  const fd = openSync(path, 'wx');
  closeSync(fd);
}

/**
 * The data folders this process holds the lock of (device and inode). A lock file naming this
 * process's pid does not say that: in a container the server has the same
 * pid (1, or the same low number) on every start, so after a crash the
 * restarted process found its own pid in the dead one's lock and refused the
 * folder as "already open in this process", for good. Process-wide by
 * nature, as the lock is: kept on `process` under a registered symbol, so
 * two copies of this module loaded in one process (two installed versions)
 * still see each other's folders and cannot both open one.
 */
const heldHere: Set<string> = ((process as unknown as Record<symbol, Set<string> | undefined>)[Symbol.for('chatkeep.heldDataDirs')] ??= new Set<string>());

/**
 * Takes the data folder for this process. PGlite has no multi-process
 * protection of its own: two processes writing one folder corrupt it. The lock
 * is a file created with O_EXCL holding our pid, and on Linux which process
 * that is (processIdentity); a lock whose holder is gone is stale (it was
 * killed, or the machine went down) and is taken over: its pid is dead, or
 * names another process than the one that took the lock, or is our own pid
 * and this process did not take it (an earlier process with our pid).
 */
export function lockDataDir(dir: string): () => void {
  // The folder itself, not its path: reached through a symlink or a bind mount it is still the one held here.
  let folder: string;
  try {
    const { dev, ino } = statSync(dir);
    folder = `${dev}:${ino}`;
  } catch (cause) {
    throw dataDirError(dir, 'cannot be read', cause);
  }
  if (heldHere.has(folder)) throw dataDirError(dir, 'is already open in this process; open it once and share the store');
  const path = join(dir, LOCK_FILE);
  const identity = processIdentity(process.pid);
  const ours = identity === undefined ? String(process.pid) : `${process.pid}\n${identity}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, ours);
      closeSync(fd);
      heldHere.add(folder);
      return () => {
        heldHere.delete(folder);
        try {
          if (readFileSync(path, 'utf8') === ours) unlinkSync(path);
        } catch {
          // already gone: nothing to release
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw dataDirError(dir, 'is not writable', error);
      }
      const [pid = '', taker] = readFileSafe(path).split('\n');
      const holder = Number(pid);
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder) && !reused(holder, taker)) {
        throw dataDirError(dir, `is in use by process ${holder}; PGlite allows one process per data folder (use PostgreSQL to share a database)`);
      }
      try {
        unlinkSync(path);
      } catch {
        // another process removed the stale lock first; retry the exclusive create
      }
    }
  }
  throw dataDirError(dir, 'lock could not be taken');
}

/**
 * Which process `pid` is, beyond its number, on Linux: the boot and the
 * process's start time (clock ticks since boot, field 22 of
 * /proc/<pid>/stat, proc(5)). A pid names another process once its holder
 * died and the number was handed out again; after a reboot (a power loss)
 * numbers start again from the same low values, so the dead holder's pid
 * is often a live daemon's, and the folder was refused as "in use" until
 * someone deleted the lock. Undefined where /proc cannot tell.
 */
function processIdentity(pid: number): string | undefined {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces and ')': fields 3… follow the last ')'.
    const started = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return boot !== '' && started !== undefined && /^\d+$/.test(started) ? `${boot}/${started}` : undefined;
  } catch {
    return undefined;
  }
}

/** Whether live `pid` is not the process that took the lock, as far as the lock's record (`taker`) and /proc tell. */
function reused(pid: number, taker: string | undefined): boolean {
  if (taker === undefined || taker === '') return false;
  const now = processIdentity(pid);
  return now !== undefined && now !== taker;
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function dataDirError(dir: string, problem: string, cause?: unknown): ChatkeepError {
  const reason = cause instanceof Error ? `: ${cause.message}` : '';
  return new ChatkeepError('CK_DATA_DIR', `Data folder ${dir} ${problem}${reason}`, { field: 'dataDir', dataDir: dir }, { cause });
}
