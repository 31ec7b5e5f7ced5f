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
 * with the same esbuild tsx uses, into .test-build/run-<pid>/, and a test
 * runs `node .test-build/run-<pid>/<path>.js` instead. Nothing is bundled: imports,
 * `import.meta.url` and the layout stay as in the sources (dist/ and
 * package.json are linked in, node_modules is found from the repository).
 */
export const REPO = fileURLToPath(new URL('../../', import.meta.url));
/** Where every run keeps its own folder: see {@link runFolder}. */
export const TEST_BUILDS = join(REPO, '.test-build');
/**
 * This run's folder. vitest.config.ts names it after the vitest process
 * (`run-<pid>`) and hands it to the test processes in CHATKEEP_TEST_BUILD,
 * so two runs in one checkout (the suite, and one file run beside it) never
 * empty each other's child scripts or cluster image.
 */
export const TEST_BUILD = process.env['CHATKEEP_TEST_BUILD'] ?? runFolder(process.pid);

export function runFolder(pid: number): string {
  return join(TEST_BUILDS, `run-${pid}`);
}

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

/**
 * Transpiles every .ts file of src/, test/ and examples/ into this run's
 * folder, after removing the folders of runs whose process is gone (a run
 * removes its own at the end, unless it was killed).
 */
export async function buildChildScripts(): Promise<number> {
  const compilerOptions = (JSON.parse(readFileSync(join(REPO, 'tsconfig.json'), 'utf8')) as { compilerOptions: object }).compilerOptions;
  removeFinishedRuns();
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

/** The end of a run: its folder goes. */
export function removeChildScripts(): void {
  rmSync(TEST_BUILD, { recursive: true, force: true });
}

/** Folders of runs that no longer run, and what runs before run folders existed left at the top. */
function removeFinishedRuns(): void {
  if (!existsSync(TEST_BUILDS)) return;
  for (const entry of readdirSync(TEST_BUILDS)) {
    const pid = /^run-(\d+)$/.exec(entry)?.[1];
    if (pid !== undefined && isRunning(Number(pid))) continue;
    rmSync(join(TEST_BUILDS, entry), { recursive: true, force: true });
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function typeScriptFiles(folder: string): string[] {
  if (!existsSync(folder)) return [];
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : typeScriptFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}
