import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';

/**
 * The image of a fresh embedded cluster, shared by processes through a
 * folder the user names (`CHATKEEP_PGLITE_IMAGE_CACHE`).
 *
 * Every new embedded database (a `memory://` store, or a data folder used
 * for the first time) is PGlite's initdb: ~2.3 s of CPU on a 2-core VM.
 * Starting PGlite from the tarball of a fresh cluster (`dumpDataDir`,
 * `loadDataDir`) takes ~0.65 s. A test suite opens hundreds, so with the
 * variable set the first process that builds a cluster saves its image
 * there and later ones, in any process, start from it. Off unless set: a
 * folder in a shared place such as /tmp could be planted by another user.
 *
 * The file is the image's SHA-256 (hex, one line) followed by the image, so
 * a torn or edited file is ignored and rebuilt (PGlite given a truncated
 * tarball can hang); it is written to a temp name and renamed, so readers
 * see a whole file or none. Its name carries PGlite's version.
 */
export const IMAGE_CACHE_VARIABLE = 'CHATKEEP_PGLITE_IMAGE_CACHE';

const HASH_LINE = 65; // 64 hex digits and a newline

/** The cached image of a fresh cluster, or undefined (no cache folder set, no image yet, or a damaged one). */
export function cachedClusterImage(env: NodeJS.ProcessEnv = process.env): Blob | undefined {
  const file = imageFile(env);
  if (file === undefined) return undefined;
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    return undefined;
  }
  const image = bytes.subarray(HASH_LINE);
  if (bytes.length <= HASH_LINE || bytes.subarray(0, HASH_LINE - 1).toString('latin1') !== sha256(image)) return undefined;
  return new Blob([image]);
}

/**
 * Saves the image of `fresh` (a cluster nothing has been written to yet)
 * when a cache folder is set. A cache that cannot be written is skipped:
 * it only makes the next start slower.
 */
export async function saveClusterImage(fresh: PGlite, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const file = imageFile(env);
  if (file === undefined) return;
  try {
    const image = Buffer.from(await (await fresh.dumpDataDir('none')).arrayBuffer());
    mkdirSync(dirname(file), { recursive: true });
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, Buffer.concat([Buffer.from(`${sha256(image)}\n`, 'latin1'), image]));
    renameSync(temp, file);
  } catch {
    try {
      rmSync(`${file}.${process.pid}.tmp`, { force: true });
    } catch {
      // e.g. ENOTDIR: the "folder" is a file, so there is no temp file to remove
    }
  }
}

function imageFile(env: NodeJS.ProcessEnv): string | undefined {
  const folder = env[IMAGE_CACHE_VARIABLE];
  if (folder === undefined || folder.trim() === '') return undefined;
  try {
    return join(resolve(folder), `pglite-${pgliteVersion()}.image`);
  } catch {
    return undefined; // no version, no safe name: no cache
  }
}

let version: string | undefined;

/** The installed PGlite's version: an image is only loaded by the PGlite that wrote it. */
function pgliteVersion(): string {
  version ??= (() => {
    // The package exports no ./package.json; its entry point is in dist/, one folder down.
    const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
    const pkg = JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as { name: string; version: string };
    if (pkg.name !== '@electric-sql/pglite') throw new Error(`unexpected layout of @electric-sql/pglite: ${entry}`);
    return pkg.version;
  })();
  return version;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
