/** Ready-made agents for `store.turns.run` and `store.turns.stream`. */
export { demoAgent } from './demo-agent.js';
export { demoStreamingAgent } from './demo-streaming-agent.js';
export { openAiCompatibleAgent, type OpenAiAgentOptions } from './openai-agent.js';
