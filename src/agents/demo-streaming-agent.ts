import type { StreamingAgent } from '../store/agent.js';
import { demoAgent } from './demo-agent.js';

/**
 * The demo agent's reply, streamed word by word with `delayMs` between
 * words, so streaming (and aborting half way) can be seen and tested offline.
 *
 * @example
 * await store.turns.stream(user, convId, 'Hi', demoStreamingAgent({ delayMs: 30 }), { onText: console.log });
 */
export function demoStreamingAgent(options: { readonly delayMs?: number } = {}): StreamingAgent {
  const delayMs = options.delayMs ?? 25;
  return async function* (input) {
    const reply = await demoAgent(input);
    const text = typeof reply === 'string' ? reply : reply.content;
    for (const piece of text.match(/\S+\s*/g) ?? [text]) {
      if (delayMs > 0) await sleep(delayMs, input.signal);
      input.signal.throwIfAborted();
      yield piece;
    }
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
