import { ChatkeepError } from '../errors/index.js';
import type { Agent, AgentInput, AgentMessage, StreamingAgent } from '../store/agent.js';
import { serverSentData } from './server-sent-data.js';

/**
 * The most of a JSON answer read. The longest reply a store takes
 * (`maxContentLength` at most 10,000,000 characters) fits well within it;
 * an endpoint sending more is broken, and reading on would only fill memory
 * until the agent's timeout.
 */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;
/** The most of an error answer read: only its first line, shortened, is kept. */
const MAX_ERROR_BYTES = 64 * 1024;

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
  const url = `${checkedBaseUrl(options.baseUrl).replace(/\/+$/, '')}/chat/completions`;
  const apiKey = checkedApiKey(options.apiKey);
  const request = (input: AgentInput, stream: boolean) =>
    send(url, input.signal, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(apiKey !== undefined ? { authorization: `Bearer ${apiKey}` } : {}),
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
    const answer = await readText(response, MAX_ANSWER_BYTES);
    if (answer.cut) throw new ChatkeepError('CK_AGENT_FAILED', `The model endpoint answered with more than ${MAX_ANSWER_BYTES} bytes`);
    const body = parseJson(answer.text, 'answered 200 with a body that is not JSON (is baseUrl the API root, e.g. …/v1?)') as {
      choices?: { message?: { content?: unknown }; finish_reason?: unknown }[];
      model?: string;
      usage?: unknown;
      error?: unknown;
    };
    if (body.error !== undefined && body.error !== null) throw modelError(body.error);
    const choice = body.choices?.[0];
    assertNotFiltered(choice?.finish_reason);
    const content = choice?.message?.content;
    if (typeof content !== 'string') throw new ChatkeepError('CK_AGENT_FAILED', 'The model returned no message content');
    return {
      content,
      metadata: {
        model: body.model ?? options.model,
        ...(body.usage ? { usage: body.usage } : {}),
        // A reply that did not end as the model chose ("length": cut at the
        // token limit) is kept, but marked so the application can tell.
        ...(typeof choice?.finish_reason === 'string' && choice.finish_reason !== 'stop' ? { finishReason: choice.finish_reason } : {}),
      },
    };
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
      // (`"error": null`, as some servers put in every chunk, is no error.)
      if (chunk.error !== undefined && chunk.error !== null) throw modelError(chunk.error);
      const choice = chunk.choices?.[0];
      assertNotFiltered(choice?.finish_reason);
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
 * `fetch`, with a failure to reach the endpoint saying why: fetch's own
 * error is only "fetch failed", its reason (refused, unknown host, bad
 * certificate) hidden in its `cause`. An abort is passed on as it is.
 */
async function send(url: string, signal: AbortSignal, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal });
  } catch (error) {
    if (signal.aborted) throw error;
    const cause: unknown = error instanceof Error ? error.cause : undefined;
    const code = typeof cause === 'object' && cause !== null && 'code' in cause && typeof cause.code === 'string' ? cause.code : undefined;
    const reason = code ?? (cause instanceof Error ? cause.message : error instanceof Error ? error.message : String(error));
    throw new ChatkeepError('CK_AGENT_FAILED', `The model endpoint could not be reached (${firstLine(reason)})`, {}, { cause: error });
  }
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
  // The body may echo the prompt, and may be of any size: only its start is
  // read, and only the first line of its error message goes into the error.
  // OpenAI pretty-prints its error bodies, whose first line is a bare `{`.
  const { text } = await readText(response, MAX_ERROR_BYTES).catch(() => ({ text: '' }));
  throw new ChatkeepError('CK_AGENT_FAILED', `The model endpoint answered ${response.status}: ${firstLine(errorMessageOf(text) ?? text)}`);
}

/** The `error.message` (or string `error`) of a JSON error body, if it is one. */
function errorMessageOf(text: string): string | undefined {
  try {
    const error: unknown = (JSON.parse(text) as { error?: unknown } | null)?.error;
    if (typeof error === 'string') return error;
    if (typeof error === 'object' && error !== null && 'message' in error && typeof error.message === 'string') return error.message;
  } catch {
    // Not JSON (an HTML page from a proxy, plain text): its first line is shown.
  }
  return undefined;
}

function firstLine(text: string, max = 200): string {
  return text.split(/\r?\n/)[0]?.slice(0, max) ?? '';
}

/**
 * The body as text, reading at most `maxBytes` of it (`cut` when there was
 * more); the rest is not downloaded: the connection is released.
 */
async function readText(response: Response, maxBytes: number): Promise<{ text: string; cut: boolean }> {
  if (response.body === null) return { text: '', cut: false };
  const decoder = new TextDecoder();
  let text = '';
  let read = 0;
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { text: text + decoder.decode(), cut: false };
      read += value.byteLength;
      if (read > maxBytes) return { text: text + decoder.decode(value.subarray(0, value.byteLength - (read - maxBytes)), { stream: true }), cut: true };
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/**
 * A `content_filter` finish: the provider's filter stopped the reply (or
 * withheld it); the text so far is not the model's reply and must not be
 * committed as one.
 */
function assertNotFiltered(finishReason: unknown): void {
  if (finishReason === 'content_filter') {
    throw new ChatkeepError('CK_AGENT_FAILED', "The model endpoint's content filter stopped the reply (finish_reason content_filter)");
  }
}

/**
 * `baseUrl`, checked when the agent is made: a URL fetch refuses would
 * otherwise fail every turn with fetch's own message, which quotes the URL,
 * credentials included.
 */
function checkedBaseUrl(baseUrl: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(baseUrl);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw new ChatkeepError('CK_CONFIG', 'baseUrl: expected an http(s) URL such as https://api.openai.com/v1', { field: 'baseUrl' });
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new ChatkeepError('CK_CONFIG', 'baseUrl: must not hold credentials (user:password@); pass the key as apiKey', { field: 'baseUrl' });
  }
  return baseUrl;
}

/**
 * `apiKey` without surrounding whitespace (a key read from a file ends in a
 * line break), checked when the agent is made. A key with a line break or a
 * character outside printable ASCII inside cannot be a header value: fetch
 * would refuse every request with a message quoting the whole
 * `Authorization` header, key included, which a turn's error passes on to
 * the HTTP client and the logs. This error names the problem, not the key.
 */
function checkedApiKey(apiKey: string | undefined): string | undefined {
  if (apiKey === undefined || apiKey === '') return undefined;
  const key = apiKey.trim();
  if (!/^[\x21-\x7e]+$/.test(key)) {
    throw new ChatkeepError('CK_CONFIG', 'apiKey: expected printable ASCII with no spaces or line breaks inside (the key is not shown)', { field: 'apiKey' });
  }
  return key;
}

/** `text` as JSON; else CK_AGENT_FAILED saying what the endpoint did (`problem`) and the start of what it sent. */
function parseJson(text: string, problem: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ChatkeepError('CK_AGENT_FAILED', `The model endpoint ${problem}: ${JSON.stringify(firstLine(text, 80))}`);
  }
}

/** An `error` object a model endpoint sent in a 200 answer; only its message's first line, shortened, is kept. */
function modelError(error: unknown): ChatkeepError {
  const message = typeof error === 'object' && error !== null && 'message' in error ? String(error.message) : JSON.stringify(error);
  return new ChatkeepError('CK_AGENT_FAILED', `The model endpoint reported an error: ${firstLine(message)}`);
}
