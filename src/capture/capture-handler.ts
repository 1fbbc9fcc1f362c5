/**
 * The capture proxy core: a `(Request) => Promise<Response>` handler that forwards every method/path/query to
 * the upstream through an injected undici Dispatcher, relays the response bytes untouched (status and headers
 * too, minus hop-by-hop ones) chunk by chunk, and records one row per request (pending on arrival, completed at
 * the end) through a RequestWriter. A failing writer never breaks forwarding: failures are counted in
 * `stats.dbWriteErrors` and reported once per kind through the logger.
 *
 * Pieces: request-record.ts (the pending row), upstream-relay.ts (the body relay), response-observer.ts (what the
 * response said), completed-row.ts (the final row), row-recorder.ts (stats, writes, `onRow` events, shutdown).
 * Timestamps are wall-clock (`clock.now()`), durations monotonic (`clock.monotonic()`).
 *
 * `GET /_trace/stats` is answered by the proxy itself (JSON CaptureStats) and is neither forwarded nor recorded.
 */
import { randomUUID } from 'node:crypto';
import type { Dispatcher } from 'undici';
import type { Clock } from '../shared/clock.js';
import { systemClock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { silentLogger } from '../shared/logger.js';
import { errorMessage } from '../shared/errors.js';
import type { RequestWriter } from './request-writer.js';
import { ResponseObserver } from './response-observer.js';
import { READS_RAW_BODY, rawBodyOf, withDirectBody } from './listen.js';
import { relayUpstreamBody, webStreamOf } from './upstream-relay.js';
import { CaptureRows, type CaptureStats, type RowObserver, type RowRecorder } from './row-recorder.js';

export type { CaptureStats, RowEvent, RowObserver } from './row-recorder.js';

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
  /** Called with each row as it is written: `started` (pending row) and `completed` (final row). Must be quick. */
  onRow?: RowObserver;
  /**
   * Serves every other `/_trace/…` path (the live view, `--ui`): answered here, never forwarded upstream nor
   * recorded. Without it those paths are forwarded like any other.
   */
  ui?: (req: Request) => Promise<Response>;
}

export interface ShutdownOptions {
  /** How long in-flight requests may go on finishing normally (ms). */
  graceMs: number;
  /** After the cut, how long to wait for the cut rows' own completion before writing them directly (ms). */
  cutWaitMs?: number;
}

export interface ShutdownResult {
  /** In flight when the shutdown began. */
  inFlight: number;
  /** Of those, recorded as cut (aborted, error says "cut by proxy shutdown"). */
  cut: number;
}

export type CaptureHandler = ((req: Request) => Promise<Response>) & {
  readonly stats: Readonly<CaptureStats>;
  /** Resolves when no request is in flight and every row has been handed to the writer. */
  idle(): Promise<void>;
  /**
   * Lets in-flight requests finish for up to `graceMs`, then cuts the rest: each is recorded as aborted with the
   * reason (and what was seen of its response) and its upstream request is stopped. Resolves when every row has
   * been handed to the writer. Stop accepting connections first.
   */
  shutdown(options: ShutdownOptions): Promise<ShutdownResult>;
  /** Counts and reports (once per kind) a write failure that surfaced outside `writer.write` (batching writers). */
  reportWriteError(phase: string, e: unknown): void;
};

export function upstreamTarget(upstream: string, reqUrl: URL): { origin: string; path: string; url: string } {
  const base = new URL(upstream);
  const prefix = base.pathname.replace(/\/+$/, '');
  const path = `${prefix}${reqUrl.pathname}${reqUrl.search}`;
  return { origin: base.origin, path, url: `${base.origin}${path}` };
}

/** Request headers to forward: all but hop-by-hop, host, content-length and `expect` (answered by the listener). */
function forwardHeaders(h: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  h.forEach((v, k) => {
    if (HOP_BY_HOP.has(k) || k === 'host' || k === 'content-length' || k === 'expect') return;
    out[k] = v;
  });
  return out;
}

