import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface PackageJson {
  readonly name?: string;
  readonly version?: string;
  readonly main?: string;
  readonly module?: string;
  readonly exports?: unknown;
}

/** A package as Node finds it from a given file: its folder, package.json and ESM entry. */
export interface ResolvedPackage {
  readonly dir: string;
  readonly version: string;
  /** URL of the entry an ESM `import` of the bare name loads. */
  readonly importUrl: string;
}

function esmEntry(pkg: PackageJson): string {
  const root = (pkg.exports as Record<string, unknown> | undefined)?.['.'] ?? pkg.exports;
  const pick = (v: unknown): string | undefined => {
    if (typeof v === 'string') return v;
    if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      return pick(o['import']) ?? pick(o['node']) ?? pick(o['default']);
    }
    return undefined;
  };
  return pick(root) ?? pkg.module ?? pkg.main ?? 'index.js';
}

/**
 * Finds `name` the way Node does from `fromUrl` (each parent's
 * node_modules in turn). Node 20's import.meta.resolve ignores its second
 * argument without a flag, so chatkeep's own copies of PGlite and pg (in the
 * root package) are found here by hand rather than resolved from this file.
 */
export function resolvePackage(
  name: string,
  fromUrl: string = import.meta.url,
): ResolvedPackage | undefined {
  let dir = dirname(fileURLToPath(fromUrl));
  for (;;) {
    const candidate = join(dir, 'node_modules', name);
    const file = join(candidate, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as PackageJson;
      return {
        dir: candidate,
        version: pkg.version ?? 'unknown',
        importUrl: pathToFileURL(join(candidate, esmEntry(pkg))).href,
      };
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** The version of `name` as found from `fromUrl` (default: the bench itself). */
export function packageVersion(name: string, fromUrl: string = import.meta.url): string {
  return resolvePackage(name, fromUrl)?.version ?? 'unknown';
}

export function cpus(): string {
  const list = os.cpus();
  return `${os.availableParallelism()} × ${list[0]?.model.trim() ?? 'unknown'}`;
}

export function memory(): string {
  return `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`;
}

export function osName(): string {
  return `${os.type()} ${os.release()} ${os.arch()}`;
}

/** The commit of the working tree that was built, marked `+dirty` when it has uncommitted changes. */
export function gitDescribe(cwd: string): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd,
      encoding: 'utf8',
    }).trim();
    const dirty =
      execFileSync('git', ['status', '--porcelain', '--', 'src'], {
        cwd,
        encoding: 'utf8',
      }).trim() !== '';
    return `${head}${dirty ? '+dirty src' : ''}`;
  } catch {
    return 'unknown commit';
  }
}
