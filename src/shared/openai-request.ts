import type { ContentBlock, MessagesRequest, TextBlock } from './anthropic.js';

/** OpenAI Chat Completions request shapes (the subset replay sends). */
export type OpenAIContentPart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };
export type OpenAIMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string | OpenAIContentPart[] }
  | {
      role: 'assistant';
      content: string | null;
      tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
    }
  | { role: 'tool'; tool_call_id: string; content: string };

export interface OpenAIChatRequest {
  model: string;
  messages: OpenAIMessage[];
  max_tokens?: number;
  stream: true;
  stream_options: { include_usage: true };
  tools?: { type: 'function'; function: { name: string; description?: string; parameters: unknown } }[];
  tool_choice?: unknown;
  temperature?: number;
  stop?: string[];
}

function blockText(b: ContentBlock): string | null {
  const x = b as unknown as Record<string, unknown>;
  if (b.type === 'text') return (b as TextBlock).text;
  if (b.type === 'thinking' || b.type === 'redacted_thinking') return null; // not model input on other APIs
  if (typeof x.text === 'string') return x.text;
  return JSON.stringify(x);
}

function imagePart(b: ContentBlock): OpenAIContentPart {
  const src = (b as { source?: { type?: string; media_type?: string; data?: string; url?: string } }).source ?? {};
  if (src.type === 'url' && src.url) return { type: 'image_url', image_url: { url: src.url } };
  return { type: 'image_url', image_url: { url: `data:${src.media_type ?? 'image/png'};base64,${src.data ?? ''}` } };
}

function toolResultText(content: unknown): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((c) => {
        const o = c as Record<string, unknown>;
        if (o.type === 'text') return String(o.text ?? '');
        if (o.type === 'image') return '[image]';
        return JSON.stringify(o);
      })
      .join('\n');
  }
  return JSON.stringify(content);
}

function systemText(system: MessagesRequest['system']): string | null {
  if (system === undefined || system === null) return null;
  if (typeof system === 'string') return system;
  return system.map((b) => b.text).join('\n\n');
}

/**
 * Anthropic Messages → OpenAI Chat Completions: system → a system message; text/image blocks → text/image_url
 * parts; tool_use → assistant tool_calls (arguments = JSON of input); tool_result → role 'tool' messages (placed
 * before the rest of that user turn); tools → functions with parameters = input_schema; thinking dropped;
 * cache_control dropped. `role: "system"` messages inside `messages` become system messages.
 */
export function anthropicToOpenAI(body: MessagesRequest): OpenAIChatRequest {
  const messages: OpenAIMessage[] = [];
  const sys = systemText(body.system);
  if (sys !== null && sys !== '') messages.push({ role: 'system', content: sys });
  for (const m of body.messages ?? []) {
    const blocks: ContentBlock[] = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : (m.content ?? []);
    if (m.role === 'system') {
      messages.push({ role: 'system', content: blocks.map(blockText).filter((t): t is string => t !== null).join('\n') });
      continue;
    }
    if (m.role === 'assistant') {
      const texts: string[] = [];
      const calls: NonNullable<Extract<OpenAIMessage, { role: 'assistant' }>['tool_calls']> = [];
      for (const b of blocks) {
        if (b.type === 'tool_use' || b.type === 'server_tool_use') {
          const t = b as { id: string; name: string; input: unknown };
          calls.push({ id: t.id, type: 'function', function: { name: t.name, arguments: JSON.stringify(t.input ?? {}) } });
        } else {
          const t = blockText(b);
          if (t !== null) texts.push(t);
        }
      }
      const msg: OpenAIMessage = { role: 'assistant', content: texts.length ? texts.join('') : null };
      if (calls.length) msg.tool_calls = calls;
      messages.push(msg);
      continue;
    }
    // user
    const parts: OpenAIContentPart[] = [];
    for (const b of blocks) {
      if (b.type === 'tool_result') {
        const r = b as { tool_use_id: string; content?: unknown; is_error?: boolean };
        const text = toolResultText(r.content);
        messages.push({ role: 'tool', tool_call_id: r.tool_use_id, content: r.is_error ? `Error: ${text}` : text });
      } else if (b.type === 'image') parts.push(imagePart(b));
      else {
        const t = blockText(b);
        if (t !== null) parts.push({ type: 'text', text: t });
      }
    }
    if (parts.length === 1 && parts[0]!.type === 'text') messages.push({ role: 'user', content: parts[0]!.text });
    else if (parts.length) messages.push({ role: 'user', content: parts });
  }
  const out: OpenAIChatRequest = {
    model: body.model,
    messages,
    stream: true,
    stream_options: { include_usage: true },
  };
  if (body.max_tokens !== undefined) out.max_tokens = body.max_tokens;
  if (typeof body.temperature === 'number') out.temperature = body.temperature;
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length) out.stop = body.stop_sequences;
  if (Array.isArray(body.tools) && body.tools.length) {
    out.tools = body.tools.map((t) => ({
      type: 'function',
      function: {
        name: t.name,
        ...(t.description !== undefined ? { description: t.description } : {}),
        parameters: t.input_schema ?? { type: 'object', properties: {} },
      },
    }));
  }
  const tc = body.tool_choice as { type?: string; name?: string } | undefined;
  if (tc && typeof tc === 'object') {
    if (tc.type === 'auto') out.tool_choice = 'auto';
    else if (tc.type === 'any') out.tool_choice = 'required';
    else if (tc.type === 'none') out.tool_choice = 'none';
    else if (tc.type === 'tool' && tc.name) out.tool_choice = { type: 'function', function: { name: tc.name } };
  }
  return out;
}
