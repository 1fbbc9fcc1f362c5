/**
 * In-process fake OpenAI Chat Completions server (`POST /v1/chat/completions`), streaming exactly like the
 * API with `stream_options.include_usage`: one `data: {chunk}` per delta (first chunk carries the role), a
 * final chunk with finish_reason, a usage-only chunk (`choices: []`), then `data: [DONE]`.
 */
import type { Clock } from '../../src/shared/clock.js';
import { systemClock } from '../../src/shared/clock.js';

export type OpenAIFakeReply =
  | { type: 'text'; text: string; pieceSize?: number; usage?: { prompt_tokens: number; completion_tokens: number; cached_tokens?: number }; eventDelayMs?: number; resetAfterEvents?: number; stream?: boolean }
  | { type: 'error'; status: number; message?: string };

export interface FakeOpenAI {
  handler(req: Request): Promise<Response>;
  readonly requests: { path: string; headers: Record<string, string>; body: any }[];
}

const enc = new TextEncoder();

export function createFakeOpenAI(script: (body: any, index: number) => OpenAIFakeReply, clock: Clock = systemClock): FakeOpenAI {
  const requests: FakeOpenAI['requests'] = [];
  let index = 0;
  return {
    requests,
    async handler(req: Request): Promise<Response> {
      const url = new URL(req.url);
      const text = await req.text();
      const body = text ? JSON.parse(text) : undefined;
      const headers: Record<string, string> = {};
      req.headers.forEach((v, k) => (headers[k] = v));
      requests.push({ path: url.pathname, headers, body });
      if (req.method !== 'POST' || url.pathname !== '/v1/chat/completions') {
        return Response.json({ error: { message: 'not found', type: 'invalid_request_error' } }, { status: 404 });
      }
      const reply = script(body, index++);
      if (reply.type === 'error') {
        return Response.json({ error: { message: reply.message ?? 'fake error', type: 'server_error', code: null } }, { status: reply.status });
      }
      const id = `chatcmpl-fake${index}`;
      const created = 1700000000;
      const model = body?.model ?? 'fake';
      const usage = reply.usage
        ? {
            prompt_tokens: reply.usage.prompt_tokens,
            completion_tokens: reply.usage.completion_tokens,
            total_tokens: reply.usage.prompt_tokens + reply.usage.completion_tokens,
            ...(reply.usage.cached_tokens !== undefined ? { prompt_tokens_details: { cached_tokens: reply.usage.cached_tokens } } : {}),
          }
        : undefined;
      if (reply.stream === false || body?.stream !== true) {
        return Response.json({
          id, object: 'chat.completion', created, model,
          choices: [{ index: 0, message: { role: 'assistant', content: reply.text }, finish_reason: 'stop' }],
          ...(usage ? { usage } : {}),
        });
      }
      const size = reply.pieceSize ?? 8;
      const pieces: string[] = [];
      for (let i = 0; i < reply.text.length; i += size) pieces.push(reply.text.slice(i, i + size));
      const events: string[] = [];
      const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
        `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_fake', choices, ...extra })}\n\n`;
      events.push(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]));
      for (const p of pieces) events.push(chunk([{ index: 0, delta: { content: p }, logprobs: null, finish_reason: null }]));
      events.push(chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]));
      if (usage && body?.stream_options?.include_usage) events.push(chunk([], { usage }));
      events.push('data: [DONE]\n\n');
      const reset = reply.resetAfterEvents;
      const stream = new ReadableStream<Uint8Array>({
        async start(ctrl) {
          for (let i = 0; i < events.length; i++) {
            if (reset !== undefined && i === reset) {
              ctrl.error(new Error('connection reset'));
              return;
            }
            if (reply.eventDelayMs) await clock.sleep(reply.eventDelayMs);
            ctrl.enqueue(enc.encode(events[i]!));
          }
          ctrl.close();
        },
      });
      return new Response(stream, { status: 200, headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' } });
    },
  };
}
