/**
 * A scriptable fake Anthropic Messages API for tests — usable as an in-process handler
 * (`fake.handler(request)`) or on a real port (`await fake.listen()` → `fake.url`).
 *
 * Endpoints
 * - `POST /v1/messages` → the reply returned by `script(body, index, seen)` (index counts /v1/messages requests
 *   from 0). Streaming follows `body.stream` (override with `reply.stream`), framed exactly like the API:
 *   `event: X\ndata: {...}\n\n` — message_start (usage: input_tokens, cache_creation_input_tokens,
 *   cache_read_input_tokens, output_tokens: 1), content_block_start, ping, content_block_delta (text_delta pieces /
 *   input_json_delta in several partial_json pieces), content_block_stop, message_delta (stop_reason + usage
 *   {output_tokens}), message_stop. Non-streaming → the complete message JSON.
 * - `POST /v1/messages/count_tokens` → `{input_tokens}` (body length / 4, rounded up).
 * - `GET /v1/models` → a one-page model list. Anything else → 404 with the API's error shape.
 *
 * Default script: a text reply; for requests asking for JSON output (`output_config.format.type === 'json_schema'`,
 * e.g. Claude Code's session-title request) the text is `{"title":"Fake title"}`.
 *
 * Every request is recorded in `requests` (method, path, query, headers, raw body bytes, body text, parsed body)
 * and flagged `aborted` when the client went away before the response finished (`aborts` lists those).
 *
 * Reply kinds (see FakeReply): text, tool_use (optionally preceded by text), error (status + API error body),
 * raw (exact chunks, for byte-exactness tests). Common options: delayMs (before headers), eventDelayMs (between
 * SSE events / raw chunks), headers, usage, model, stream, resetAfterEvents (break the connection after N events
 * / chunks: on a socket the connection is destroyed; in-process the body stream errors).
 */
import type { Clock } from '../../src/shared/clock.js';
import { systemClock } from '../../src/shared/clock.js';
import { formatSse } from '../../src/shared/sse.js';
import type { AssistantMessage, ContentBlock, Usage } from '../../src/shared/anthropic.js';
import { listen, type Listening } from '../../src/capture/listen.js';

export interface SeenRequest {
  /** Order of arrival over all endpoints. */
  seq: number;
  method: string;
  path: string;
  /** Query string including '?', or ''. */
  search: string;
  /** Lower-cased header names; repeated headers joined with ', '. */
  headers: Record<string, string>;
  rawBody: Uint8Array;
  bodyText: string;
  /** Parsed JSON body, undefined when absent or not JSON. */
  body: any;
  receivedAtMs: number;
  /** True once the response body was fully sent (or there was none). */
  completed: boolean;
  /** True when the client disconnected / cancelled before the response finished. */
  aborted: boolean;
}

export interface ReplyOptions {
  /** Wait before sending the response head (ms, via the injected clock). */
  delayMs?: number;
  /** Wait between SSE events (or raw chunks). */
  eventDelayMs?: number;
  /** Extra response headers (override the defaults). */
  headers?: Record<string, string>;
  /** Usage to report; missing fields are estimated (input = body chars / 4, output = text chars / 4). */
  usage?: Partial<Usage>;
  model?: string;
  /** Force streaming on/off (default: the request's `stream`). */
  stream?: boolean;
  /** Break the connection after this many SSE events (streaming) or raw chunks. 0 = right after the head. */
  resetAfterEvents?: number;
  stopReason?: string;
  /** Characters per text_delta / partial_json piece (default 8). */
  pieceSize?: number;
}

export type FakeReply =
  | ({ type: 'text'; text: string } & ReplyOptions)
  | ({ type: 'tool_use'; name: string; input: unknown; id?: string; text?: string } & ReplyOptions)
  | ({ type: 'error'; status: number; errorType?: string; message?: string } & ReplyOptions)
  | ({ type: 'raw'; status?: number; chunks: (string | Uint8Array)[] } & ReplyOptions);

export type FakeScript = (body: any, index: number, seen: SeenRequest) => FakeReply | Promise<FakeReply>;