/** Response headers for the client (hop-by-hop dropped) and the full list for the row (redacted later). */
function responseHeaders(up: Dispatcher.ResponseData): { out: Headers; recorded: [string, string][] } {
  const out = new Headers();
  const recorded: [string, string][] = [];
  for (const [k, v] of Object.entries(up.headers)) {
    if (v === undefined) continue;
    const name = k.toLowerCase();
    for (const val of Array.isArray(v) ? v : [v]) {
      recorded.push([name, val]);
      if (!HOP_BY_HOP.has(name)) out.append(name, val);
    }
  }
  return { out, recorded };
}

function upstreamFailure(e: unknown): string {
  const cause = (e as { cause?: unknown }).cause;
  return `upstream request failed: ${errorMessage(e)}${cause ? ` (${errorMessage(cause)})` : ''}`;
}

/** What the handler's functions share: the options, the clock and the row recorder, and the request counter. */
interface HandlerState {
  options: CaptureHandlerOptions;
  clock: Clock;
  newId: () => string;
  rows: CaptureRows;
  seq: number;
}

export function createCaptureHandler(options: CaptureHandlerOptions): CaptureHandler {
  const clock = options.clock ?? systemClock;
  const st: HandlerState = {
    options,
    clock,
    newId: options.newId ?? randomUUID,
    rows: new CaptureRows(clock, options.writer, options.logger ?? silentLogger, options.onRow),
    seq: 0,
  };
  const { rows } = st;
  const handler = ((req: Request) => handle(st, req)) as CaptureHandler;
  Object.defineProperty(handler, 'stats', { get: () => rows.stats });
  handler.reportWriteError = (phase, e) => rows.reportWriteError(phase, e);
  // The listen adapter may then skip the Request's web body stream: `handle` reads rawBodyOf(req).
  Object.defineProperty(handler, READS_RAW_BODY, { value: true });
  handler.idle = () => rows.idle();
  handler.shutdown = (o) => shutdown(st, o);
  return handler;
}

async function handle(st: HandlerState, req: Request): Promise<Response> {
  const { options, clock, rows } = st;
  const reqUrl = new URL(req.url);
  if (req.method === 'GET' && reqUrl.pathname === '/_trace/stats') {
    return new Response(JSON.stringify(rows.stats), { headers: { 'content-type': 'application/json' } });
  }
  if (options.ui && reqUrl.pathname.startsWith('/_trace/')) return options.ui(req);
  const startedAtMs = clock.now();
  const startedAtMono = clock.monotonic();
  // The adapter hands over the bytes it read (no web-stream copy); a plain Request is read here.
  const raw = rawBodyOf(req) ?? new Uint8Array(await req.arrayBuffer().catch((e: unknown) => {
    rows.reportRecordError('request-body', `cannot read a request body (forwarded empty): ${errorMessage(e)}`);
    return new ArrayBuffer(0);
  }));
  const target = upstreamTarget(options.upstream, reqUrl);
  const rec = rows.begin({ id: st.newId(), method: req.method, path: reqUrl.pathname, headers: req.headers, raw, startedAtMs, startedAtMono, upstreamUrl: target.url, seq: ++st.seq });
  // One signal for the upstream request: the client's, or the shutdown cut.
  const upstreamAbort = new AbortController();
  const onClientAbort = () => upstreamAbort.abort(req.signal.reason);
  req.signal.addEventListener('abort', onClientAbort, { once: true });
  rec.abortUpstream = () => upstreamAbort.abort(new Error('proxy shutdown'));
  // Only forwarding happens before the upstream request is dispatched; the pending row is built next.
  let up: Dispatcher.ResponseData;
  try {
    up = await options.dispatcher.request({
      origin: target.origin,
      path: target.path,
      method: req.method as Dispatcher.HttpMethod,
      headers: forwardHeaders(req.headers),
      body: raw.byteLength > 0 ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength) : undefined,
      signal: upstreamAbort.signal,
    });
  } catch (e) {
    req.signal.removeEventListener('abort', onClientAbort);
    return upstreamFailed(rec, req, e);
  }
  req.signal.removeEventListener('abort', onClientAbort);
  return relay(st, rec, req, up);
}

