/** Ready-made agents for `store.turns.run`. */
export { demoAgent } from './demo-agent.js';
