/**
 * The capture proxy core: a `(Request) => Promise<Response>` handler that forwards every method/path/query to
 * the upstream through an injected undici Dispatcher, relays the response bytes untouched (status and headers
 * too, minus hop-by-hop ones) chunk by chunk, and records one row per request (pending on arrival, completed at
 * the end) through a RequestWriter. A failing writer never breaks forwarding: failures are counted in
 * `stats.dbWriteErrors` and reported once per kind through the logger.
 *
 * `GET /_trace/stats` is answered by the proxy itself (JSON CaptureStats) and is neither forwarded nor recorded.
 */
import { randomUUID } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import type { Dispatcher } from 'undici';
import type { Clock } from '../shared/clock.js';
import { systemClock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { silentLogger } from '../shared/logger.js';
import { errorMessage } from '../shared/errors.js';
import { parseUserId } from '../shared/anthropic.js';
import type { RequestRowInput } from '../store/requests-repo.js';
import type { ResponseLog } from '../store/db-types.js';
import type { RequestWriter } from './request-writer.js';
import { recordHeaders, isSecretResponseHeader } from './header-redaction.js';
import { ResponseObserver, type ObservedResponse } from './response-observer.js';
import { READS_RAW_BODY, rawBodyOf, withDirectBody } from './listen.js';

export const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authenticate',
  'proxy-authorization', 'proxy-connection',
]);

export interface CaptureHandlerOptions {
  /** Base URL of the upstream API (a path prefix is kept: `http://h/base` + `/v1/messages`). */
  upstream: string;
  writer: RequestWriter;
  dispatcher: Dispatcher;
  clock?: Clock;
  logger?: Logger;
  /** Row ids (default: random UUIDs). */
  newId?: () => string;
}

export interface CaptureStats {
  /** Requests received (excluding /_trace/stats). */
  requests: number;
  inFlight: number;
  complete: number;
  /** Upstream unreachable or broke mid-response. */
  errors: number;
  /** Client went away before the response finished. */
  aborted: number;
  /** Row writes that threw (forwarding went on). */
  dbWriteErrors: number;
}

export type CaptureHandler = ((req: Request) => Promise<Response>) & {
  readonly stats: Readonly<CaptureStats>;
  /** Resolves when no request is in flight and every row has been handed to the writer. */
  idle(): Promise<void>;
  /** Counts and reports (once per kind) a write failure that surfaced outside `writer.write` (batching writers). */
  reportWriteError(phase: string, e: unknown): void;
};

type FinalState = 'complete' | 'error' | 'aborted';

function decodeBody(raw: Uint8Array): string {
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  // Not UTF-8: keep every byte as one char (latin1) so Buffer.from(body, 'latin1') restores it. (A UTF-8 BOM is
  // kept as U+FEFF.)
  return isUtf8(buf) ? buf.toString('utf8') : buf.toString('latin1');
}

export function upstreamTarget(upstream: string, reqUrl: URL): { origin: string; path: string; url: string } {
  const base = new URL(upstream);
  const prefix = base.pathname.replace(/\/+$/, '');
  const path = `${prefix}${reqUrl.pathname}${reqUrl.search}`;
  return { origin: base.origin, path, url: `${base.origin}${path}` };
}

function pendingRow(req: Request, reqUrl: URL, raw: Uint8Array, id: string, startedAt: number, upstreamUrl: string, seq: number): RequestRowInput {
  const bodyText = decodeBody(raw);
  let parsed: Record<string, unknown> | undefined;
  try {
    const v = bodyText === '' ? undefined : JSON.parse(bodyText);
    if (v && typeof v === 'object' && !Array.isArray(v)) parsed = v as Record<string, unknown>;
  } catch {
    parsed = undefined;
  }
  const metadata = parsed?.metadata as { user_id?: unknown } | undefined;
  return {
    id,
    timestamp: new Date(startedAt).toISOString(),
    method: req.method,
    endpoint: reqUrl.pathname,
    headers: JSON.stringify(recordHeaders(req.headers)),
    body: bodyText,
    user_agent: req.headers.get('user-agent'),
    content_type: req.headers.get('content-type'),
    model: typeof parsed?.model === 'string' ? parsed.model : null,
    session_id: parseUserId(metadata?.user_id).sessionId ?? null,
    is_streaming: parsed ? (parsed.stream === true ? 1 : 0) : null,
    started_at_ms: startedAt,
    upstream_url: upstreamUrl,
    seq,
    request_bytes: raw.byteLength,
    state: 'pending',
  };
}

