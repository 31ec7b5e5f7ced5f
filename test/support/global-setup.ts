import { buildChildScripts, removeChildScripts } from './child-scripts.js';

/**
 * Once per `vitest run`, before any test file: the child scripts tests start
 * with plain Node (child-scripts.ts), in this run's own folder, removed when
 * the run ends.
 */
export default async function setup(): Promise<() => void> {
  await buildChildScripts();
  return removeChildScripts;
}
