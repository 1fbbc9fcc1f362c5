import { readJsonLines, readSourceText } from './json-lines.js';
import { basename } from 'node:path';
import type { TraceRequest } from '../../shared/trace-record.js';
import { errorMessage } from '../../shared/errors.js';
import type { OpenSourceOptions, OpenedSource, SourceImporter, SourceProbe } from './source.js';
import { endpointPath, exchangeFields, parseResponseBody } from './response-parse.js';
import type { MessagesRequest } from '../../shared/anthropic.js';

/**
 * `claude-trace`: logs of claude-trace (badlogic/lemmy apps/claude-trace), `.claude-trace/log-YYYY-MM-DD-HH-MM-SS.jsonl`,
 * one RawPair per line:
 *   { request: { timestamp (epoch s), method, url, headers, body }, response: { timestamp (epoch s, headers
 *     received), status_code, headers, body? (JSON responses), body_raw? (SSE text) } | null, logged_at (ISO,
 *     when the whole response was read), note? }
 * Each pair becomes the same TraceRequest our capture yields: body as sent, the response reassembled from the raw
 * SSE (usage from message_start/message_delta) or the JSON body. claude-trace records no per-event times: TTFT is
 * unknown (null); the duration runs from the request to `logged_at`. A pair without a response (claude-trace's
 * ORPHANED_REQUEST) is a request with an error. A directory of logs is a corpus (./corpus.ts).
 */
interface RawPair {
  request: { timestamp?: number; method?: string; url?: string; headers?: Record<string, string>; body?: unknown };
  response: { timestamp?: number; status_code?: number; headers?: Record<string, string>; body?: unknown; body_raw?: string } | null;
  logged_at?: string;
  note?: string;
}

function isPair(o: unknown): o is RawPair {
  const p = o as RawPair;
  return !!p && typeof p === 'object' && !!p.request && typeof p.request === 'object' && typeof p.request.url === 'string' && 'response' in p;
}

function header(h: Record<string, string> | undefined, name: string): string | null {
  if (!h) return null;
  for (const [k, v] of Object.entries(h)) if (k.toLowerCase() === name) return String(v);
  return null;
}

export function pairToTraceRequest(p: RawPair, id: string): TraceRequest {
  const body = p.request.body && typeof p.request.body === 'object' && !Array.isArray(p.request.body) ? (p.request.body as MessagesRequest) : null;
  if (p.request.body !== undefined && p.request.body !== null && typeof p.request.body !== 'object') throw new Error('request body is not a JSON object');
  const res = p.response;
  const parsed = res ? parseResponseBody(res.body_raw ?? res.body) : { message: null, usage: null, error: null };
  const startedAtMs = typeof p.request.timestamp === 'number' ? Math.round(p.request.timestamp * 1000) : null;
  const loggedAt = p.logged_at ? Date.parse(p.logged_at) : NaN;
  const endedAtMs = res && Number.isFinite(loggedAt) ? loggedAt : null;
  const status = res && typeof res.status_code === 'number' ? res.status_code : null;
  const ctype = header(res?.headers, 'content-type') ?? '';
  let error = parsed.error;
  if (!res) error = p.note ?? 'no response recorded';
  else if (!error && status !== null && status >= 400) error = `HTTP ${status}`;
  return {
    id,
    source: 'claude-trace',
    startedAtMs,
    endedAtMs,
    ttftMs: null,
    durationMs: startedAtMs !== null && endedAtMs !== null ? endedAtMs - startedAtMs : null,
    method: p.request.method ?? 'POST',
    endpoint: endpointPath(p.request.url),
    isStreaming: typeof body?.stream === 'boolean' ? body.stream : res ? ctype.includes('text/event-stream') : null,
    status,
    userAgent: header(p.request.headers, 'user-agent'),
    ...exchangeFields(body, parsed),
    error,
  };
}

export const claudeTraceImporter: SourceImporter = {
  kind: 'claude-trace',
  description: 'claude-trace logs (.claude-trace/log-*.jsonl: request/response pairs with headers and raw SSE)',
  level: 'content',
  detect(p: SourceProbe): boolean {
    if (p.isDirectory || !p.head) return false;
    const first = p.head.toString('utf8').split('\n', 1)[0] ?? '';
    if (!first.includes('"request"') || !first.includes('"logged_at"')) return false;
    try {
      return isPair(JSON.parse(first));
    } catch {
      // A first line longer than the probe: the shape of its start is enough.
      return /^\{"request":\{"timestamp":/.test(first);
    }
  },
  open(path: string, options: OpenSourceOptions): OpenedSource {
    const text = readSourceText(path);
    const stats = { skipped: 0, yielded: 0 };
    const file = basename(path);
    const read = readJsonLines(text, path, options.logger, (o) => (isPair(o) ? o : 'not a request/response pair'));
    stats.skipped += read.skipped;
    const out: TraceRequest[] = [];
    for (const { value, line } of read.records) {
      try {
        out.push(pairToTraceRequest(value, `${file}:${line}`));
      } catch (e) {
        stats.skipped++;
        options.logger.warn(`${path}:${line}: ${errorMessage(e)}, skipped`);
      }
    }
    out.sort((a, b) => (a.startedAtMs ?? 0) - (b.startedAtMs ?? 0));
    return {
      kind: 'claude-trace',
      path,
      level: 'content',
      estimatedCount: out.length,
      stats,
      requests: () => {
        stats.yielded = out.length;
        return out;
      },
      close() {},
    };
  },
};