export function createCaptureHandler(options: CaptureHandlerOptions): CaptureHandler {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const newId = options.newId ?? randomUUID;
  const stats: CaptureStats = { requests: 0, inFlight: 0, complete: 0, errors: 0, aborted: 0, dbWriteErrors: 0 };
  const reportedKinds = new Set<string>();
  let seq = 0;
  let idleWaiters: (() => void)[] = [];

  const reportWriteError = (phase: string, e: unknown) => {
    stats.dbWriteErrors++;
    const code = (e as { code?: unknown } | null)?.code;
    const kind = `${phase}:${typeof code === 'string' ? code : e instanceof Error ? e.name : 'error'}:${errorMessage(e).slice(0, 80)}`;
    if (!reportedKinds.has(kind)) {
      reportedKinds.add(kind);
      logger.error(`capture: cannot write ${phase} row (forwarding continues; further errors of this kind are only counted): ${errorMessage(e)}`);
    }
  };
  const safeWrite = (phase: string, row: RequestRowInput) => {
    try {
      options.writer.write(row);
    } catch (e) {
      reportWriteError(phase, e);
    }
  };

  const settle = () => {
    stats.inFlight--;
    if (stats.inFlight === 0) {
      const w = idleWaiters;
      idleWaiters = [];
      for (const f of w) f();
    }
  };

  async function handle(req: Request): Promise<Response> {
    const reqUrl = new URL(req.url);
    if (req.method === 'GET' && reqUrl.pathname === '/_trace/stats') {
      return new Response(JSON.stringify(stats), { headers: { 'content-type': 'application/json' } });
    }
    const startedAt = clock.now();
    stats.requests++;
    stats.inFlight++;
    const id = newId();
    const mySeq = ++seq;
    // The adapter hands over the bytes it read (no web-stream copy); a plain Request is read here.
    const raw = rawBodyOf(req) ?? new Uint8Array(await req.arrayBuffer().catch(() => new ArrayBuffer(0)));
    const target = upstreamTarget(options.upstream, reqUrl);
    // Only forwarding happens before the upstream request is dispatched.
    const headers: Record<string, string> = {};
    req.headers.forEach((v, k) => {
      // `expect: 100-continue` was already answered by the listening side (and undici refuses it).
      if (HOP_BY_HOP.has(k) || k === 'host' || k === 'content-length' || k === 'expect') return;
      headers[k] = v;
    });
    const upstreamResponse = options.dispatcher.request({
      origin: target.origin,
      path: target.path,
      method: req.method as Dispatcher.HttpMethod,
      headers,
      body: raw.byteLength > 0 ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength) : undefined,
      signal: req.signal,
    });
    // Decoding, parsing, header redaction and the pending-row write run after the request went out (next
    // check phase, while the upstream works); the completion write waits for them.
    let base!: RequestRowInput;
    const pendingWritten = new Promise<void>((resolve) =>
      setImmediate(() => {
        try {
          base = pendingRow(req, reqUrl, raw, id, startedAt, target.url, mySeq);
          safeWrite('pending', base);
        } catch (e) {
          reportWriteError('pending', e);
          base ??= { id, method: req.method, endpoint: reqUrl.pathname, headers: '{}', body: '', started_at_ms: startedAt, seq: mySeq, upstream_url: target.url, state: 'pending' };
        } finally {
          resolve();
        }
      }),
    );

    let done = false;
    const finish = async (
      state: FinalState,
      status: number | null,
      /** Recorded response headers, or the upstream's raw pairs (redacted here, off the relay path). */
      respHeaders: Record<string, string[]> | [string, string][] | null,
      observer: ResponseObserver | null,
      failure?: string,
    ) => {
      if (done) return;
      done = true;
      try {
        await pendingWritten;
        let obs: ObservedResponse | undefined;
        try {
          obs = observer ? await observer.finish() : undefined;
        } catch (e) {
          failure ??= `cannot observe response: ${errorMessage(e)}`;
        }
        const end = clock.now();
        const duration = end - startedAt;
        if (state === 'complete') stats.complete++;
        else if (state === 'error') stats.errors++;
        else stats.aborted++;
        const isStreaming = base.is_streaming ?? (obs?.isSse ? 1 : 0);
        const response: ResponseLog | null =
          status === null
            ? null
            : {
                statusCode: status,
                headers: Array.isArray(respHeaders) ? recordHeaders(respHeaders, isSecretResponseHeader) : (respHeaders ?? {}),
                ...(obs?.json !== undefined ? { body: obs.json } : {}),
                ...(obs?.bodyText !== undefined ? { bodyText: obs.bodyText } : {}),
                responseTime: Math.round(duration),
                ...(obs?.isSse ? { streamingChunks: obs.dataChunks } : {}),
                isStreaming: Boolean(obs?.isSse ?? isStreaming),
                completedAt: new Date(end).toISOString(),
              };
        const errors = [failure, obs?.apiError, obs?.decodeError].filter((x): x is string => Boolean(x));
        const u = obs?.usage;
        safeWrite('complete', {
          ...base,
          status,
          ttft_ms: obs?.ttftMs ?? null,
          duration_ms: duration,
          input_tokens: u?.input_tokens ?? null,
          output_tokens: u?.output_tokens ?? null,
          cache_read_input_tokens: u?.cache_read_input_tokens ?? null,
          cache_creation_input_tokens: u?.cache_creation_input_tokens ?? null,
          stop_reason: obs?.message?.stop_reason ?? null,
          message_id: obs?.message?.id || null,
          error: errors.length > 0 ? errors.join('; ') : null,
          response: response ? JSON.stringify(response) : null,
          sse_events: obs?.isSse ? JSON.stringify(obs.sseEvents) : null,
          response_bytes: obs?.bytes ?? 0,
          state,
        });
      } finally {
        settle();
      }
    };

    let up: Dispatcher.ResponseData;
    try {
      up = await upstreamResponse;
    } catch (e) {
      if (req.signal.aborted) {
        void finish('aborted', null, null, null, 'client disconnected before the upstream answered');
        return new Response(null, { status: 499 });
      }
      const msg = `upstream request failed: ${errorMessage(e)}${(e as { cause?: unknown }).cause ? ` (${errorMessage((e as { cause?: unknown }).cause)})` : ''}`;
      const body = JSON.stringify({ type: 'error', error: { type: 'api_error', message: `trace capture: ${msg}` } });
      void finish('error', 502, { 'content-type': ['application/json'] }, null, msg);
      return new Response(body, { status: 502, headers: { 'content-type': 'application/json' } });
    }

    const outHeaders = new Headers();
    const recorded: [string, string][] = [];
    for (const [k, v] of Object.entries(up.headers)) {
      if (v === undefined) continue;
      const name = k.toLowerCase();
      for (const val of Array.isArray(v) ? v : [v]) {
        recorded.push([name, val]);
        if (HOP_BY_HOP.has(name)) continue;
        outHeaders.append(name, val);
      }
    }
    const respHeaders = recorded; // redacted in finish()
    const first = (h: string) => {
      const v = up.headers[h];
      return Array.isArray(v) ? v[0] : v;
    };
    const observer = new ResponseObserver(first('content-type'), first('content-encoding'), startedAt, clock);
    const status = up.statusCode;
    const upBody = up.body;
    const onAbort = () => {
      upBody.destroy();
      void finish('aborted', status, respHeaders, observer, 'client disconnected');
    };
    req.signal.addEventListener('abort', onAbort, { once: true });
    const nullBody = status === 204 || status === 304 || req.method === 'HEAD';
    if (nullBody) {
      for await (const _ of upBody) void _;
      req.signal.removeEventListener('abort', onAbort);
      void finish('complete', status, respHeaders, observer);
      return new Response(null, { status, headers: outHeaders });
    }

    // One chunk source, read either by the listen adapter directly or through the web body stream. The upstream
    // body is read with 'data' events into a short queue (paused when 16 chunks wait): cheaper than an async
    // iterator per chunk. Chunks that arrived before a failure are still relayed, then the failure is thrown.
    const queued: Buffer[] = [];
    let ended = false;
    let broke: unknown;
    let wake: (() => void) | undefined;
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    upBody.on('data', (c: Buffer) => {
      queued.push(c);
      if (queued.length >= 16) upBody.pause();
      notify();
    });
    upBody.once('end', () => {
      ended = true;
      notify();
    });
    upBody.once('error', (e: unknown) => {
      broke ??= e;
      notify();
    });
    upBody.once('close', () => {
      if (!ended) broke ??= new Error('upstream response closed before its end');
      notify();
    });
    const read = async (): Promise<Uint8Array | null> => {
      while (queued.length === 0 && !ended && broke === undefined) await new Promise<void>((r) => (wake = r));
      const chunk = queued.shift();
      if (chunk === undefined) {
        req.signal.removeEventListener('abort', onAbort);
        if (broke !== undefined) {
          if (!done) void finish('error', status, respHeaders, observer, `upstream response broke: ${errorMessage(broke)}`);
          throw broke;
        }
        void finish('complete', status, respHeaders, observer);
        return null;
      }
      if (queued.length === 0 && upBody.isPaused()) upBody.resume();
      const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      try {
        observer.push(bytes);
      } catch (e) {
        logger.debug(`capture: observer failed: ${errorMessage(e)}`);
      }
      return bytes;
    };
    const cancel = (reason?: unknown) => {
      req.signal.removeEventListener('abort', onAbort);
      upBody.destroy();
      void finish('aborted', status, respHeaders, observer, `client disconnected${reason ? `: ${errorMessage(reason)}` : ''}`);
    };
    const body = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          let v: Uint8Array | null;
          try {
            v = await read();
          } catch (e) {
            controller.error(e);
            return;
          }
          if (v === null) controller.close();
          else controller.enqueue(v);
        },
        cancel,
      },
      { highWaterMark: 0 },
    );
    return withDirectBody(new Response(body, { status, statusText: undefined, headers: outHeaders }), { read, cancel });
  }

  const handler = handle as CaptureHandler;
  Object.defineProperty(handler, 'stats', { get: () => stats });
  handler.reportWriteError = reportWriteError;
  // The listen adapter may then skip the Request's web body stream: `handle` reads rawBodyOf(req).
  Object.defineProperty(handler, READS_RAW_BODY, { value: true });
  handler.idle = () => (stats.inFlight === 0 ? Promise.resolve() : new Promise<void>((r) => idleWaiters.push(r)));
  return handler;
}
