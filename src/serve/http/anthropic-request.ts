import { normalizeSystem } from '../../analyze/normalize.js';
import type { ContentBlock, MessagesRequest, ToolResultBlock, ToolUseBlock } from '../../shared/anthropic.js';
import { badRequest } from './api-error.js';
import { checkMessages, optionalIntAtLeast, optionalNumberIn } from './request-checks.js';
import type { ChatPrompt, ChatToolCall, ChatTurn, GenerationParams } from './chat-types.js';

/**
 * Validates an Anthropic Messages body and converts it to a ChatPrompt. Claude Code's per-request billing line
 * (system[0] `x-anthropic-billing-header…`) is dropped so it cannot bust the prefix cache; cache_control markers
 * and thinking signatures are ignored; images and documents become placeholders; thinking is dropped.
 */
export interface AnthropicParsed {
  prompt: ChatPrompt;
  params: GenerationParams;
  model: string;
  stream: boolean;
  /** The request enabled extended thinking (thinking.type enabled/adaptive): <think> output → thinking blocks. */
  reasoning: boolean;
}

export function parseAnthropicRequest(body: unknown, opts: { requireMaxTokens?: boolean } = {}): AnthropicParsed {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('request body must be a JSON object');
  const b = body as MessagesRequest;
  if (typeof b.model !== 'string' || b.model === '') throw badRequest('model: field required');
  checkMessages(b.messages);
  if ((opts.requireMaxTokens ?? true) && b.max_tokens === undefined) throw badRequest('max_tokens: field required', 'max_tokens');
  const maxTokens = optionalIntAtLeast(b.max_tokens, 'max_tokens', 1);
  // the Anthropic API's ranges
  const temperature = optionalNumberIn(b.temperature, 'temperature', 0, 1);
  const topP = optionalNumberIn(b.top_p, 'top_p', 0, 1);
  optionalIntAtLeast(b.top_k, 'top_k', 0);
  if (b.system !== undefined && typeof b.system !== 'string' && !Array.isArray(b.system)) throw badRequest('system: must be a string or a list of text blocks');
  if (b.stop_sequences !== undefined && (!Array.isArray(b.stop_sequences) || b.stop_sequences.some((s) => typeof s !== 'string')))
    throw badRequest('stop_sequences: must be a list of strings');
  if (b.tools !== undefined && !Array.isArray(b.tools)) throw badRequest('tools: must be a list');

  const tools = (b.tools ?? []).map((t, i) => {
    if (t === null || typeof t !== 'object' || typeof t.name !== 'string') throw badRequest(`tools.${i}.name: field required`);
    return { name: t.name, description: typeof t.description === 'string' ? t.description : undefined, parameters: t.input_schema ?? { type: 'object', properties: {} } };
  });
  const system = normalizeSystem(b.system)
    .map((s) => s.text)
    .join('\n');
  const names = new Map<string, string>();
  const turns: ChatTurn[] = [];
  b.messages.forEach((m, i) => {
    if (m === null || typeof m !== 'object') throw badRequest(`messages.${i}: must be an object`);
    if (m.role !== 'user' && m.role !== 'assistant' && m.role !== 'system') throw badRequest(`messages.${i}.role: must be "user", "assistant" or "system"`);
    if (typeof m.content !== 'string' && !Array.isArray(m.content)) throw badRequest(`messages.${i}.content: must be a string or a list of content blocks`);
    const blocks: ContentBlock[] = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content;
    blocks.forEach((blk, j) => {
      if (blk === null || typeof blk !== 'object' || typeof (blk as { type?: unknown }).type !== 'string')
        throw badRequest(`messages.${i}.content.${j}.type: field required`);
    });
    if (m.role === 'assistant') {
      const text: string[] = [];
      const calls: ChatToolCall[] = [];
      for (const blk of blocks) {
        if (blk.type === 'text') text.push(String((blk as { text?: unknown }).text ?? ''));
        else if (blk.type === 'tool_use' || blk.type === 'server_tool_use') {
          const u = blk as ToolUseBlock;
          names.set(u.id, u.name);
          calls.push({ id: u.id, name: u.name, arguments: u.input ?? {} });
        }
        // thinking / redacted_thinking: not re-rendered (keeps the prompt append-only stable)
      }
      turns.push({ role: 'assistant', text: text.join(''), toolCalls: calls });
      return;
    }
    let text: string[] = [];
    const flush = () => {
      if (text.length > 0) turns.push({ role: m.role === 'system' ? 'system' : 'user', text: text.join('\n') });
      text = [];
    };
    for (const blk of blocks) {
      if (blk.type === 'tool_result') {
        flush();
        const r = blk as ToolResultBlock;
        turns.push({ role: 'tool', toolCallId: String(r.tool_use_id ?? ''), name: names.get(r.tool_use_id), text: contentText(r.content), isError: r.is_error === true });
      } else text.push(blockText(blk));
    }
    flush();
  });
  const params: GenerationParams = {
    maxTokens: maxTokens ?? 1,
    temperature,
    topP,
    stop: b.stop_sequences ?? [],
  };
  const th = (b.thinking as { type?: unknown } | undefined)?.type;
  return { prompt: { system, tools, turns }, params, model: b.model, stream: b.stream === true, reasoning: th === 'enabled' || th === 'adaptive' };
}

function blockText(b: ContentBlock): string {
  switch (b.type) {
    case 'text':
      return String((b as { text?: unknown }).text ?? '');
    case 'image':
      return '[image]';
    case 'document':
      return '[document]';
    case 'thinking':
    case 'redacted_thinking':
      return '';
    default:
      return `[${b.type}]`;
  }
}

function contentText(c: ToolResultBlock['content']): string {
  if (c === undefined || c === null) return '';
  if (typeof c === 'string') return c;
  return c.map((b) => blockText(b as ContentBlock)).join('\n');
}
