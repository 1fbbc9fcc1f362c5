/**
 * The response half of a capture row: status, redacted headers, usage, TTFT / duration and what was streamed.
 *
 * An SSE response is stored once, in `sse_events` (every event with its arrival offset and its raw `data:`
 * payload). The claude-code-proxy `response` JSON then carries no `body` (the reassembled message) and no
 * `streamingChunks` (the same payloads again): readers rebuild both from `sse_events`
 * (src/store/sources/requests-row.ts), so a 10 MB stream costs ~10 MB, not three copies.
 */
import type { RequestRowInput } from '../store/requests-repo.js';
import type { ResponseLog } from '../store/db-types.js';
import { recordHeaders, isSecretResponseHeader } from './header-redaction.js';
import type { ObservedResponse } from './response-observer.js';

export type FinalState = 'complete' | 'error' | 'aborted';

/** Response headers: already recorded, or the upstream's raw pairs (redacted here, off the relay path). */
export type ResponseHeaders = Record<string, string[]> | [string, string][] | null;

export interface Completion {
  state: FinalState;
  status: number | null;
  headers: ResponseHeaders;
  obs: ObservedResponse | undefined;
  /** Why the row did not complete normally (joined with API / decode errors). */
  failure?: string;
  /** Monotonic ms from the request's arrival to its end. */
  durationMs: number;
  /** Wall-clock ms since the epoch at the end. */
  endedAtMs: number;
}

function responseLog(c: Completion, isStreaming: number | null | undefined): ResponseLog | null {
  if (c.status === null) return null;
  const obs = c.obs;
  const sse = obs?.isSse === true;
  return {
    statusCode: c.status,
    headers: Array.isArray(c.headers) ? recordHeaders(c.headers, isSecretResponseHeader) : (c.headers ?? {}),
    ...(!sse && obs?.json !== undefined ? { body: obs.json } : {}),
    ...(!sse && obs?.bodyText !== undefined ? { bodyText: obs.bodyText } : {}),
    responseTime: Math.round(c.durationMs),
    isStreaming: Boolean(obs?.isSse ?? isStreaming),
    completedAt: new Date(c.endedAtMs).toISOString(),
  };
}

/** The completion row for `base` (the pending row). */
export function completedRow(base: RequestRowInput, c: Completion): RequestRowInput {
  const obs = c.obs;
  const log = responseLog(c, base.is_streaming);
  const errors = [c.failure, obs?.apiError, obs?.decodeError].filter((x): x is string => Boolean(x));
  const u = obs?.usage;
  return {
    ...base,
    status: c.status,
    ttft_ms: obs?.ttftMs ?? null,
    duration_ms: c.durationMs,
    input_tokens: u?.input_tokens ?? null,
    output_tokens: u?.output_tokens ?? null,
    cache_read_input_tokens: u?.cache_read_input_tokens ?? null,
    cache_creation_input_tokens: u?.cache_creation_input_tokens ?? null,
    stop_reason: obs?.message?.stop_reason ?? null,
    message_id: obs?.message?.id || null,
    error: errors.length > 0 ? errors.join('; ') : null,
    response: log ? JSON.stringify(log) : null,
    sse_events: obs?.isSse ? JSON.stringify(obs.sseEvents) : null,
    response_bytes: obs?.bytes ?? 0,
    state: c.state,
  };
}
