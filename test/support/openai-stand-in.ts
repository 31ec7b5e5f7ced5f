import { createServer, type IncomingMessage, type Server } from 'node:http';

/** One request the stand-in received: what an OpenAI-compatible endpoint would see. */
export interface ReceivedCompletion {
  readonly authorization: string | undefined;
  readonly body: { model: string; stream: boolean; messages: { role: string; content: string; tool_call_id?: string }[]; temperature?: number };
}

/**
 * A real HTTP server on 127.0.0.1 speaking the Chat Completions protocol
 * (POST /v1/chat/completions, JSON or `stream: true` Server-Sent Events), as
 * a stand-in for a model provider this machine cannot reach. It answers
 * "echo: <last user message>", streamed word by word; a message containing
 * "http-500" makes it fail, "stall" makes it stream one word and then hang,
 * "mid-error" makes it stream one word and then an error object, and
 * "json-error" makes a non-streamed answer a 200 with an error object.
 */
export async function startOpenAiStandIn(): Promise<{ url: string; received: ReceivedCompletion[]; close: () => Promise<void> }> {
  const received: ReceivedCompletion[] = [];
  const server: Server = createServer((req, res) => {
    void readJson(req).then((body: ReceivedCompletion['body']) => {
      received.push({ authorization: req.headers.authorization, body });
      if (req.url !== '/v1/chat/completions' || req.method !== 'POST') {
        res.writeHead(404).end('not found');
        return;
      }
      // As OpenAI refuses it: a `tool` message answers an assistant's tool call and must name it.
      if (body.messages.some((m) => m.role === 'tool' && m.tool_call_id === undefined)) {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: "Missing parameter 'tool_call_id': messages with role 'tool' must have a 'tool_call_id'." } }));
        return;
      }
      const last = body.messages.at(-1)?.content ?? '';
      if (last.includes('html-page') && !body.stream) {
        // A baseUrl that reaches a web page, not the API: 200 with HTML.
        res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html>\n<p>Welcome</p>');
        return;
      }
      if (last.includes('json-error') && !body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'Rate limit reached for requests' } }));
        return;
      }
      if (last.includes('http-500')) {
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"model overloaded"}}\nsecond line');
        return;
      }
      const reply = `echo: ${last}`;
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ model: body.model, choices: [{ message: { role: 'assistant', content: reply } }], usage: { total_tokens: 7 } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const words = reply.match(/\S+\s*/g) ?? [];
      if (last.includes('mid-error')) {
        // As OpenAI and compatible servers report a failure after the stream began: an error object, then the end.
        res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: words[0] } }] })}\n\n`);
        res.end(`data: ${JSON.stringify({ error: { message: 'The server had an error while processing your request.\nSorry about that!', type: 'server_error' } })}\n\n`);
        return;
      }
      if (last.includes('cut-short')) {
        // As a proxy or server that gives up mid-reply and ends the response cleanly: no finish_reason, no [DONE].
        res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: words[0] }, finish_reason: null }] })}\n\n`);
        res.end(`data: ${JSON.stringify({ choices: [{ delta: { content: words[1] }, finish_reason: null }] })}\n\n`);
        return;
      }
      if (last.includes('not-json')) {
        res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: words[0] } }] })}\n\n`);
        res.end('data: <html>upstream error</html>\n\n');
        return;
      }
      if (last.includes('stall')) {
        res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: words[0] } }] })}\n\n`);
        return; // never ends: the client must give up
      }
      // Split one event across two writes, and use CRLF once, as real servers may.
      // The last chunk carries the finish_reason, as OpenAI's does.
      for (const [i, word] of words.entries()) {
        const finish = i === words.length - 1 ? 'stop' : null;
        const event = `data: ${JSON.stringify({ choices: [{ delta: { content: word }, finish_reason: finish }] })}${i === 0 ? '\r\n\r\n' : '\n\n'}`;
        res.write(event.slice(0, 7));
        res.write(event.slice(7));
      }
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readJson(req: IncomingMessage): Promise<any> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return text === '' ? {} : JSON.parse(text);
}