function upstreamFailed(rec: RowRecorder, req: Request, e: unknown): Response {
  if (rec.finished || req.signal.aborted) {
    void rec.finish({ state: 'aborted', status: null, headers: null, observer: null, failure: 'client disconnected before the upstream answered' });
    return new Response(null, { status: 499 });
  }
  const msg = upstreamFailure(e);
  const body = JSON.stringify({ type: 'error', error: { type: 'api_error', message: `trace capture: ${msg}` } });
  void rec.finish({ state: 'error', status: 502, headers: { 'content-type': ['application/json'] }, observer: null, failure: msg });
  return new Response(body, { status: 502, headers: { 'content-type': 'application/json' } });
}

function relay(st: HandlerState, rec: RowRecorder, req: Request, up: Dispatcher.ResponseData): Response | Promise<Response> {
  const { clock, rows } = st;
  const { out, recorded } = responseHeaders(up);
  const first = (h: string) => {
    const v = up.headers[h];
    return Array.isArray(v) ? v[0] : v;
  };
  const observer = new ResponseObserver(first('content-type'), first('content-encoding'), rec.facts.startedAtMono, clock);
  const status = up.statusCode;
  const response = { status, headers: recorded, observer };
  rec.response = response;
  const upBody = up.body;
  rec.abortUpstream = () => upBody.destroy();
  const onAbort = () => {
    upBody.destroy();
    void rec.finish({ state: 'aborted', ...response, failure: 'client disconnected' });
  };
  req.signal.addEventListener('abort', onAbort, { once: true });
  if (status === 204 || status === 304 || req.method === 'HEAD') return nullBody(rec, req, up, out, onAbort);
  const direct = relayUpstreamBody(upBody, {
    onChunk: (bytes) => {
      try {
        observer.push(bytes);
      } catch (e) {
        rows.reportRecordError('observe', `response observer failed: ${errorMessage(e)}`);
      }
    },
    onEnd: () => {
      req.signal.removeEventListener('abort', onAbort);
      void rec.finish({ state: 'complete', ...response });
    },
    onBroke: (e) => {
      req.signal.removeEventListener('abort', onAbort);
      void rec.finish({ state: 'error', ...response, failure: `upstream response broke: ${errorMessage(e)}` });
    },
    onCancel: (reason) => {
      req.signal.removeEventListener('abort', onAbort);
      void rec.finish({ state: 'aborted', ...response, failure: `client disconnected${reason ? `: ${errorMessage(reason)}` : ''}` });
    },
  });
  return withDirectBody(new Response(webStreamOf(direct), { status, headers: out }), direct);
}

async function nullBody(rec: RowRecorder, req: Request, up: Dispatcher.ResponseData, out: Headers, onAbort: () => void): Promise<Response> {
  let failure: string | undefined;
  try {
    for await (const _ of up.body) void _;
  } catch (e) {
    failure = `upstream response broke: ${errorMessage(e)}`;
  }
  req.signal.removeEventListener('abort', onAbort);
  void rec.finish({ state: failure ? 'error' : 'complete', ...rec.response!, failure });
  return new Response(null, { status: up.statusCode, headers: out });
}

async function shutdown(st: HandlerState, { graceMs, cutWaitMs = 2000 }: ShutdownOptions): Promise<ShutdownResult> {
  const { rows } = st;
  const inFlight = rows.stats.inFlight;
  const cutBefore = rows.stats.cut;
  await waitIdle(st, graceMs);
  const reason = `cut by proxy shutdown: still in flight after the ${graceMs / 1000} s grace`;
  for (const r of [...rows.inFlight]) void r.cut(reason);
  await waitIdle(st, cutWaitMs);
  for (const r of [...rows.inFlight]) r.forceWrite(`${reason}; its completion did not finish within ${cutWaitMs / 1000} s`);
  return { inFlight, cut: rows.stats.cut - cutBefore };
}

async function waitIdle(st: HandlerState, ms: number): Promise<void> {
  const timer = new AbortController();
  // The sleep rejects only when cancelled below, after idle() won the race: nothing to report.
  await Promise.race([st.rows.idle(), st.clock.sleep(ms, timer.signal).catch(() => undefined)]);
  timer.abort();
}
