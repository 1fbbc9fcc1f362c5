import type { AssistantMessage, MessagesRequest, StreamEvent } from '../../shared/anthropic.js';
import { contextTokens } from '../../shared/anthropic.js';
import { MessageAssembler, toUsage } from '../../shared/message-assembler.js';
import type { ReplayBackend, StreamReader } from './backend.js';

function textOf(m: AssistantMessage | undefined): string {
  if (!m) return '';
  return m.content
    .map((b) => {
      const x = b as unknown as Record<string, unknown>;
      if (typeof x.text === 'string') return x.text;
      if (typeof x.thinking === 'string') return x.thinking;
      if (x.type === 'tool_use') return typeof x.input === 'string' ? x.input : JSON.stringify(x.input ?? {});
      return '';
    })
    .join('');
}

/** Anthropic Messages API: POST /v1/messages, SSE `event: X / data: {...}`; usage split across message_start/message_delta. */
export const anthropicBackend: ReplayBackend = {
  name: 'anthropic',
  description: 'Anthropic Messages API (POST /v1/messages, streaming SSE)',
  path: '/v1/messages',
  headers(apiKey) {
    return { 'x-api-key': apiKey, 'anthropic-version': '2023-06-01', accept: 'text/event-stream' };
  },
  encode(body: MessagesRequest) {
    return { ...body, stream: true };
  },
  reader(): StreamReader {
    const asm = new MessageAssembler();
    let json: AssistantMessage | undefined;
    let error: string | null = null;
    let sawUsage = false;
    return {
      onEvent(_event, data) {
        let ev: StreamEvent;
        try {
          ev = JSON.parse(data) as StreamEvent;
        } catch {
          return 0;
        }
        if (!ev || typeof ev !== 'object') return 0;
        if ((ev.type === 'message_start' && ev.message?.usage) || (ev.type === 'message_delta' && ev.usage)) sawUsage = true;
        asm.push(ev);
        if (ev.type === 'error') error = `${ev.error?.type ?? 'error'}: ${ev.error?.message ?? ''}`;
        if (ev.type === 'content_block_delta') {
          const d = ev.delta as { type?: string; text?: string; thinking?: string; partial_json?: string };
          if (d.type === 'text_delta' || d.type === 'thinking_delta' || d.type === 'input_json_delta') return 1;
        }
        return 0;
      },
      onJson(v) {
        const o = v as { type?: string; error?: { type?: string; message?: string }; usage?: unknown };
        if (o?.type === 'error') error = `${o.error?.type ?? 'error'}: ${o.error?.message ?? ''}`;
        else if (o?.type === 'message') {
          json = v as AssistantMessage;
          sawUsage = o.usage !== undefined;
        } else error = 'unexpected JSON response';
      },
      result() {
        const m = json ?? asm.result();
        const u = json ? toUsage(json.usage) : m?.usage;
        const have = sawUsage && u !== undefined;
        return {
          promptTokens: have ? contextTokens(u) : null,
          cachedTokens: have ? u.cache_read_input_tokens : null,
          outputTokens: have && u.output_tokens > 0 ? u.output_tokens : null,
          outputText: textOf(m),
          stopReason: m?.stop_reason ?? null,
          error: error ?? (json || asm.stopped || !m ? (m ? null : 'stream ended without a message') : 'stream ended before message_stop'),
        };
      },
    };
  },
};
