import { buildChildScripts } from './child-scripts.js';

/** Once per `vitest run`, before any test file: the child scripts tests start with plain Node (child-scripts.ts). */
export default async function setup(): Promise<void> {
  await buildChildScripts();
}
