import { readFileSync } from 'node:fs';

/**
 * chatkeep's version from its package.json, which sits one folder above
 * both `src/` and `dist/`. Read at run time rather than imported:
 * package.json lies outside the compiled `rootDir`.
 */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version?: unknown;
  };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}
