import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, CLI_PATH } from './cli-process.js';

beforeAll(assertBuilt);

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));

/** `import … from 'x'`, `export … from 'x'` and `import 'x'`: what Node loads before the module runs (not `import('x')`). */
const STATIC_IMPORT = /^\s*(?:import|export)\s[^'";]*?\sfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]/gm;

/**
 * Every module Node loads, before any command runs, when it starts `file`:
 * the static import graph of the built files, with the packages it reaches
 * and the first file that reaches each.
 */
function staticClosure(file: string): { readonly files: Set<string>; readonly packages: Map<string, string> } {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const visit = (path: string): void => {
    if (files.has(path)) return;
    files.add(path);
    for (const match of readFileSync(path, 'utf8').matchAll(STATIC_IMPORT)) {
      const specifier = match[1] ?? match[2] ?? '';
      if (specifier.startsWith('.')) visit(resolve(dirname(path), specifier));
      else if (!specifier.startsWith('node:')) {
        const parts = specifier.split('/');
        const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
        if (!packages.has(name)) packages.set(name, relative(DIST, path));
      }
    }
  };
  visit(file);
  return { files, packages };
}

describe('starting the CLI', () => {
  it('loads commander and the progress bar only: the store, the drivers, the HTTP server and the MCP SDK load with the command that uses them', () => {
    // `chatkeep --help` or a usage error took ~1.3 s of CPU on a 2-core VM
    // while the command tree imported everything; now ~0.25 s.
    const { packages } = staticClosure(CLI_PATH);
    expect(Object.fromEntries(packages)).toEqual({
      commander: expect.any(String),
      'cli-progress': 'cli/migration-progress.js',
    });
  });

  it('reaches none of the modules that open databases or serve requests', () => {
    const { files } = staticClosure(CLI_PATH);
    const loaded = [...files].map((f) => relative(DIST, f));
    for (const heavy of ['db/database.js', 'store/store.js', 'server/build-server.js', 'mcp/mcp-server.js', 'migrate/migrator.js']) {
      expect(loaded).not.toContain(heavy);
    }
    // The walk itself follows the graph: the command tree and its commands are in it.
    expect(loaded).toEqual(expect.arrayContaining(['cli/main.js', 'cli/program.js', 'cli/commands/serve.js', 'cli/commands/migrate-plan.js']));
  });

  it('the walk sees what the library entry point loads (a control: the same walk over dist/index.js reaches the drivers)', () => {
    const { packages } = staticClosure(resolve(DIST, 'index.js'));
    expect([...packages.keys()]).toEqual(expect.arrayContaining(['kysely', 'pg', '@electric-sql/pglite', 'zod']));
  });
});
