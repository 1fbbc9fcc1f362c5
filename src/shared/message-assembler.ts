import type { AssistantMessage, CacheCreationSplit, ContentBlock, StreamEvent, Usage } from './anthropic.js';
import { emptyUsage } from './anthropic.js';

/**
 * Rebuilds the final assistant message from Anthropic streaming events: text, thinking (+signature),
 * tool_use with `input` parsed from the concatenated `partial_json`, usage merged from `message_start`
 * (input / cache tokens) and `message_delta` (output tokens, and any cumulative fields it repeats).
 * Tolerant: unknown events are ignored, malformed partial JSON is kept as a string under `input`.
 */
export class MessageAssembler {
  private message: AssistantMessage | undefined;
  private blocks: ContentBlock[] = [];
  private partialJson = new Map<number, string>();
  private usage: Usage = emptyUsage();
  private sawUsage = false;
  /** First event that carries model output (content_block_start/delta). */
  firstContentSeen = false;
  errorEvent: { type: string; message: string } | undefined;
  stopped = false;

  /** Returns true when the event carried content (for TTFT). */
  push(ev: StreamEvent): boolean {
    switch (ev.type) {
      case 'message_start': {
        const m = ev.message ?? {};
        this.message = {
          id: m.id ?? '',
          type: 'message',
          role: 'assistant',
          model: m.model ?? '',
          content: [],
          stop_reason: m.stop_reason ?? null,
          stop_sequence: m.stop_sequence ?? null,
          usage: emptyUsage(),
        };
        if (Array.isArray(m.content)) this.blocks = [...(m.content as ContentBlock[])];
        if (m.usage) this.mergeUsage(m.usage);
        return false;
      }
      case 'content_block_start': {
        const b = structuredClone(ev.content_block) as ContentBlock & Record<string, unknown>;
        if (b.type === 'tool_use' || b.type === 'server_tool_use') {
          this.partialJson.set(ev.index, '');
        }
        this.blocks[ev.index] = b;
        const had = this.firstContentSeen;
        this.firstContentSeen = true;
        return !had;
      }
      case 'content_block_delta': {
        const b = this.blocks[ev.index] as (ContentBlock & Record<string, unknown>) | undefined;
        const d = ev.delta as Record<string, unknown>;
        if (b) {
          if (d.type === 'text_delta') b.text = String(b.text ?? '') + String(d.text ?? '');
          else if (d.type === 'thinking_delta') b.thinking = String(b.thinking ?? '') + String(d.thinking ?? '');
          else if (d.type === 'signature_delta') b.signature = String(b.signature ?? '') + String(d.signature ?? '');
          else if (d.type === 'input_json_delta') {
            this.partialJson.set(ev.index, (this.partialJson.get(ev.index) ?? '') + String(d.partial_json ?? ''));
          } else if (d.type === 'citations_delta') {
            const arr = (b.citations as unknown[]) ?? [];
            arr.push(d.citation);
            b.citations = arr;
          }
        }
        const had = this.firstContentSeen;
        this.firstContentSeen = true;
        return !had;
      }
      case 'content_block_stop': {
        this.finishToolInput(ev.index);
        return false;
      }
      case 'message_delta': {
        if (this.message) {
          if (ev.delta?.stop_reason !== undefined) this.message.stop_reason = ev.delta.stop_reason;
          if (ev.delta?.stop_sequence !== undefined) this.message.stop_sequence = ev.delta.stop_sequence;
        }
        if (ev.usage) this.mergeUsage(ev.usage);
        return false;
      }
      case 'message_stop':
        this.stopped = true;
        return false;
      case 'error':
        this.errorEvent = ev.error;
        return false;
      default:
        return false;
    }
  }

  /** Feed a raw SSE `data:` payload (JSON text). Unparseable payloads are ignored. */
  pushData(data: string): boolean {
    let ev: StreamEvent;
    try {
      ev = JSON.parse(data) as StreamEvent;
    } catch {
      return false;
    }
    if (!ev || typeof ev !== 'object' || typeof (ev as { type?: unknown }).type !== 'string') return false;
    return this.push(ev);
  }

  private finishToolInput(index: number): void {
    const raw = this.partialJson.get(index);
    if (raw === undefined) return;
    const b = this.blocks[index] as (ContentBlock & Record<string, unknown>) | undefined;
    if (!b) return;
    if (raw === '') {
      if (b.input === undefined) b.input = {};
    } else {
      try {
        b.input = JSON.parse(raw);
      } catch {
        b.input = raw;
      }
    }
    this.partialJson.delete(index);
  }

  private mergeUsage(u: Partial<Usage>): void {
    this.sawUsage = true;
    for (const k of ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'] as const) {
      const v = u[k];
      if (typeof v === 'number') this.usage[k] = v;
    }
    const split = cacheCreationSplit(u.cache_creation);
    if (split) this.usage.cache_creation = split;
  }

  get hasUsage(): boolean {
    return this.sawUsage;
  }

  /** The message so far (call after the stream ends; partial streams give partial messages). */
  result(): AssistantMessage | undefined {
    for (const idx of [...this.partialJson.keys()]) this.finishToolInput(idx);
    if (!this.message) return undefined;
    return { ...this.message, content: this.blocks.filter((b) => b !== undefined), usage: { ...this.usage } };
  }
}

/** The 5 m / 1 h cache-write split of a usage object, when present and numeric. */
export function cacheCreationSplit(c: unknown): CacheCreationSplit | undefined {
  if (!c || typeof c !== 'object') return undefined;
  const o = c as Record<string, unknown>;
  const m5 = o.ephemeral_5m_input_tokens;
  const h1 = o.ephemeral_1h_input_tokens;
  if (typeof m5 !== 'number' && typeof h1 !== 'number') return undefined;
  return { ephemeral_5m_input_tokens: typeof m5 === 'number' ? m5 : 0, ephemeral_1h_input_tokens: typeof h1 === 'number' ? h1 : 0 };
}

/** Normalise any usage-like object into a full Usage (missing fields → 0; the cache-write split kept when given). */
export function toUsage(u: unknown): Usage | undefined {
  if (!u || typeof u !== 'object') return undefined;
  const o = u as Record<string, unknown>;
  const n = (k: string) => (typeof o[k] === 'number' ? (o[k] as number) : 0);
  const split = cacheCreationSplit(o.cache_creation);
  return {
    input_tokens: n('input_tokens'),
    output_tokens: n('output_tokens'),
    cache_read_input_tokens: n('cache_read_input_tokens'),
    cache_creation_input_tokens: n('cache_creation_input_tokens'),
    ...(split ? { cache_creation: split } : {}),
  };
}
