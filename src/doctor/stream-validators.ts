import type { SseEvent } from '../shared/sse.js';

/**
 * Format validators for streamed responses, one per API. They read parsed SSE events (in arrival order) and
 * return the list of violations ([] = valid) plus what the stream carried (usage, tool calls, text).
 */

export interface StreamToolCall {
  id: string;
  name: string;
  /** Concatenated argument JSON as received. */
  rawArguments: string;
  arguments: unknown;
}

export interface StreamSummary {
  errors: string[];
  text: string;
  toolCalls: StreamToolCall[];
  stopReason: string | null;
  /** Usage as reported; null when the stream carried none. Fields missing in the stream are null. */
  usage: { promptTokens: number | null; inputTokens: number | null; cacheReadTokens: number | null; cacheCreationTokens: number | null; outputTokens: number | null } | null;
  usageErrors: string[];
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

export function validateAnthropicStream(events: SseEvent[]): StreamSummary {
  const errors: string[] = [];
  const usageErrors: string[] = [];
  const blocks = new Map<number, { type: string; open: boolean; json: string; id: string; name: string }>();
  let text = '';
  let stopReason: string | null = null;
  let usage: StreamSummary['usage'] = null;
  let next = 0;
  const types: string[] = [];
  for (const ev of events) {
    let d: Record<string, any>;
    try {
      d = JSON.parse(ev.data);
    } catch {
      errors.push(`event ${ev.event ?? '(none)'}: data is not JSON`);
      continue;
    }
    if (ev.event === undefined) errors.push(`data ${String(d.type)} has no "event:" line`);
    else if (ev.event !== d.type) errors.push(`event: ${ev.event} carries data.type ${String(d.type)}`);
    types.push(d.type);
    switch (d.type) {
      case 'message_start': {
        if (types.length !== 1) errors.push('message_start is not the first event');
        const u = d.message?.usage;
        if (!u) usageErrors.push('message_start.message.usage missing');
        else {
          for (const f of ['input_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'])
            if (num(u[f]) === null) usageErrors.push(`message_start usage.${f} missing`);
          const i = num(u.input_tokens);
          const r = num(u.cache_read_input_tokens);
          const c = num(u.cache_creation_input_tokens);
          usage = { promptTokens: i === null ? null : i + (r ?? 0) + (c ?? 0), inputTokens: i, cacheReadTokens: r, cacheCreationTokens: c, outputTokens: null };
        }
        break;
      }
      case 'content_block_start': {
        if (d.index !== next) errors.push(`content_block_start index ${d.index}, expected ${next}`);
        next = Number(d.index) + 1;
        const cb = d.content_block ?? {};
        blocks.set(d.index, { type: String(cb.type), open: true, json: '', id: String(cb.id ?? ''), name: String(cb.name ?? '') });
        if (cb.type === 'text' && typeof cb.text === 'string') text += cb.text;
        break;
      }
      case 'content_block_delta': {
        const b = blocks.get(d.index);
        if (!b || !b.open) {
          errors.push(`content_block_delta for block ${d.index} that is not open`);
          break;
        }
        const dt = d.delta?.type;
        if (b.type === 'text' && dt === 'text_delta') text += String(d.delta.text ?? '');
        else if (b.type === 'tool_use' && dt === 'input_json_delta') b.json += String(d.delta.partial_json ?? '');
        else if (b.type === 'thinking' && (dt === 'thinking_delta' || dt === 'signature_delta')) {
          /* fine */
        } else errors.push(`${String(dt)} inside a ${b.type} block`);
        break;
      }
      case 'content_block_stop': {
        const b = blocks.get(d.index);
        if (!b || !b.open) errors.push(`content_block_stop for block ${d.index} that is not open`);
        else b.open = false;
        break;
      }
      case 'message_delta': {
        stopReason = d.delta?.stop_reason ?? null;
        if (stopReason === null) errors.push('message_delta without delta.stop_reason');
        const o = num(d.usage?.output_tokens);
        if (o === null) usageErrors.push('message_delta usage.output_tokens missing');
        if (usage) usage.outputTokens = o;
        else usage = { promptTokens: null, inputTokens: null, cacheReadTokens: null, cacheCreationTokens: null, outputTokens: o };
        break;
      }
      case 'message_stop':
      case 'ping':
        break;
      case 'error':
        errors.push(`error event: ${JSON.stringify(d.error)}`);
        break;
      default:
        errors.push(`unknown event type ${String(d.type)}`);
    }
  }
  if (types[0] !== 'message_start') errors.push('stream does not start with message_start');
  if (types[types.length - 1] !== 'message_stop') errors.push('stream does not end with message_stop');
  if (!types.includes('message_delta')) errors.push('no message_delta');
  for (const [i, b] of blocks) if (b.open) errors.push(`block ${i} never stopped`);
  const toolCalls: StreamToolCall[] = [];
  for (const b of blocks.values()) {
    if (b.type !== 'tool_use') continue;
    let args: unknown = null;
    try {
      args = JSON.parse(b.json === '' ? '{}' : b.json);
    } catch {
      errors.push(`tool_use ${b.name}: input_json_delta pieces do not form JSON`);
    }
    toolCalls.push({ id: b.id, name: b.name, rawArguments: b.json, arguments: args });
  }
  return { errors, text, toolCalls, stopReason, usage, usageErrors };
}

export function validateOpenAiStream(events: SseEvent[], expectUsage: boolean): StreamSummary {
  const errors: string[] = [];
  const usageErrors: string[] = [];
  let id: string | undefined;
  let text = '';
  let stopReason: string | null = null;
  let usage: StreamSummary['usage'] = null;
  let done = false;
  const calls = new Map<number, { id: string; name: string; args: string }>();
  events.forEach((ev, k) => {
    if (done) errors.push('data after [DONE]');
    if (ev.data === '[DONE]') {
      done = true;
      return;
    }
    let c: Record<string, any>;
    try {
      c = JSON.parse(ev.data);
    } catch {
      errors.push(`chunk ${k}: data is not JSON`);
      return;
    }
    if (c.error) {
      errors.push(`error chunk: ${JSON.stringify(c.error)}`);
      return;
    }
    if (c.object !== 'chat.completion.chunk') errors.push(`chunk ${k}: object is ${String(c.object)}`);
    if (typeof c.id !== 'string') errors.push(`chunk ${k}: no id`);
    else if (id === undefined) id = c.id;
    else if (c.id !== id) errors.push(`chunk ${k}: id changed`);
    if (typeof c.created !== 'number') errors.push(`chunk ${k}: no created`);
    if (typeof c.model !== 'string') errors.push(`chunk ${k}: no model`);
    if (!Array.isArray(c.choices)) {
      errors.push(`chunk ${k}: no choices array`);
      return;
    }
    if (c.usage) {
      const u = c.usage;
      const p = num(u.prompt_tokens);
      const cached = num(u.prompt_tokens_details?.cached_tokens);
      if (p === null) usageErrors.push('usage.prompt_tokens missing');
      if (num(u.completion_tokens) === null) usageErrors.push('usage.completion_tokens missing');
      if (cached === null) usageErrors.push('usage.prompt_tokens_details.cached_tokens missing');
      usage = { promptTokens: p, inputTokens: p === null ? null : p - (cached ?? 0), cacheReadTokens: cached, cacheCreationTokens: null, outputTokens: num(u.completion_tokens) };
    }
    for (const ch of c.choices) {
      if (typeof ch?.index !== 'number') errors.push(`chunk ${k}: choices[].index missing`);
      const d = ch?.delta ?? {};
      if (typeof d.content === 'string') text += d.content;
      for (const tc of d.tool_calls ?? []) {
        if (typeof tc.index !== 'number') {
          errors.push(`chunk ${k}: tool_calls[].index missing`);
          continue;
        }
        const cur = calls.get(tc.index);
        if (!cur) {
          if (typeof tc.id !== 'string' || tc.id === '') errors.push(`tool call ${tc.index}: first delta has no id`);
          if (typeof tc.function?.name !== 'string' || tc.function.name === '') errors.push(`tool call ${tc.index}: first delta has no function.name`);
          calls.set(tc.index, { id: String(tc.id ?? ''), name: String(tc.function?.name ?? ''), args: String(tc.function?.arguments ?? '') });
        } else {
          if (tc.id !== undefined && tc.id !== cur.id) errors.push(`tool call ${tc.index}: id changed`);
          cur.args += String(tc.function?.arguments ?? '');
        }
      }
      if (ch?.finish_reason) {
        if (stopReason !== null) errors.push('finish_reason sent twice');
        stopReason = ch.finish_reason;
      }
    }
  });
  if (!done) errors.push('stream does not end with data: [DONE]');
  if (stopReason === null) errors.push('no finish_reason');
  if (expectUsage && usage === null) usageErrors.push('no usage chunk although stream_options.include_usage was set');
  const toolCalls: StreamToolCall[] = [...calls.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([, c]) => {
      let args: unknown = null;
      try {
        args = JSON.parse(c.args === '' ? '{}' : c.args);
      } catch {
        errors.push(`tool call ${c.name}: arguments are not JSON`);
      }
      return { id: c.id, name: c.name, rawArguments: c.args, arguments: args };
    });
  return { errors, text, toolCalls, stopReason, usage, usageErrors };
}
