import type { RequestsTable, ResponseLog } from '../db-types.js';
import type { TraceRequest } from '../../shared/trace-record.js';
import type { MessagesRequest } from '../../shared/anthropic.js';
import { toUsage } from '../../shared/message-assembler.js';
import {
  assembleSseChunks,
  endpointPath,
  parseRequestBody,
  parseResponseBody,
  parseTime,
  sessionIdOf,
  type ParsedResponse,
} from './response-parse.js';
import { assertRecordShape } from './record-shape.js';

/**
 * Converts one `requests` row — ours (trace columns filled) or claude-code-proxy's (trace columns absent) —
 * into a TraceRequest. Our columns win; otherwise everything is recovered from the `response` JSON
 * (body.usage for non-streaming, streamingChunks reassembled for streaming). Throws on a malformed row (no id,
 * a non-empty body that is not a JSON object, or a body/response of the wrong shape — see record-shape.ts); the
 * importers count those as skipped.
 * `parseBody` defaults to a plain JSON.parse; the SQLite importers pass a BodyDeltaParser (same result, only
 * the new tail of an append-only conversation is parsed).
 */
/** The error of a row left `pending` by capture (counted in analyze's errors, excluded from timing). */
export const INCOMPLETE_ERROR = 'incomplete: the recording stopped before the response finished (row left pending)';

export function rowToTraceRequest(
  row: Partial<RequestsTable>,
  source: string,
  parseBody: (text: string | null | undefined, sessionKey: string | null) => MessagesRequest | null = parseRequestBody,
): TraceRequest {
  if (typeof row.id !== 'string' && typeof row.id !== 'number') throw new Error('row has no id');
  const body = parseBody(row.body, typeof row.session_id === 'string' ? row.session_id : null);
  // The SQLite importers may hand the body over as its UTF-8 bytes (a Buffer) for the delta parser.
  if (body === null) {
    const raw = row.body as unknown;
    // A Buffer is a text body's bytes only when a byte-aware parser was passed (a BLOB body stays "no body").
    const text = typeof raw === 'string' ? raw : Buffer.isBuffer(raw) && parseBody !== parseRequestBody ? raw.toString('utf8') : null;
    if (text !== null && text.trim() !== '') throw new Error('request body is not a JSON object');
  }
  let log: Partial<ResponseLog> | null = null;
  if (typeof row.response === 'string' && row.response !== '') {
    try {
      const v = JSON.parse(row.response) as unknown;
      if (v && typeof v === 'object') log = v as Partial<ResponseLog>;
    } catch {
      log = null;
    }
  }

  let parsed: ParsedResponse = { message: null, usage: null, error: null };
  if (typeof row.sse_events === 'string' && row.sse_events !== '') {
    try {
      const evs = JSON.parse(row.sse_events) as unknown[];
      if (Array.isArray(evs)) parsed = assembleSseChunks(evs.map((e) => (Array.isArray(e) ? String(e[2] ?? '') : '')));
    } catch {
      /* fall through to the response log */
    }
  }
  if (!parsed.message && log) {
    if (Array.isArray(log.streamingChunks) && log.streamingChunks.length > 0) parsed = assembleSseChunks(log.streamingChunks);
    if (!parsed.message && log.body !== undefined) {
      const p = parseResponseBody(log.body);
      if (p.message || p.error) parsed = p;
    }
    if (!parsed.message && !parsed.error && typeof log.bodyText === 'string') {
      const p = parseResponseBody(log.bodyText);
      if (p.message || p.error) parsed = p;
    }
  }

  const columnsUsage =
    typeof row.input_tokens === 'number' || typeof row.output_tokens === 'number'
      ? toUsage({
          input_tokens: row.input_tokens,
          output_tokens: row.output_tokens,
          cache_read_input_tokens: row.cache_read_input_tokens,
          cache_creation_input_tokens: row.cache_creation_input_tokens,
        })!
      : null;

  const startedAtMs = row.started_at_ms ?? parseTime(row.timestamp);
  // A row capture left `pending` (the proxy stopped before the response finished) is incomplete: an error, with
  // no timing (its ttft/duration would be partial measurements mixed into the percentiles).
  const incomplete = row.state === 'pending';
  const durationMs = incomplete ? null : (row.duration_ms ?? (log && typeof log.responseTime === 'number' ? log.responseTime : null));
  let endedAtMs: number | null = null;
  if (startedAtMs !== null && durationMs !== null) endedAtMs = startedAtMs + durationMs;
  else if (log?.completedAt) endedAtMs = parseTime(log.completedAt);

  const status = row.status ?? (log && typeof log.statusCode === 'number' ? log.statusCode : null);
  const isStreaming =
    row.is_streaming !== null && row.is_streaming !== undefined
      ? row.is_streaming === 1
      : typeof log?.isStreaming === 'boolean'
        ? log.isStreaming
        : typeof body?.stream === 'boolean'
          ? body.stream
          : null;
  let error = row.error ?? parsed.error ?? (incomplete ? INCOMPLETE_ERROR : null);
  if (!error && status !== null && status >= 400) error = `HTTP ${status}`;

  const record: TraceRequest = {
    id: String(row.id),
    source,
    startedAtMs,
    endedAtMs,
    ttftMs: incomplete ? null : (row.ttft_ms ?? null),
    durationMs,
    method: row.method ?? 'POST',
    endpoint: endpointPath(row.endpoint),
    model: row.model ?? body?.model ?? parsed.message?.model ?? null,
    isStreaming,
    status,
    userAgent: row.user_agent ?? null,
    sessionId: row.session_id ?? sessionIdOf(body),
    body,
    bodyComplete: body !== null,
    response: parsed.message,
    // The columns carry the totals; the 5m/1h cache-write split (priced differently) lives in the stream's usage.
    usage: columnsUsage && parsed.usage?.cache_creation && parsed.usage.cache_creation_input_tokens === columnsUsage.cache_creation_input_tokens
      ? { ...columnsUsage, cache_creation: parsed.usage.cache_creation }
      : (columnsUsage ?? parsed.usage),
    stopReason: row.stop_reason ?? parsed.message?.stop_reason ?? null,
    messageId: row.message_id ?? (parsed.message?.id || null),
    error,
  };
  assertRecordShape(record);
  return record;
}
