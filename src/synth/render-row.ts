import type { AssistantMessage, ContentBlock, MessagesRequest, Usage } from '../shared/anthropic.js';
import type { RecordedSseEvent, ResponseLog } from '../store/db-types.js';
import type { RequestRowInput } from '../store/requests-repo.js';
import { parseUserId } from '../shared/anthropic.js';

export const SYNTH_USER_AGENT = 'trace-synth/0.1.0 (synthetic; shaped like claude-cli/2.1.197)';
export const SYNTH_UPSTREAM = 'synthetic://trace-synth';

/** One simulated exchange, before it becomes a requests.db row. */
export interface SimExchange {
  id: string;
  seq: number;
  startedAtMs: number;
  /** Time to first content event (streaming) or to the first response byte (non-streaming), as capture records it. */
  ttftMs: number | null;
  durationMs: number;
  body: MessagesRequest;
  message: AssistantMessage;
  /** Set when the stream broke (the row is then state 'error', without output tokens / stop reason). */
  brokenAtMs?: number;
  requestId: string;
}

const CHUNK = 48;
const MAX_DELTAS = 24;

function chunks(s: string): string[] {
  const n = Math.min(MAX_DELTAS, Math.max(1, Math.ceil(s.length / CHUNK)));
  const size = Math.ceil(s.length / n);
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out.length ? out : [''];
}

/** The Anthropic SSE event sequence of `m`, with offsets spread between TTFT and the end of the response. */
export function sseEvents(m: AssistantMessage, ttftMs: number, durationMs: number): RecordedSseEvent[] {
  const ev: [number, string, unknown][] = [];
  ev.push([Math.max(0, ttftMs - 15), 'message_start', {
    type: 'message_start',
    message: { ...m, content: [], stop_reason: null, stop_sequence: null, usage: { ...m.usage, output_tokens: 1 } },
  }]);
  const parts: [string, unknown][][] = m.content.map((b, index) => {
    const list: [string, unknown][] = [];
    if (b.type === 'text') {
      list.push(['content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }]);
      for (const c of chunks((b as { text: string }).text)) list.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: c } }]);
    } else if (b.type === 'thinking') {
      const t = b as { thinking: string; signature?: string };
      list.push(['content_block_start', { type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } }]);
      for (const c of chunks(t.thinking)) list.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: c } }]);
      list.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: t.signature ?? '' } }]);
    } else if (b.type === 'tool_use') {
      const u = b as { id: string; name: string; input: unknown };
      list.push(['content_block_start', { type: 'content_block_start', index, content_block: { type: 'tool_use', id: u.id, name: u.name, input: {} } }]);
      for (const c of chunks(JSON.stringify(u.input))) list.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: c } }]);
    }
    list.push(['content_block_stop', { type: 'content_block_stop', index }]);
    return list;
  });
  const flat = parts.flat();
  const span = Math.max(0, durationMs - ttftMs);
  flat.forEach(([name, data], i) => ev.push([ttftMs + (flat.length > 1 ? (span * i) / (flat.length - 1) : 0), name, data]));
  ev.push([durationMs, 'message_delta', {
    type: 'message_delta',
    delta: { stop_reason: m.stop_reason, stop_sequence: null },
    usage: { output_tokens: m.usage.output_tokens },
  }]);
  ev.push([durationMs, 'message_stop', { type: 'message_stop' }]);
  return ev.map(([t, name, data]) => [Math.round(t * 10) / 10, name, JSON.stringify(data)]);
}

function sseText(events: RecordedSseEvent[]): string {
  return events.map(([, name, data]) => `event: ${name}\ndata: ${data}\n\n`).join('');
}

/** A requests.db row with the columns capture fills in (usage simulated by the generator's cache model). */
export function renderRow(x: SimExchange): RequestRowInput {
  const bodyText = JSON.stringify(x.body);
  const streaming = x.body.stream === true;
  const broken = x.brokenAtMs !== undefined;
  let events: RecordedSseEvent[] | null = null;
  let responseText: string;
  if (streaming) {
    events = sseEvents(x.message, x.ttftMs ?? 0, x.durationMs);
    if (broken) events = events.filter(([t, name]) => t <= x.brokenAtMs! && name !== 'message_delta' && name !== 'message_stop');
    responseText = sseText(events);
  } else {
    responseText = JSON.stringify(x.message);
  }
  const completedAt = new Date(x.startedAtMs + x.durationMs).toISOString();
  const usage: Usage = x.message.usage;
  const response: ResponseLog = {
    statusCode: 200,
    headers: {
      'content-type': [streaming ? 'text/event-stream; charset=utf-8' : 'application/json'],
      'request-id': [x.requestId],
    },
    // Same shape as capture: JSON responses keep the parsed body, streams keep their data chunks.
    ...(streaming ? { streamingChunks: (events ?? []).map(([, , data]) => data) } : { body: x.message }),
    responseTime: Math.round(x.durationMs),
    isStreaming: streaming,
    completedAt,
  };
  const headers: Record<string, string[]> = {
    accept: ['application/json'],
    'anthropic-beta': ['claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27'],
    'anthropic-version': ['2023-06-01'],
    'content-type': ['application/json'],
    'user-agent': [SYNTH_USER_AGENT],
    // Capture stores secrets as sha256:<hex16>; a synthetic row has no key, so this is a fixed placeholder.
    'x-api-key': ['sha256:0000000000000000'],
    'x-app': ['cli'],
  };
  return {
    id: x.id,
    timestamp: new Date(x.startedAtMs).toISOString(),
    method: 'POST',
    endpoint: '/v1/messages',
    headers: JSON.stringify(headers),
    body: bodyText,
    user_agent: SYNTH_USER_AGENT,
    content_type: 'application/json',
    response: JSON.stringify(response),
    model: x.body.model,
    original_model: x.body.model,
    routed_model: x.body.model,
    session_id: parseUserId(x.body.metadata?.user_id).sessionId ?? null,
    is_streaming: streaming ? 1 : 0,
    status: 200,
    started_at_ms: x.startedAtMs,
    ttft_ms: x.ttftMs,
    duration_ms: x.durationMs,
    input_tokens: usage.input_tokens,
    output_tokens: broken ? null : usage.output_tokens,
    cache_read_input_tokens: usage.cache_read_input_tokens,
    cache_creation_input_tokens: usage.cache_creation_input_tokens,
    stop_reason: broken ? null : x.message.stop_reason,
    message_id: x.message.id,
    error: broken ? 'stream interrupted: connection reset by peer (synthetic)' : null,
    sse_events: events ? JSON.stringify(events) : null,
    upstream_url: SYNTH_UPSTREAM,
    seq: x.seq,
    request_bytes: Buffer.byteLength(bodyText),
    response_bytes: Buffer.byteLength(responseText),
    state: broken ? 'error' : 'complete',
  };
}

/** Tokens of assistant output as the generator counts them (text, thinking, tool name + JSON input). */
export function outputText(content: ContentBlock[]): string {
  return content
    .map((b) => {
      if (b.type === 'text') return (b as { text: string }).text;
      if (b.type === 'thinking') return (b as { thinking: string }).thinking;
      if (b.type === 'tool_use') return (b as { name: string }).name + JSON.stringify((b as { input: unknown }).input);
      return '';
    })
    .join('');
}