export interface FakeAnthropicOptions {
  script?: FakeScript;
  clock?: Clock;
}

export interface FakeAnthropic {
  handler(req: Request): Promise<Response>;
  /** Every request seen, in arrival order. */
  readonly requests: SeenRequest[];
  /** Only `POST /v1/messages`. */
  messages(): SeenRequest[];
  /** Requests whose client went away before the response finished. */
  aborts(): SeenRequest[];
  /** Replace the script. */
  setScript(script: FakeScript): void;
  /** Resolves once `pred()` is true (polls every 5 ms; rejects after timeoutMs). */
  waitFor(pred: () => boolean, timeoutMs?: number): Promise<void>;
  /** Starts a real server (port 0 = free port). */
  listen(port?: number, host?: string): Promise<Listening>;
  /** `http://HOST:PORT` once listening. */
  readonly url: string;
  close(): Promise<void>;
}

const enc = new TextEncoder();

export function textReply(text: string, opts: ReplyOptions = {}): FakeReply {
  return { type: 'text', text, ...opts };
}
export function toolUseReply(name: string, input: unknown, opts: ReplyOptions & { id?: string; text?: string } = {}): FakeReply {
  return { type: 'tool_use', name, input, ...opts };
}
export function errorReply(status: number, errorType = errorTypeFor(status), message = `fake ${errorType}`, opts: ReplyOptions = {}): FakeReply {
  return { type: 'error', status, errorType, message, ...opts };
}
export function rawReply(chunks: (string | Uint8Array)[], opts: ReplyOptions & { status?: number } = {}): FakeReply {
  return { type: 'raw', chunks, ...opts };
}

export function errorTypeFor(status: number): string {
  switch (status) {
    case 400: return 'invalid_request_error';
    case 401: return 'authentication_error';
    case 403: return 'permission_error';
    case 404: return 'not_found_error';
    case 413: return 'request_too_large';
    case 429: return 'rate_limit_error';
    case 529: return 'overloaded_error';
    default: return 'api_error';
  }
}

/** Default reply: text, or a JSON title for json_schema output requests. */
export const defaultScript: FakeScript = (body) => {
  const wantsJson = body?.output_config?.format?.type === 'json_schema';
  return textReply(wantsJson ? '{"title":"Fake title"}' : 'Hello from fake-anthropic.');
};

/** Text of the newest tool_result block in a request body (string or text blocks), or undefined. */
export function lastToolResultText(body: any): string | undefined {
  const msgs: any[] = Array.isArray(body?.messages) ? body.messages : [];
  for (let i = msgs.length - 1; i >= 0; i--) {
    const c = msgs[i]?.content;
    if (!Array.isArray(c)) continue;
    for (let j = c.length - 1; j >= 0; j--) {
      const b = c[j];
      if (b?.type !== 'tool_result') continue;
      if (typeof b.content === 'string') return b.content;
      if (Array.isArray(b.content)) return b.content.filter((x: any) => x?.type === 'text').map((x: any) => x.text).join('');
      return '';
    }
  }
  return undefined;
}

function pieces(s: string, n: number): string[] {
  if (s === '') return [''];
  const out: string[] = [];
  for (let i = 0; i < s.length; i += n) out.push(s.slice(i, i + n));
  return out;
}

/** The complete message a reply stands for (what a non-streaming response returns). */
export function replyMessage(reply: Exclude<FakeReply, { type: 'error' } | { type: 'raw' }>, body: any, index: number): AssistantMessage {
  const content: ContentBlock[] = [];
  let outChars = 0;
  if (reply.type === 'text') {
    content.push({ type: 'text', text: reply.text });
    outChars += reply.text.length;
  } else {
    if (reply.text) {
      content.push({ type: 'text', text: reply.text });
      outChars += reply.text.length;
    }
    content.push({ type: 'tool_use', id: reply.id ?? `toolu_fake_${index}`, name: reply.name, input: reply.input });
    outChars += JSON.stringify(reply.input).length;
  }
  const inChars = body === undefined ? 0 : JSON.stringify(body).length;
  return {
    id: `msg_fake_${index}`,
    type: 'message',
    role: 'assistant',
    model: reply.model ?? (typeof body?.model === 'string' ? body.model : 'claude-fake'),
    content,
    stop_reason: reply.stopReason ?? (reply.type === 'tool_use' ? 'tool_use' : 'end_turn'),
    stop_sequence: null,
    usage: {
      input_tokens: reply.usage?.input_tokens ?? Math.ceil(inChars / 4),
      cache_creation_input_tokens: reply.usage?.cache_creation_input_tokens ?? 0,
      cache_read_input_tokens: reply.usage?.cache_read_input_tokens ?? 0,
      output_tokens: reply.usage?.output_tokens ?? Math.max(1, Math.ceil(outChars / 4)),
    },
  };
}

