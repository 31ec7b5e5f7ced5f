import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';

/**
 * The TypeScript scripts tests start in processes of their own (to kill
 * them at any moment, or to run two at once), run by plain Node.
 *
 * Under `node --import tsx` every module a child loads passes tsx's loader
 * hooks: ~1.5 s more CPU per child than plain Node on a 2-core VM, and the
 * suite starts dozens of children. So the global setup (global-setup.ts)
 * transpiles src/, test/ and examples/ once per run, file for file and
 * with the same esbuild tsx uses, into .test-build/, and a test runs
 * `node .test-build/<path>.js` instead. Nothing is bundled: imports,
 * `import.meta.url` and the layout stay as in the sources (dist/ and
 * package.json are linked in, node_modules is found from the repository).
 */
export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const TEST_BUILD = join(REPO, '.test-build');

const SOURCE_FOLDERS = ['src', 'test', 'examples'];

/** The file `node` runs for `script` (a .ts file of the repository): its transpiled copy (see {@link buildChildScripts}). */
export function childScript(script: string): string {
  const from = relative(REPO, resolve(script));
  if (from.startsWith('..') || !from.endsWith('.ts')) throw new Error(`not a TypeScript file of the repository: ${script}`);
  const compiled = join(TEST_BUILD, from.replace(/\.ts$/, '.js'));
  if (!existsSync(compiled)) {
    throw new Error(`${compiled} does not exist: the tests' global setup (test/support/global-setup.ts) transpiles the child scripts; run the tests with vitest`);
  }
  return compiled;
}

/** Transpiles every .ts file of src/, test/ and examples/ into .test-build/ (replacing what is there). */
export async function buildChildScripts(): Promise<number> {
  const compilerOptions = (JSON.parse(readFileSync(join(REPO, 'tsconfig.json'), 'utf8')) as { compilerOptions: object }).compilerOptions;
  rmSync(TEST_BUILD, { recursive: true, force: true });
  mkdirSync(TEST_BUILD, { recursive: true });
  // package.json: "type": "module" for the .js files, and what src/package-version.ts reads.
  writeFileSync(join(TEST_BUILD, 'package.json'), readFileSync(join(REPO, 'package.json')));
  symlinkSync(join(REPO, 'dist'), join(TEST_BUILD, 'dist'), 'dir');
  const files = SOURCE_FOLDERS.flatMap((folder) => typeScriptFiles(join(REPO, folder)));
  await Promise.all(
    files.map(async (file) => {
      const { code } = await transform(readFileSync(file, 'utf8'), {
        loader: 'ts',
        format: 'esm',
        target: 'node20',
        sourcefile: file,
        tsconfigRaw: { compilerOptions },
      });
      const out = join(TEST_BUILD, relative(REPO, file).replace(/\.ts$/, '.js'));
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, code);
    }),
  );
  return files.length;
}

function typeScriptFiles(folder: string): string[] {
  if (!existsSync(folder)) return [];
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : typeScriptFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}
