import type { MessagesRequest } from '../../shared/anthropic.js';
import type { Clock } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import { SseParser } from '../../shared/sse.js';
import type { BackendResult } from '../types.js';

/** The part of a fetch Response replay reads (a web Response satisfies it; so does ../transport.ts). */
export interface ResponseLike {
  status: number;
  ok: boolean;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
  body: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array> | null;
  /**
   * Optional push-style body: calls `onChunk` for every chunk (synchronously, as it arrives), resolves at the end
   * of the body, rejects on a transport error or abort. Cheaper than async iteration; preferred when present.
   */
  consume?(onChunk: (chunk: Uint8Array) => void): Promise<void>;
}

/** A fetch-compatible function (undici dispatcher transport in production, an in-process handler in tests). */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body: string; signal?: AbortSignal },
) => Promise<ResponseLike>;

/** Per-stream parser a backend provides: fed SSE events, it says which ones carried generated content. */
export interface StreamReader {
  /** Returns the number of content pieces (≥1 = generated output arrived) in this event. */
  onEvent(event: string | undefined, data: string): number;
  /** Non-streaming JSON body (server ignored `stream: true`, or an error body). */
  onJson(json: unknown): void;
  result(): {
    promptTokens: number | null;
    cachedTokens: number | null;
    outputTokens: number | null;
    outputText: string;
    stopReason: string | null;
    /** An error the server reported inside a 200 stream. */
    error: string | null;
  };
}

export interface BackendSendOptions {
  /** Base URL (`http://host:port`, with or without a trailing `/v1`). */
  endpoint: string;
  apiKey: string;
  fetch: FetchLike;
  clock: Clock;
  signal?: AbortSignal;
  /** Called once when the first generated content arrives (prefill done). */
  onFirstToken?: () => void;
}

/**
 * One wire protocol replay can speak (registry in ./index.ts; shared contract suite in
 * test/replay/backend-contract.test.ts). The body is always built as an Anthropic Messages request; the
 * backend converts it to its own wire format.
 */
export interface ReplayBackend {
  readonly name: string;
  readonly description: string;
  /** URL path appended to the endpoint base. */
  readonly path: string;
  headers(apiKey: string): Record<string, string>;
  /** Anthropic body (model, max_tokens already set) → the JSON this API expects, streaming on. */
  encode(body: MessagesRequest): unknown;
  reader(): StreamReader;
}

export function joinUrl(endpoint: string, path: string): string {
  let base = endpoint.replace(/\/+$/, '');
  if (base.endsWith('/v1') && path.startsWith('/v1/')) base = base.slice(0, -3);
  return base + path;
}

/**
 * Sends one request and measures it. Never throws: transport errors, HTTP errors and stream errors come
 * back as `ok: false` with the reason (errors are data in replay).
 */
export async function sendRequest(backend: ReplayBackend, body: MessagesRequest, opts: BackendSendOptions): Promise<BackendResult> {
  const { clock } = opts;
  const t0 = clock.monotonic();
  let ttftMs: number | null = null;
  let lastContent: number | null = null;
  const itlMs: number[] = [];
  let status: number | null = null;
  const reader = backend.reader();
  const fail = (error: string): BackendResult => {
    const r = reader.result();
    return {
      ok: false,
      status,
      error,
      ttftMs,
      itlMs,
      e2eMs: clock.monotonic() - t0,
      promptTokens: r.promptTokens,
      cachedTokens: r.cachedTokens,
      outputTokens: r.outputTokens,
      outputText: r.outputText,
      stopReason: r.stopReason,
    };
  };
  try {
    const res = await opts.fetch(joinUrl(opts.endpoint, backend.path), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...backend.headers(opts.apiKey) },
      body: JSON.stringify(backend.encode(body)),
      signal: opts.signal,
    });
    status = res.status;
    const ctype = res.headers.get('content-type') ?? '';
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      return fail(`HTTP ${res.status}: ${text.slice(0, 300)}`);
    }
    if (!ctype.includes('text/event-stream')) {
      const text = await res.text();
      const now = clock.monotonic();
      try {
        reader.onJson(JSON.parse(text));
      } catch {
        return fail(`unparseable response body: ${text.slice(0, 200)}`);
      }
      ttftMs = now - t0;
    } else {
      const sse = new SseParser();
      if (!res.consume && !res.body) return fail('empty response body');
      const onEvents = (events: { event?: string; data: string }[], now: number) => {
        for (const ev of events) {
          const n = reader.onEvent(ev.event, ev.data);
          if (n > 0) {
            if (ttftMs === null) {
              ttftMs = now - t0;
              opts.onFirstToken?.();
            }
            else if (lastContent !== null) itlMs.push(now - lastContent);
            lastContent = now;
          }
        }
      };
      if (res.consume) {
        await res.consume((chunk) => {
          if (!opts.signal?.aborted) onEvents(sse.push(chunk), clock.monotonic());
        });
      } else {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          if (opts.signal?.aborted) return fail('aborted');
          onEvents(sse.push(chunk), clock.monotonic());
        }
      }
      if (opts.signal?.aborted) return fail('aborted');
      onEvents(sse.end(), clock.monotonic());
    }
    const r = reader.result();
    const e2eMs = clock.monotonic() - t0;
    if (r.error) return fail(r.error);
    return {
      ok: true,
      status,
      error: null,
      ttftMs,
      itlMs,
      e2eMs,
      promptTokens: r.promptTokens,
      cachedTokens: r.cachedTokens,
      outputTokens: r.outputTokens,
      outputText: r.outputText,
      stopReason: r.stopReason,
    };
  } catch (e) {
    if (opts.signal?.aborted) return fail('aborted');
    const cause = (e as { cause?: unknown }).cause;
    return fail(cause ? `${errorMessage(e)}: ${errorMessage(cause)}` : errorMessage(e));
  }
}