/** The SSE events (name, data object) the API would stream for a message. */
export function messageEvents(msg: AssistantMessage, pieceSize = 8): [string, unknown][] {
  const ev: [string, unknown][] = [];
  ev.push([
    'message_start',
    {
      type: 'message_start',
      message: {
        ...msg,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: {
          input_tokens: msg.usage.input_tokens,
          cache_creation_input_tokens: msg.usage.cache_creation_input_tokens,
          cache_read_input_tokens: msg.usage.cache_read_input_tokens,
          output_tokens: 1,
        },
      },
    },
  ]);
  msg.content.forEach((b, index) => {
    if (b.type === 'text') {
      ev.push(['content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }]);
      if (index === 0) ev.push(['ping', { type: 'ping' }]);
      for (const p of pieces((b as { text: string }).text, pieceSize)) {
        ev.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: p } }]);
      }
    } else if (b.type === 'tool_use') {
      const t = b as { id: string; name: string; input: unknown };
      ev.push(['content_block_start', { type: 'content_block_start', index, content_block: { type: 'tool_use', id: t.id, name: t.name, input: {} } }]);
      if (index === 0) ev.push(['ping', { type: 'ping' }]);
      ev.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: '' } }]);
      for (const p of pieces(JSON.stringify(t.input), pieceSize)) {
        ev.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: p } }]);
      }
    }
    ev.push(['content_block_stop', { type: 'content_block_stop', index }]);
  });
  ev.push([
    'message_delta',
    { type: 'message_delta', delta: { stop_reason: msg.stop_reason, stop_sequence: null }, usage: { output_tokens: msg.usage.output_tokens } },
  ]);
  ev.push(['message_stop', { type: 'message_stop' }]);
  return ev;
}

function jsonResponse(status: number, value: unknown, extra: Record<string, string>): Response {
  return new Response(JSON.stringify(value), { status, headers: { 'content-type': 'application/json', ...extra } });
}

