import type { Clock } from '../../shared/clock.js';
import { systemClock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { silentLogger } from '../../shared/logger.js';
import { errorMessage } from '../../shared/errors.js';
import type { Engine } from '../engine.js';
import { AnthropicEncoder } from './anthropic-encoder.js';
import { parseAnthropicRequest } from './anthropic-request.js';
import { HttpError, errorResponse, jsonResponse, type ApiFlavor } from './api-error.js';
import { newId, prepareGeneration, tokenizePrompt, type CoreEvent, type PreparedGeneration, type ServeDeps } from './generation.js';
import { OpenAiEncoder } from './openai-encoder.js';
import { parseOpenAiRequest } from './openai-request.js';
import { RequestQueue } from './request-queue.js';
import { ServerMetrics, prometheusText } from './server-metrics.js';

export interface ServeHandlerOptions {
  engine: Engine;
  /** Concurrent generations (default 1). */
  slots?: number;
  /** Requests allowed to wait for a slot before 529/503 (default 16). */
  maxQueue?: number;
  /** max_tokens when an OpenAI request sets none (default 1024). */
  defaultMaxTokens?: number;
  /** Server-side cap on generated tokens per request (0 / undefined = no cap beyond the context). */
  maxOutputTokens?: number;
  /** `--tool-grammar`: grammar-constrained tool calls (llama engine; see src/serve/tool-grammar.ts). */
  toolGrammar?: ServeDeps['toolGrammar'];
  /** Largest accepted request body in bytes (default 32 MiB); larger → 413 request_too_large. */
  maxBodyBytes?: number;
  clock?: Clock;
  logger?: Logger;
}

export type Handler = ((req: Request) => Promise<Response>) & { metrics: ServerMetrics; queue: RequestQueue };

const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' };

/**
 * The `trace serve` HTTP handler (web-standard Request → Response; src/serve/listen.ts adapts it to node:http):
 * GET /health, /v1/models, /metrics; POST /v1/messages, /v1/messages/count_tokens, /v1/chat/completions.
 */
export function createServeHandler(opts: ServeHandlerOptions): Handler {
  const queue = new RequestQueue(opts.slots ?? 1, opts.maxQueue ?? 16);
  const metrics = new ServerMetrics();
  const deps: ServeDeps = { engine: opts.engine, queue, metrics, clock: opts.clock ?? systemClock, logger: opts.logger ?? silentLogger, maxOutputTokens: opts.maxOutputTokens ?? 0, ...(opts.toolGrammar ? { toolGrammar: opts.toolGrammar } : {}) };
  const info = opts.engine.info;
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;

  const handler = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const flavor: ApiFlavor = path.startsWith('/v1/chat') || path.startsWith('/v1/completions') ? 'openai' : 'anthropic';
    try {
      if (req.method === 'GET' || req.method === 'HEAD') {
        if (path === '/health' || path === '/') return jsonResponse(healthBody(info));
        if (path === '/v1/models') return jsonResponse(modelsBody(info.modelId));
        if (path.startsWith('/v1/models/')) return jsonResponse(modelsBody(info.modelId).data[0]);
        if (path === '/metrics') {
          const snap = metrics.snapshot(opts.engine.cacheStats(), { active: queue.active, depth: queue.depth, rejected: queue.rejected, slots: queue.slots, maxQueue: queue.maxQueue });
          const accept = req.headers.get('accept') ?? '';
          if (/text\/plain|openmetrics/.test(accept) && !accept.includes('application/json'))
            return new Response(prometheusText(snap), { headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' } });
          return jsonResponse(snap);
        }
      }
      if (req.method === 'POST') {
        if (path === '/v1/messages') return await anthropicMessages(deps, await readJson(req, maxBody), req.signal);
        if (path === '/v1/messages/count_tokens') {
          const p = parseAnthropicRequest(await readJson(req, maxBody), { requireMaxTokens: false });
          const { tokens } = await tokenizePrompt(opts.engine, p.prompt);
          return jsonResponse({ input_tokens: tokens.length });
        }
        if (path === '/v1/chat/completions') return await openAiChat(deps, await readJson(req, maxBody), req.signal, opts.defaultMaxTokens ?? 1024);
      }
      throw new HttpError(404, 'not_found_error', `${req.method} ${url.pathname} is not served here`);
    } catch (e) {
      if (e instanceof HttpError) return errorResponse(flavor, e);
      metrics.errors++;
      deps.logger.error(`${req.method} ${path}: ${errorMessage(e)}`);
      return errorResponse(flavor, new HttpError(500, 'api_error', errorMessage(e)));
    }
  };
  return Object.assign(handler, { metrics, queue });
}

/** Default `--max-body-bytes`: larger than any real Claude Code request (~1–3 MB with long histories). */
export const DEFAULT_MAX_BODY_BYTES = 32 * 2 ** 20;

/**
 * Reads a JSON body of at most `limit` bytes: a larger Content-Length is refused before reading, and a body that
 * streams past the limit is cancelled as soon as it does (never buffered beyond it). 413 request_too_large.
 */
export async function readJson(req: Request, limit: number): Promise<unknown> {
  const tooLarge = (n: number, exact: boolean) => new HttpError(413, 'request_too_large', `request body is ${exact ? '' : 'more than '}${n} bytes; the limit is ${limit} bytes (--max-body-bytes)`);
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(declared, true);
  const chunks: Uint8Array[] = [];
  if (req.body) {
    const reader = req.body.getReader();
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limit) {
        await reader.cancel().catch(() => {});
        throw tooLarge(limit, false);
      }
      chunks.push(value);
    }
  }
  const text = chunks.length === 1 ? Buffer.from(chunks[0]!.buffer, chunks[0]!.byteOffset, chunks[0]!.byteLength).toString('utf8') : Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'invalid_request_error', 'request body is not valid JSON');
  }
}

