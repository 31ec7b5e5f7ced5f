import { ChatkeepError } from '../errors/index.js';
import type { Agent, AgentInput, AgentMessage, StreamingAgent } from '../store/agent.js';

export interface OpenAiAgentOptions {
  /** e.g. `https://api.openai.com/v1`, or any OpenAI-compatible server (vLLM, Ollama, LiteLLM…). */
  readonly baseUrl: string;
  readonly model: string;
  /** Sent as `Authorization: Bearer …`; optional for local servers. */
  readonly apiKey?: string;
  /** A system message put before the history. */
  readonly systemPrompt?: string;
  readonly temperature?: number;
}

/**
 * An agent backed by an OpenAI-compatible Chat Completions endpoint, in both
 * shapes: `run` (one reply) and `stream` (text as it is generated). It sends
 * the history chatkeep loaded and the new message; it never sees a database
 * handle (SPEC R-SEC-2). The API key is only ever sent to `baseUrl`.
 *
 * @example
 * const agent = openAiCompatibleAgent({ baseUrl: 'https://api.openai.com/v1', model: 'gpt-4o-mini', apiKey: process.env.OPENAI_API_KEY });
 * await store.turns.run(user, convId, 'Hi', agent.run);
 */
export function openAiCompatibleAgent(options: OpenAiAgentOptions): { readonly run: Agent; readonly stream: StreamingAgent } {
  const url = `${options.baseUrl.replace(/\/+$/, '')}/chat/completions`;
  const request = (input: AgentInput, stream: boolean) =>
    fetch(url, {
      method: 'POST',
      signal: input.signal,
      headers: {
        'content-type': 'application/json',
        ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
      },
      body: JSON.stringify({
        model: options.model,
        stream,
        ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
        messages: [
          ...(options.systemPrompt ? [{ role: 'system', content: options.systemPrompt }] : []),
          ...input.history.map(chatMessage),
          { role: 'user', content: input.message },
        ],
      }),
    });

  const run: Agent = async (input) => {
    const response = await request(input, false);
    await assertOk(response);
    const body = parseJson(await response.text(), 'answered 200 with a body that is not JSON (is baseUrl the API root, e.g. …/v1?)') as {
      choices?: { message?: { content?: unknown } }[];
      model?: string;
      usage?: unknown;
      error?: unknown;
    };
    if (body.error !== undefined) throw modelError(body.error);
    const content = body.choices?.[0]?.message?.content;
    if (typeof content !== 'string') throw new ChatkeepError('CK_AGENT_FAILED', 'The model returned no message content');
    return { content, metadata: { model: body.model ?? options.model, ...(body.usage ? { usage: body.usage } : {}) } };
  };

  const stream: StreamingAgent = async function* (input) {
    const response = await request(input, true);
    await assertOk(response);
    if (response.body === null) throw new ChatkeepError('CK_AGENT_FAILED', 'The model returned an empty stream');
    let finished = false;
    for await (const data of serverSentData(response.body)) {
      if (data === '[DONE]') return;
      const chunk = parseJson(data, 'sent a stream event that is not JSON') as {
        choices?: { delta?: { content?: unknown }; finish_reason?: unknown }[];
        error?: unknown;
      };
      // A provider that fails mid-reply (overloaded, timed out upstream) says so
      // in the stream, after a 200 and some text, and may then end it cleanly:
      // what came before is not a whole reply and must not be committed as one.
      if (chunk.error !== undefined) throw modelError(chunk.error);
      const choice = chunk.choices?.[0];
      const piece = choice?.delta?.content;
      if (typeof piece === 'string' && piece !== '') yield piece;
      if (typeof choice?.finish_reason === 'string') finished = true;
    }
    // The last chunk of a reply carries its finish_reason ("stop", "length", …),
    // and most servers then send [DONE]. A stream that ends with neither was
    // cut short (a proxy or the server gave up mid-reply): the text so far is
    // not the model's reply and must not be committed as if it were.
    if (!finished) {
      throw new ChatkeepError('CK_AGENT_FAILED', 'The model endpoint ended its stream before the reply was finished (no finish_reason and no [DONE])');
    }
  };

  return { run, stream };
}

/**
 * One stored message as a Chat Completions message. A stored `tool` message
 * has no `tool_call_id` (chatkeep keeps text, not the call that produced it),
 * and the API refuses a `tool` message without one, which would fail every
 * later turn of the conversation. It goes as a `user` message marked as tool
 * output: not `system`, because tool output is untrusted text and must not
 * get the authority of instructions.
 */
function chatMessage(message: AgentMessage): { role: string; content: string } {
  if (message.role === 'tool') return { role: 'user', content: `Tool output:\n${message.content}` };
  return { role: message.role, content: message.content };
}

async function assertOk(response: Response): Promise<void> {
  if (response.ok) return;
  // The body may echo the prompt; only its first line, shortened, goes into the error.
  const text = (await response.text().catch(() => '')).split('\n')[0]?.slice(0, 200) ?? '';
  throw new ChatkeepError('CK_AGENT_FAILED', `The model endpoint answered ${response.status}: ${text}`);
}

/** `text` as JSON; else CK_AGENT_FAILED saying what the endpoint did (`problem`) and the start of what it sent. */
function parseJson(text: string, problem: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ChatkeepError('CK_AGENT_FAILED', `The model endpoint ${problem}: ${JSON.stringify(text.split('\n')[0]?.slice(0, 80) ?? '')}`);
  }
}

/** An `error` object a model endpoint sent in a 200 answer; only its message's first line, shortened, is kept. */
function modelError(error: unknown): ChatkeepError {
  const message = typeof error === 'object' && error !== null && 'message' in error ? String(error.message) : JSON.stringify(error);
  return new ChatkeepError('CK_AGENT_FAILED', `The model endpoint reported an error: ${message.split('\n')[0]?.slice(0, 200) ?? ''}`);
}

/**
 * The `data:` payloads of a Server-Sent Events stream (WHATWG HTML §9.2):
 * lines are split on LF/CRLF, an event ends at a blank line, and several
 * `data:` lines of one event are joined with LF.
 */
async function* serverSentData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = '';
  let data: string[] = [];
  for await (const bytes of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(bytes, { stream: true });
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, '');
      buffer = buffer.slice(newline + 1);
      if (line === '') {
        if (data.length > 0) yield data.join('\n');
        data = [];
      } else if (line.startsWith('data:')) {
        data.push(line.slice(5).replace(/^ /, ''));
      }
    }
  }
  if (data.length > 0) yield data.join('\n');
}
