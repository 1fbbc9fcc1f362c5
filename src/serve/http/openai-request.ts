import { badRequest } from './api-error.js';
import { checkMessages, optionalIntAtLeast, optionalNumberIn } from './request-checks.js';
import type { ChatPrompt, ChatToolCall, ChatTurn, GenerationParams, ToolSpec } from './chat-types.js';

/** Validates an OpenAI Chat Completions body and converts it to a ChatPrompt (system/developer messages at
 * the start form the system prompt; later ones stay in place). */
export interface OpenAiParsed {
  prompt: ChatPrompt;
  params: GenerationParams;
  model: string;
  stream: boolean;
  includeUsage: boolean;
}

interface OaMessage {
  role?: unknown;
  content?: unknown;
  tool_calls?: { id?: unknown; type?: unknown; function?: { name?: unknown; arguments?: unknown } }[];
  tool_call_id?: unknown;
  name?: unknown;
}

export function parseOpenAiRequest(body: unknown, defaultMaxTokens: number): OpenAiParsed {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('request body must be a JSON object');
  const b = body as Record<string, unknown>;
  if (typeof b.model !== 'string' || b.model === '') throw badRequest("you must provide a model parameter", 'model');
  checkMessages(b.messages);
  if (b.n !== undefined && b.n !== null && b.n !== 1) throw badRequest('n: only n=1 is supported', 'n');
  const maxRaw = b.max_completion_tokens !== undefined && b.max_completion_tokens !== null ? optionalIntAtLeast(b.max_completion_tokens, 'max_completion_tokens', 1) : optionalIntAtLeast(b.max_tokens, 'max_tokens', 1);
  // OpenAI's ranges
  const temperature = optionalNumberIn(b.temperature, 'temperature', 0, 2);
  const topP = optionalNumberIn(b.top_p, 'top_p', 0, 1);
  optionalNumberIn(b.presence_penalty, 'presence_penalty', -2, 2);
  optionalNumberIn(b.frequency_penalty, 'frequency_penalty', -2, 2);
  let stop: string[] = [];
  if (typeof b.stop === 'string') stop = [b.stop];
  else if (Array.isArray(b.stop)) {
    if (b.stop.some((s) => typeof s !== 'string')) throw badRequest('stop must be a string or a list of strings', 'stop');
    stop = b.stop as string[];
  } else if (b.stop !== undefined && b.stop !== null) throw badRequest('stop must be a string or a list of strings', 'stop');

  const tools: ToolSpec[] = [];
  if (b.tools !== undefined && b.tools !== null) {
    if (!Array.isArray(b.tools)) throw badRequest('tools must be a list', 'tools');
    b.tools.forEach((t: { type?: unknown; function?: { name?: unknown; description?: unknown; parameters?: unknown } }, i) => {
      if (t?.type !== 'function' || typeof t.function?.name !== 'string') throw badRequest(`tools[${i}] must be {type:'function', function:{name,…}}`, `tools[${i}]`);
      tools.push({ name: t.function.name, description: typeof t.function.description === 'string' ? t.function.description : undefined, parameters: t.function.parameters ?? { type: 'object', properties: {} } });
    });
  }

  const systemParts: string[] = [];
  const turns: ChatTurn[] = [];
  const names = new Map<string, string>();
  (b.messages as OaMessage[]).forEach((m, i) => {
    if (m === null || typeof m !== 'object') throw badRequest(`messages[${i}] must be an object`, `messages[${i}]`);
    const role = m.role;
    const text = contentText(m.content, i);
    if (role === 'system' || role === 'developer') {
      if (turns.length === 0) systemParts.push(text);
      else turns.push({ role: 'system', text });
    } else if (role === 'user') turns.push({ role: 'user', text });
    else if (role === 'assistant') {
      const calls: ChatToolCall[] = [];
      if (m.tool_calls !== undefined && m.tool_calls !== null) {
        if (!Array.isArray(m.tool_calls)) throw badRequest(`messages[${i}].tool_calls must be a list`, `messages[${i}].tool_calls`);
        m.tool_calls.forEach((c, k) => {
          const name = c?.function?.name;
          if (typeof c?.id !== 'string' || typeof name !== 'string')
            throw badRequest(`messages[${i}].tool_calls[${k}] needs id and function.name`, `messages[${i}].tool_calls[${k}]`);
          let args: unknown = {};
          const raw = c.function?.arguments;
          if (typeof raw === 'string' && raw.trim() !== '') {
            try {
              args = JSON.parse(raw);
            } catch {
              throw badRequest(`messages[${i}].tool_calls[${k}].function.arguments is not valid JSON`, `messages[${i}].tool_calls[${k}].function.arguments`);
            }
          } else if (raw !== null && typeof raw === 'object') args = raw;
          names.set(c.id, name);
          calls.push({ id: c.id, name, arguments: args });
        });
      }
      turns.push({ role: 'assistant', text, toolCalls: calls });
    } else if (role === 'tool') {
      if (typeof m.tool_call_id !== 'string') throw badRequest(`messages[${i}].tool_call_id is required for role 'tool'`, `messages[${i}].tool_call_id`);
      turns.push({ role: 'tool', toolCallId: m.tool_call_id, name: names.get(m.tool_call_id), text });
    } else throw badRequest(`messages[${i}].role must be one of system, developer, user, assistant, tool`, `messages[${i}].role`);
  });
  const params: GenerationParams = {
    maxTokens: typeof maxRaw === 'number' ? maxRaw : defaultMaxTokens,
    temperature,
    topP,
    seed: typeof b.seed === 'number' ? b.seed : undefined,
    stop,
  };
  const so = b.stream_options as { include_usage?: unknown } | undefined;
  return { prompt: { system: systemParts.join('\n'), tools, turns }, params, model: b.model, stream: b.stream === true, includeUsage: so?.include_usage === true };
}

function contentText(c: unknown, i: number): string {
  if (c === undefined || c === null) return '';
  if (typeof c === 'string') return c;
  if (!Array.isArray(c)) throw badRequest(`messages[${i}].content must be a string or a list of parts`, `messages[${i}].content`);
  return c
    .map((p: { type?: unknown; text?: unknown }) => {
      if (p?.type === 'text') return String(p.text ?? '');
      if (p?.type === 'image_url' || p?.type === 'input_image') return '[image]';
      if (p?.type === 'input_audio') return '[audio]';
      if (p?.type === 'file') return '[file]';
      throw badRequest(`messages[${i}].content has an unsupported part type`, `messages[${i}].content`);
    })
    .join('\n');
}
