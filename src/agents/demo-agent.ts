import type { Agent } from '../store/agent.js';

/**
 * A deterministic, offline agent for demos and tests: it answers with a short
 * reply that quotes the user's message and says how many earlier messages it
 * was shown. The same input always gives the same reply. It honours the abort
 * signal like a real agent should (a timed-out turn stores nothing).
 *
 * @example
 * import { demoAgent } from './agents/index.js';
 * const turn = await store.turns.run('demo-user', conversation.id, 'Hello!', demoAgent);
 * turn.assistantMessage.content; // 'Hello! You said "Hello!", and I can see 0 earlier messages in this conversation.'
 */
export const demoAgent: Agent = async ({ message, history, signal }) => {
  signal.throwIfAborted();
  // Yield once, as a real agent awaiting its model would, so an abort that
  // arrives meanwhile is seen before a reply is produced.
  await new Promise<void>((resolve) => setImmediate(resolve));
  signal.throwIfAborted();
  const earlier = history.length;
  const opening =
    earlier === 0 ? 'Hello!' : message.trimEnd().endsWith('?') ? 'Good question.' : 'Noted.';
  const quote = (text: string) => (text.length > 60 ? `${text.slice(0, 59)}…` : text);
  // Quoting the previous user message shows that the history really arrived.
  const previous = [...history].reverse().find((m) => m.role === 'user');
  const recall = previous === undefined ? '' : ` Before that you said "${quote(previous.content)}".`;
  return {
    content: `${opening} You said "${quote(message)}", and I can see ${earlier} earlier message${earlier === 1 ? '' : 's'} in this conversation.${recall}`,
    metadata: { agent: 'demo', historySeen: earlier },
  };
};
