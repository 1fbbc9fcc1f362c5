import type { CoreEvent, GenerationUsage, StopKind } from './generation.js';

/** OpenAI usage from the engine's real counts. */
export function openAiUsage(u: GenerationUsage) {
  return {
    prompt_tokens: u.promptTokens,
    completion_tokens: u.outputTokens,
    total_tokens: u.promptTokens + u.outputTokens,
    prompt_tokens_details: { cached_tokens: u.cachedTokens },
  };
}

function finishReason(s: StopKind): string {
  if (s === 'max_tokens') return 'length';
  if (s === 'tool_use') return 'tool_calls';
  return 'stop';
}

interface ToolCallOut {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/**
 * Turns core events into OpenAI chat.completion.chunk SSE lines (`data: {...}\n\n`): role first, then
 * content / tool_calls deltas (stable index and id; name first, then argument pieces), a chunk with
 * finish_reason, a usage chunk when stream_options.include_usage, then `data: [DONE]`. Also assembles the
 * non-streaming chat.completion.
 */
export class OpenAiEncoder {
  private text = '';
  private reasoning = '';
  private calls: ToolCallOut[] = [];
  private sentRole = false;
  finish: string | null = null;
  usage: ReturnType<typeof openAiUsage> | null = null;
  error: string | null = null;

  constructor(
    readonly id: string,
    readonly model: string,
    readonly created: number,
    readonly includeUsage: boolean,
  ) {}

  private chunk(delta: Record<string, unknown>, finish: string | null = null): string {
    const c = { id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, system_fingerprint: null, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] };
    return `data: ${JSON.stringify(c)}\n\n`;
  }

  frames(e: CoreEvent): string[] {
    const out: string[] = [];
    const role = () => {
      if (!this.sentRole) {
        this.sentRole = true;
        out.push(this.chunk({ role: 'assistant', content: '' }));
      }
    };
    switch (e.type) {
      case 'start':
        role();
        break;
      case 'text':
        role();
        this.text += e.text;
        out.push(this.chunk({ content: e.text }));
        break;
      case 'thinking':
        role();
        this.reasoning += e.text;
        out.push(this.chunk({ reasoning_content: e.text }));
        break;
      case 'tool_call': {
        role();
        const index = this.calls.length;
        const args = JSON.stringify(e.arguments);
        this.calls.push({ id: e.id, type: 'function', function: { name: e.name, arguments: args } });
        out.push(this.chunk({ tool_calls: [{ index, id: e.id, type: 'function', function: { name: e.name, arguments: '' } }] }));
        const cut = Math.ceil(args.length / 2);
        for (const piece of [args.slice(0, cut), args.slice(cut)]) if (piece !== '') out.push(this.chunk({ tool_calls: [{ index, function: { arguments: piece } }] }));
        break;
      }
      case 'done':
        role();
        this.finish = finishReason(e.stop);
        this.usage = openAiUsage(e.usage);
        out.push(this.chunk({}, this.finish));
        if (this.includeUsage) {
          out.push(`data: ${JSON.stringify({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, system_fingerprint: null, choices: [], usage: this.usage })}\n\n`);
        }
        out.push('data: [DONE]\n\n');
        break;
      case 'error':
        this.error = e.message;
        out.push(`data: ${JSON.stringify({ error: { message: e.message, type: 'server_error', param: null, code: null } })}\n\n`);
        out.push('data: [DONE]\n\n');
        break;
    }
    return out;
  }

  completion() {
    return {
      id: this.id,
      object: 'chat.completion',
      created: this.created,
      model: this.model,
      system_fingerprint: null,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: this.calls.length > 0 && this.text === '' ? null : this.text, refusal: null, ...(this.reasoning !== '' ? { reasoning_content: this.reasoning } : {}), ...(this.calls.length > 0 ? { tool_calls: this.calls } : {}) },
          logprobs: null,
          finish_reason: this.finish,
        },
      ],
      usage: this.usage,
    };
  }
}
