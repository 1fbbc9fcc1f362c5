import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { TraceRequest } from '../../shared/trace-record.js';
import type { MessagesRequest } from '../../shared/anthropic.js';
import { SourceError, errorMessage } from '../../shared/errors.js';
import type { OpenSourceOptions, OpenedSource, SourceImporter, SourceProbe, SourceStats } from './source.js';
import { assertRecordShape } from './record-shape.js';
import { endpointPath, exchangeFields, parseRequestBody, parseResponseBody, parseTime } from './response-parse.js';

/**
 * `anyclaude`: anyclaude's trace files, one JSON file per request/response pair under
 * `~/.anyclaude/traces/<mode>/<iso-timestamp>.json`:
 *   { timestamp, mode, request: { method?, url?, headers, body }, response?: { statusCode, headers, body } }
 * `response.body` may be a message object, an error object, or the raw SSE text of a streamed response.
 * The path may be one file, a `<mode>` directory or the `traces` directory (one level of mode dirs).
 * anyclaude's `timestamp` is taken as the request time; durations are unknown (null).
 */

function listTraceFiles(path: string): string[] {
  const st = statSync(path);
  if (!st.isDirectory()) return [path];
  const out: string[] = [];
  for (const name of readdirSync(path).sort()) {
    const full = join(path, name);
    let s;
    try {
      s = statSync(full);
    } catch {
      continue;
    }
    if (s.isFile() && name.endsWith('.json')) out.push(full);
    else if (s.isDirectory()) {
      for (const n2 of readdirSync(full).sort()) if (n2.endsWith('.json')) out.push(join(full, n2));
    }
  }
  // File names are ISO timestamps: sorting by name is chronological (across mode dirs too).
  return out.sort((a, b) => basename(a).localeCompare(basename(b)) || a.localeCompare(b));
}

function looksLikeTrace(text: string): boolean {
  return /"request"\s*:/.test(text) && (/"mode"\s*:/.test(text) || /"response"\s*:/.test(text)) && !/"requests"\s*:\s*\[/.test(text);
}

function sniffDir(path: string, entries: string[]): boolean {
  const json = entries.filter((e) => e.endsWith('.json')).sort();
  let candidates = json.map((e) => join(path, e));
  if (candidates.length === 0) {
    for (const e of entries) {
      try {
        const full = join(path, e);
        if (statSync(full).isDirectory()) {
          const inner = readdirSync(full).filter((n) => n.endsWith('.json')).sort();
          if (inner.length) {
            candidates = [join(full, inner[0]!)];
            break;
          }
        }
      } catch {
        /* ignore */
      }
    }
  }
  if (candidates.length === 0) return false;
  try {
    const head = readFileSync(candidates[0]!, 'utf8').slice(0, 65536);
    return looksLikeTrace(head);
  } catch {
    return false;
  }
}

function anyclaudeFileToRequest(file: string, text: string): TraceRequest {
  const o = JSON.parse(text) as {
    timestamp?: string;
    mode?: string;
    request?: { method?: string; url?: string; headers?: Record<string, unknown>; body?: unknown };
    response?: { statusCode?: number; headers?: Record<string, unknown>; body?: unknown };
  };
  if (!o || typeof o !== 'object' || !o.request || typeof o.request !== 'object') throw new Error('no "request" object');
  const rb = o.request.body;
  const body: MessagesRequest | null =
    typeof rb === 'string' ? parseRequestBody(rb) : rb && typeof rb === 'object' ? (rb as MessagesRequest) : null;
  const parsed = parseResponseBody(o.response?.body);
  const status = typeof o.response?.statusCode === 'number' ? o.response.statusCode : null;
  let error = parsed.error;
  if (!error && status !== null && status >= 400) error = `HTTP ${status}`;
  const ua = o.request.headers?.['user-agent'];
  const record: TraceRequest = {
    id: basename(file, '.json'),
    source: 'anyclaude',
    startedAtMs: parseTime(o.timestamp),
    endedAtMs: null,
    ttftMs: null,
    durationMs: null,
    method: o.request.method ?? 'POST',
    endpoint: endpointPath(o.request.url ?? '/v1/messages'),
    isStreaming: typeof body?.stream === 'boolean' ? body.stream : null,
    status,
    userAgent: typeof ua === 'string' ? ua : null,
    ...exchangeFields(body, parsed),
    error,
  };
  assertRecordShape(record);
  return record;
}

function open(path: string, options: OpenSourceOptions): OpenedSource {
  let files: string[];
  try {
    files = listTraceFiles(path);
  } catch (e) {
    throw new SourceError(`cannot read anyclaude traces at ${path}: ${errorMessage(e)}`);
  }
  const stats: SourceStats = { skipped: 0, yielded: 0 };
  function* requests(): Generator<TraceRequest> {
    let skipped = 0;
    let yielded = 0;
    for (const f of files) {
      let r: TraceRequest;
      try {
        r = anyclaudeFileToRequest(f, readFileSync(f, 'utf8'));
      } catch (e) {
        skipped++;
        stats.skipped = Math.max(stats.skipped, skipped);
        options.logger.warn(`${f}: skipping malformed anyclaude trace: ${errorMessage(e)}`);
        continue;
      }
      yielded++;
      stats.yielded = Math.max(stats.yielded, yielded);
      yield r;
    }
  }
  return { kind: 'anyclaude', path, level: 'content', estimatedCount: files.length, requests, stats, close() {} };
}

export const anyclaudeImporter: SourceImporter = {
  kind: 'anyclaude',
  description: 'anyclaude trace JSON files (~/.anyclaude/traces/<mode>/*.json)',
  level: 'content',
  detect(p: SourceProbe): boolean {
    if (p.isDirectory) return sniffDir(p.path, p.entries ?? []);
    if (!p.path.endsWith('.json') || !p.head) return false;
    return looksLikeTrace(p.head.toString('utf8'));
  },
  open,
};
