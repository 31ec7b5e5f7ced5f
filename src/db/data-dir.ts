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
  return dir;
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
 * Takes the data folder for this process. PGlite has no multi-process
 * protection of its own: two processes writing one folder corrupt it. The lock
 * is a file created with O_EXCL holding our pid; a lock whose pid is dead is
 * stale (the holder was killed) and is taken over.
 */
export function lockDataDir(dir: string): () => void {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(path, 'utf8') === String(process.pid)) unlinkSync(path);
        } catch {
          // already gone: nothing to release
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw dataDirError(dir, 'is not writable', error);
      }
      const holder = Number(readFileSafe(path));
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
        throw dataDirError(dir, `is in use by process ${holder}; PGlite allows one process per data folder (use PostgreSQL to share a database)`);
      }
      if (holder === process.pid) {
        throw dataDirError(dir, 'is already open in this process; open it once and share the store');
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