function modelsBody(id: string) {
  const created = 0;
  return {
    object: 'list',
    data: [{ id, object: 'model', type: 'model', display_name: id, created, created_at: new Date(created).toISOString(), owned_by: 'trace' }],
    has_more: false,
    first_id: id,
    last_id: id,
  };
}

/** Streams core events to a ReadableStream; cancelling it (client gone) aborts the generation. */
function sseStream(gen: PreparedGeneration, signal: AbortSignal, frames: (e: CoreEvent) => string[]): ReadableStream<Uint8Array> {
  const ac = new AbortController();
  const onAbort = () => ac.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  const enc = new TextEncoder();
  let closed = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      void gen
        .run((e) => {
          if (closed) return;
          for (const f of frames(e)) controller.enqueue(enc.encode(f));
        }, ac.signal)
        .finally(() => {
          signal.removeEventListener('abort', onAbort);
          if (!closed) {
            closed = true;
            controller.close();
          }
        });
    },
    cancel() {
      closed = true;
      ac.abort();
    },
  });
}

async function collect(gen: PreparedGeneration, signal: AbortSignal, onEvent: (e: CoreEvent) => void): Promise<void> {
  await gen.run(onEvent, signal);
}

async function anthropicMessages(deps: ServeDeps, body: unknown, signal: AbortSignal): Promise<Response> {
  const p = parseAnthropicRequest(body);
  const gen = await prepareGeneration(deps, p.prompt, p.params, { continueLast: true, toolCallIdPrefix: 'toolu_', signal, reasoning: p.reasoning });
  const enc = new AnthropicEncoder(newId('msg_'), p.model);
  if (p.stream) return new Response(sseStream(gen, signal, (e) => enc.frames(e)), { headers: SSE_HEADERS });
  await collect(gen, signal, (e) => void enc.frames(e));
  if (enc.error !== null) return errorResponse('anthropic', new HttpError(500, 'api_error', enc.error));
  return jsonResponse(enc.message());
}

async function openAiChat(deps: ServeDeps, body: unknown, signal: AbortSignal, defaultMaxTokens: number): Promise<Response> {
  const p = parseOpenAiRequest(body, defaultMaxTokens);
  const gen = await prepareGeneration(deps, p.prompt, p.params, { continueLast: false, toolCallIdPrefix: 'call_', signal, reasoning: true });
  const enc = new OpenAiEncoder(newId('chatcmpl-'), p.model, Math.floor(deps.clock.now() / 1000), p.includeUsage);
  if (p.stream) return new Response(sseStream(gen, signal, (e) => enc.frames(e)), { headers: SSE_HEADERS });
  await collect(gen, signal, (e) => void enc.frames(e));
  if (enc.error !== null) return errorResponse('openai', new HttpError(500, 'api_error', enc.error));
  return jsonResponse(enc.completion());
}

/**
 * GET /health: the handler exists only once the engine has loaded, so an answer means ready. The context fields
 * let a supervising process (managed replay) check what it started.
 */
export function healthBody(info: Engine['info']): Record<string, unknown> {
  return {
    status: 'ok',
    ready: true,
    engine: info.engine,
    model: info.modelId,
    context_size: info.contextSize,
    train_context: info.contextChoice?.trainContext ?? null,
    context_source: info.contextChoice?.source ?? null,
    context_reason: info.contextChoice?.reason ?? null,
    kv_bytes_per_token: info.kvBytesPerToken,
    /** true: prompts are rendered with the model's own Jinja template; chat_template is then only the fallback family */
    jinja_template: info.chatTemplateSource !== undefined && info.chatTemplateSource !== '',
    chat_template: info.chatTemplate,
  };
}
