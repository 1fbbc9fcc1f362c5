/**
 * The request half of a capture row, built off the forwarding path (after the request went upstream): the body
 * decoded from its Content-Encoding (gzip / deflate / br; the bytes sent upstream are never touched), stored as
 * text, parsed for model / session / stream, and the URL and headers with their secrets hashed.
 */
import { isUtf8 } from 'node:buffer';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { errorMessage } from '../shared/errors.js';
import { parseUserId } from '../shared/anthropic.js';
import type { RequestRowInput } from '../store/requests-repo.js';
import { recordHeaders, redactUrl } from './header-redaction.js';

/** A decoded request body larger than this is stored as sent (encoded): a bound against decompression bombs. */
export const MAX_DECODED_REQUEST_BYTES = 256 * 1024 * 1024;

/** What the handler knows about a request when it builds its pending row. */
export interface RequestFacts {
  id: string;
  method: string;
  /** Path only (no query): the `endpoint` column. */
  path: string;
  headers: Headers;
  /** The body bytes exactly as received and forwarded. */
  raw: Uint8Array;
  /** Wall-clock ms since the epoch. */
  startedAtMs: number;
  upstreamUrl: string;
  seq: number;
}

/** Body bytes as text: UTF-8 when valid, else latin1 (one char per byte, so `Buffer.from(body, 'latin1')` restores them). */
export function bodyText(raw: Uint8Array): string {
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  return isUtf8(buf) ? buf.toString('utf8') : buf.toString('latin1');
}

/**
 * The body with its Content-Encoding removed. `error` is set (and the encoded bytes kept) when the encoding is
 * unknown, the bytes are not valid for it, or the decoded size passes MAX_DECODED_REQUEST_BYTES.
 */
export function decodeRequestBody(raw: Uint8Array, contentEncoding: string | null): { bytes: Uint8Array; error?: string } {
  const codings = (contentEncoding ?? '').split(',').map((c) => c.trim().toLowerCase()).filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0 || raw.byteLength === 0) return { bytes: raw };
  let bytes: Buffer = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const opts = { maxOutputLength: MAX_DECODED_REQUEST_BYTES };
  try {
    // Codings are listed in the order they were applied: undo them last to first.
    for (const c of codings.reverse()) {
      if (c === 'gzip' || c === 'x-gzip') bytes = gunzipSync(bytes, opts);
      else if (c === 'deflate') bytes = inflateSync(bytes, opts);
      else if (c === 'br') bytes = brotliDecompressSync(bytes, opts);
      else return { bytes: raw, error: `request body has unsupported content-encoding ${c}; stored as sent` };
    }
  } catch (e) {
    return { bytes: raw, error: `cannot decode request body (${contentEncoding}): ${errorMessage(e)}; stored as sent` };
  }
  return { bytes };
}

function parseObject(text: string): Record<string, unknown> | undefined {
  if (text === '' || (text[0] !== '{' && !/^\s*\{/.test(text))) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined; // not JSON: stored as text, analysis counts it as skipped
  }
}

/** The pending row; `decodeError` says why an encoded body was kept as sent. */
export function pendingRow(f: RequestFacts): { row: RequestRowInput; decodeError?: string } {
  const decoded = decodeRequestBody(f.raw, f.headers.get('content-encoding'));
  const text = bodyText(decoded.bytes);
  const parsed = parseObject(text);
  const metadata = parsed?.metadata as { user_id?: unknown } | undefined;
  const row: RequestRowInput = {
    id: f.id,
    timestamp: new Date(f.startedAtMs).toISOString(),
    method: f.method,
    endpoint: f.path,
    headers: JSON.stringify(recordHeaders(f.headers)),
    body: text,
    user_agent: f.headers.get('user-agent'),
    content_type: f.headers.get('content-type'),
    model: typeof parsed?.model === 'string' ? parsed.model : null,
    session_id: parseUserId(metadata?.user_id).sessionId ?? null,
    is_streaming: parsed ? (parsed.stream === true ? 1 : 0) : null,
    started_at_ms: f.startedAtMs,
    upstream_url: redactUrl(f.upstreamUrl),
    seq: f.seq,
    request_bytes: f.raw.byteLength,
    state: 'pending',
  };
  return decoded.error ? { row, decodeError: decoded.error } : { row };
}

/** The smallest row that still says what happened, when building the real one failed. */
export function fallbackRow(f: RequestFacts): RequestRowInput {
  return {
    id: f.id, method: f.method, endpoint: f.path, headers: '{}', body: '', started_at_ms: f.startedAtMs, seq: f.seq,
    upstream_url: redactUrl(f.upstreamUrl), request_bytes: f.raw.byteLength, state: 'pending',
  };
}
