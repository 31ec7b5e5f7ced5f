import { spawn, type ChildProcess } from 'node:child_process';
import { childScript } from './child-scripts.js';

/** A TypeScript script running in its own process, so a test can kill it (SIGKILL) at any moment. */
export interface ChildRun {
  readonly child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Everything it printed on stdout so far. */
  output(): string;
}

/** `node <script> ...args` (the script transpiled, see child-scripts.ts), stdout collected. */
export function runScript(script: string, args: readonly string[]): ChildRun {
  const child = spawn(process.execPath, [childScript(script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => out };
}

/**
 * Waits until the run has printed `marker` (or exited), then `delay.min` ms
 * plus up to `delay.jitter` ms at random, then kills it with SIGKILL.
 */
export async function killAfter(run: ChildRun, marker: string, delay: { readonly min?: number; readonly jitter?: number } = {}): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (run.output().includes(marker) || run.child.exitCode !== null) {
        clearInterval(timer);
        resolve();
      }
    }, 10);
  });
  const wait = (delay.min ?? 0) + Math.random() * (delay.jitter ?? 0);
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  run.child.kill('SIGKILL');
  await run.exited;
}
