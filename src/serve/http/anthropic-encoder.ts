import type { AssistantMessage, ContentBlock, StopReason, Usage } from '../../shared/anthropic.js';
import { formatSse } from '../../shared/sse.js';
import type { CoreEvent, GenerationUsage, StopKind } from './generation.js';

/** Anthropic usage from the engine's real counts; the three input fields sum to the prompt length. */
export function anthropicUsage(u: GenerationUsage): Usage {
  return {
    input_tokens: u.promptTokens - u.cachedTokens - u.cacheCreationTokens,
    cache_creation_input_tokens: u.cacheCreationTokens,
    cache_read_input_tokens: u.cachedTokens,
    output_tokens: u.outputTokens,
  };
}

function stopReason(s: StopKind): StopReason {
  return s === 'aborted' ? 'end_turn' : s;
}

/**
 * Turns core events into Anthropic Messages SSE frames exactly as the API frames them
 * (`event: X\ndata: {...}\n\n`): message_start (usage input/cache fields) → ping → content_block_start /
 * delta (text_delta, input_json_delta) / stop … → message_delta (stop_reason, usage.output_tokens) →
 * message_stop. Also assembles the non-streaming message.
 */
export class AnthropicEncoder {
  private index = -1;
  private open: 'text' | 'thinking' | null = null;
  readonly content: ContentBlock[] = [];
  usage: Usage = { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  stop: StopReason | null = null;
  stopSequence: string | null = null;
  error: string | null = null;

  constructor(
    readonly id: string,
    readonly model: string,
  ) {}

  /** SSE frames for one core event. */
  frames(e: CoreEvent): string[] {
    const out: string[] = [];
    const ev = (type: string, data: Record<string, unknown>) => out.push(formatSse(type, JSON.stringify({ type, ...data })));
    switch (e.type) {
      case 'start': {
        this.usage = anthropicUsage({ ...e, outputTokens: 0 });
        ev('message_start', {
          message: { id: this.id, type: 'message', role: 'assistant', model: this.model, content: [], stop_reason: null, stop_sequence: null, usage: { ...this.usage } },
        });
        ev('ping', {});
        break;
      }
      case 'text': {
        if (this.open !== 'text') {
          this.closeBlock(ev);
          this.index++;
          this.open = 'text';
          this.content.push({ type: 'text', text: '' });
          ev('content_block_start', { index: this.index, content_block: { type: 'text', text: '' } });
        }
        (this.content[this.index] as { text: string }).text += e.text;
        ev('content_block_delta', { index: this.index, delta: { type: 'text_delta', text: e.text } });
        break;
      }
      case 'thinking': {
        if (this.open !== 'thinking') {
          this.closeBlock(ev);
          this.index++;
          this.open = 'thinking';
          this.content.push({ type: 'thinking', thinking: '', signature: '' });
          ev('content_block_start', { index: this.index, content_block: { type: 'thinking', thinking: '', signature: '' } });
        }
        (this.content[this.index] as { thinking: string }).thinking += e.text;
        ev('content_block_delta', { index: this.index, delta: { type: 'thinking_delta', thinking: e.text } });
        break;
      }
      case 'tool_call': {
        this.closeBlock(ev);
        this.index++;
        this.content.push({ type: 'tool_use', id: e.id, name: e.name, input: e.arguments });
        ev('content_block_start', { index: this.index, content_block: { type: 'tool_use', id: e.id, name: e.name, input: {} } });
        const json = JSON.stringify(e.arguments);
        // Like the API, the JSON arrives in pieces; split at a midpoint so clients must concatenate.
        const cut = Math.ceil(json.length / 2);
        for (const piece of [json.slice(0, cut), json.slice(cut)]) {
          if (piece !== '') ev('content_block_delta', { index: this.index, delta: { type: 'input_json_delta', partial_json: piece } });
        }
        ev('content_block_stop', { index: this.index });
        break;
      }
      case 'done': {
        this.closeBlock(ev);
        this.usage = anthropicUsage(e.usage);
        this.stop = stopReason(e.stop);
        this.stopSequence = e.stopSequence;
        ev('message_delta', { delta: { stop_reason: this.stop, stop_sequence: this.stopSequence }, usage: { ...this.usage } });
        ev('message_stop', {});
        break;
      }
      case 'error': {
        this.error = e.message;
        ev('error', { error: { type: 'api_error', message: e.message } });
        break;
      }
    }
    return out;
  }

  private closeBlock(ev: (type: string, data: Record<string, unknown>) => void): void {
    if (this.open !== null) ev('content_block_stop', { index: this.index });
    this.open = null;
  }

  message(): AssistantMessage {
    return { id: this.id, type: 'message', role: 'assistant', model: this.model, content: this.content, stop_reason: this.stop, stop_sequence: this.stopSequence, usage: this.usage };
  }
}
