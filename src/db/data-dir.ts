import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { ChatkeepError } from '../errors/index.js';
import { cachedClusterImage, saveClusterImage } from './cluster-image.js';

const LOCK_FILE = 'chatkeep.lock';

/**
 * Makes sure `dataDir` holds an initialised PGlite cluster. A brand-new cluster
 * is built in a sibling temp folder and renamed into place, because a process
 * killed during PGlite's initdb leaves a half-written folder that a later open
 * cannot tell from a real (empty) database.
 */
export async function prepareDataDir(dataDir: string): Promise<string> {
  const dir = resolve(dataDir);
  if (existsSync(dir)) {
    let isDir: boolean;
    try {
      isDir = statSync(dir).isDirectory();
    } catch (cause) {
      throw dataDirError(dir, 'cannot be read', cause);
    }
    if (!isDir) throw dataDirError(dir, 'is a file, not a folder');
    const entries = readdirSync(dir).filter((name) => name !== LOCK_FILE);
    if (entries.length > 0) {
      if (!entries.includes('PG_VERSION')) {
        throw dataDirError(dir, 'is not empty and is not a chatkeep/PGlite data folder');
      }
      return dir;
    }
    rmSync(dir, { recursive: true, force: true });
  }
  const staging = `${dir}.init-${process.pid}`;
  try {
    mkdirSync(dirname(dir), { recursive: true });
    rmSync(staging, { recursive: true, force: true });
    const image = cachedClusterImage();
    const fresh = await PGlite.create(staging, image === undefined ? {} : { loadDataDir: image });
    if (image === undefined) await saveClusterImage(fresh);
    await fresh.close();
    renameSync(staging, dir);
  } catch (cause) {
    rmSync(staging, { recursive: true, force: true });
    throw dataDirError(dir, 'could not be created', cause);
  }
  return dir;
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
