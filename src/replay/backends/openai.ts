import type { MessagesRequest } from '../../shared/anthropic.js';
import { anthropicToOpenAI } from '../../shared/openai-request.js';
import type { ReplayBackend, StreamReader } from './backend.js';

interface ChatChunk {
  choices?: { delta?: { content?: string | null; reasoning_content?: string | null; reasoning?: string | null; tool_calls?: { function?: { arguments?: string; name?: string } }[] }; finish_reason?: string | null; message?: { content?: string | null } }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } | null } | null;
  error?: { message?: string; type?: string } | string;
}

/** OpenAI Chat Completions: POST /v1/chat/completions, SSE `data: {chunk}` … `data: [DONE]`, usage via stream_options. */
export const openaiBackend: ReplayBackend = {
  name: 'openai',
  description: 'OpenAI Chat Completions API (POST /v1/chat/completions, streaming SSE with include_usage)',
  path: '/v1/chat/completions',
  headers(apiKey) {
    return { authorization: `Bearer ${apiKey}`, accept: 'text/event-stream' };
  },
  encode(body: MessagesRequest) {
    return anthropicToOpenAI(body);
  },
  reader(): StreamReader {
    let text = '';
    let usage: ChatChunk['usage'] = null;
    let stop: string | null = null;
    let error: string | null = null;
    let done = false;
    let any = false;
    const onChunk = (c: ChatChunk): number => {
      any = true;
      if (c.error) error = typeof c.error === 'string' ? c.error : (c.error.message ?? 'error');
      if (c.usage) usage = c.usage;
      let n = 0;
      for (const ch of c.choices ?? []) {
        const d = ch.delta ?? {};
        const piece = (d.content ?? '') + (d.reasoning_content ?? '') + (d.reasoning ?? '');
        if (piece) {
          text += piece;
          n++;
        }
        for (const tc of d.tool_calls ?? []) {
          const a = (tc.function?.name ?? '') + (tc.function?.arguments ?? '');
          if (a) {
            text += a;
            n++;
          }
        }
        if (ch.message?.content) {
          text += ch.message.content;
          n++;
        }
        if (ch.finish_reason) stop = ch.finish_reason;
      }
      return n;
    };
    return {
      onEvent(_event, data) {
        if (data.trim() === '[DONE]') {
          done = true;
          return 0;
        }
        try {
          return onChunk(JSON.parse(data) as ChatChunk);
        } catch {
          return 0;
        }
      },
      onJson(v) {
        done = true;
        onChunk(v as ChatChunk);
      },
      result() {
        const u = usage ?? null;
        return {
          promptTokens: typeof u?.prompt_tokens === 'number' ? u.prompt_tokens : null,
          cachedTokens: typeof u?.prompt_tokens_details?.cached_tokens === 'number' ? u.prompt_tokens_details.cached_tokens : null,
          outputTokens: typeof u?.completion_tokens === 'number' ? u.completion_tokens : null,
          outputText: text,
          stopReason: stop,
          error: error ?? (done || (any && stop !== null) ? null : 'stream ended before [DONE]'),
        };
      },
    };
  },
};