export function createFakeAnthropic(options: FakeAnthropicOptions = {}): FakeAnthropic {
  const clock = options.clock ?? systemClock;
  let script = options.script ?? defaultScript;
  const requests: SeenRequest[] = [];
  let messagesIndex = 0;
  let listening: Listening | undefined;

  async function handler(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const raw = new Uint8Array(await req.arrayBuffer());
    const bodyText = new TextDecoder().decode(raw);
    let body: any;
    try {
      body = bodyText === '' ? undefined : JSON.parse(bodyText);
    } catch {
      body = undefined;
    }
    const headers: Record<string, string> = {};
    req.headers.forEach((v, k) => (headers[k] = v));
    const seen: SeenRequest = {
      seq: requests.length,
      method: req.method,
      path: url.pathname,
      search: url.search,
      headers,
      rawBody: raw,
      bodyText,
      body,
      receivedAtMs: clock.now(),
      completed: false,
      aborted: false,
    };
    requests.push(seen);
    const signal = req.signal;
    const markAbort = () => {
      if (!seen.completed) seen.aborted = true;
    };
    signal.addEventListener('abort', markAbort, { once: true });
    const reqId = `req_fake_${seen.seq}`;
    const base = { 'request-id': reqId, 'anthropic-organization-id': 'fake-org' };

    if (req.method === 'GET' && url.pathname === '/v1/models') {
      seen.completed = true;
      return jsonResponse(200, {
        data: [{ type: 'model', id: 'claude-fake', display_name: 'Claude Fake', created_at: '2025-01-01T00:00:00Z' }],
        has_more: false,
        first_id: 'claude-fake',
        last_id: 'claude-fake',
      }, base);
    }
    if (req.method === 'POST' && url.pathname === '/v1/messages/count_tokens') {
      seen.completed = true;
      return jsonResponse(200, { input_tokens: Math.ceil(bodyText.length / 4) }, base);
    }
    if (!(req.method === 'POST' && url.pathname === '/v1/messages')) {
      seen.completed = true;
      return jsonResponse(404, { type: 'error', error: { type: 'not_found_error', message: `Not found: ${req.method} ${url.pathname}` } }, base);
    }

    const index = messagesIndex++;
    const reply = await script(body, index, seen);
    if (reply.delayMs) {
      try {
        await clock.sleep(reply.delayMs, signal);
      } catch {
        markAbort();
        return new Response(null, { status: 499 });
      }
    }
    const headersOut: Record<string, string> = {
      ...base,
      'anthropic-ratelimit-requests-limit': '4000',
      'anthropic-ratelimit-requests-remaining': '3999',
      'anthropic-ratelimit-input-tokens-limit': '2000000',
      ...(reply.headers ?? {}),
    };
    if (reply.type === 'error') {
      seen.completed = true;
      return jsonResponse(reply.status, { type: 'error', error: { type: reply.errorType ?? errorTypeFor(reply.status), message: reply.message ?? 'fake error' } }, {
        ...headersOut,
      });
    }
    let chunks: Uint8Array[];
    let status = 200;
    let contentType: string;
    if (reply.type === 'raw') {
      chunks = reply.chunks.map((c) => (typeof c === 'string' ? enc.encode(c) : c));
      status = reply.status ?? 200;
      contentType = 'text/event-stream; charset=utf-8';
    } else {
      const msg = replyMessage(reply, body, index);
      const streaming = reply.stream ?? body?.stream === true;
      if (streaming) {
        chunks = messageEvents(msg, reply.pieceSize).map(([e, d]) => enc.encode(formatSse(e, JSON.stringify(d))));
        contentType = 'text/event-stream; charset=utf-8';
        headersOut['cache-control'] = 'no-cache';
      } else {
        chunks = [enc.encode(JSON.stringify(msg))];
        contentType = 'application/json';
      }
    }
    const resetAt = reply.resetAfterEvents;
    const gap = reply.eventDelayMs ?? 0;
    let i = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (resetAt !== undefined && i >= resetAt) {
          controller.error(new Error('fake-anthropic: connection reset (scripted)'));
          return;
        }
        if (i >= chunks.length) {
          seen.completed = true;
          controller.close();
          return;
        }
        if (gap > 0 && i > 0) {
          try {
            await clock.sleep(gap, signal);
          } catch {
            markAbort();
            controller.error(new Error('aborted'));
            return;
          }
        }
        controller.enqueue(chunks[i++]!);
      },
      cancel() {
        markAbort();
      },
    }, { highWaterMark: 0 });
    return new Response(stream, { status, headers: { 'content-type': contentType, ...headersOut } });
  }

  const fake: FakeAnthropic = {
    handler,
    requests,
    messages: () => requests.filter((r) => r.method === 'POST' && r.path === '/v1/messages'),
    aborts: () => requests.filter((r) => r.aborted),
    setScript(s) {
      script = s;
    },
    async waitFor(pred, timeoutMs = 10_000) {
      const t0 = Date.now();
      while (!pred()) {
        if (Date.now() - t0 > timeoutMs) throw new Error('fake-anthropic: waitFor timed out');
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    async listen(port = 0, host = '127.0.0.1') {
      listening = await listen(handler, { port, host });
      return listening;
    },
    get url() {
      if (!listening) throw new Error('fake-anthropic: not listening');
      return listening.url;
    },
    async close() {
      await listening?.close();
    },
  };
  return fake;
}
