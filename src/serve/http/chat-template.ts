import { stableStringify } from '../../analyze/normalize.js';
import { errorMessage } from '../../shared/errors.js';
import { badRequest } from './api-error.js';
import type { ChatPrompt, ChatToolCall, ChatTurn, ToolSpec } from './chat-types.js';
import { compileModelTemplate, renderJinjaChat, type ModelTemplate, type ToolCallFormat } from './jinja-template.js';

/**
 * Renders a ChatPrompt to prompt text for a chat-template family. Tools use the Qwen3 / Hermes convention
 * (listed in the system prompt inside <tools></tools>, calls answered as <tool_call>{json}</tool_call>).
 *
 * The rendering is append-only stable: turn i renders the same text whatever comes after it (historical
 * thinking is always dropped, tool JSON is key-sorted), so a conversation that grows by appending messages
 * yields a prompt that extends the previous one — which is what makes the engine's prefix cache hit.
 */

interface Family {
  /** Text at the very start of the prompt (e.g. BOS text). */
  begin: string;
  open(role: string): string;
  close: string;
  /** Text stop sequences that mean "end of turn" for this family (not reported as stop_sequence). */
  stops: string[];
}

const FAMILIES: Record<string, Family> = {
  chatml: { begin: '', open: (r) => `<|im_start|>${r}\n`, close: '<|im_end|>\n', stops: ['<|im_end|>', '<|im_start|>'] },
  llama3: {
    begin: '<|begin_of_text|>',
    open: (r) => `<|start_header_id|>${r}<|end_header_id|>\n\n`,
    close: '<|eot_id|>',
    stops: ['<|eot_id|>', '<|start_header_id|>'],
  },
  raw: { begin: '', open: (r) => `### ${r}\n`, close: '\n\n', stops: ['\n### user\n'] },
};

/** Known family names; qwen3/qwen2/hermes render as chatml. Unknown hints fall back to chatml. */
export function templateFamily(hint: string | undefined): string {
  const h = (hint ?? '').toLowerCase();
  if (h.startsWith('llama3') || h === 'llama-3') return 'llama3';
  if (h === 'raw') return 'raw';
  return 'chatml';
}

/** Rendered tool lists by their JSON: agents resend the same ~70 KB of tools every turn (key-sorting it costs ~1.5 ms). */
const toolsTextCache = new Map<string, string>();

export function toolsSystemText(tools: ToolSpec[]): string {
  if (tools.length === 0) return '';
  const key = JSON.stringify(tools);
  const hit = toolsTextCache.get(key);
  if (hit !== undefined) return hit;
  const text = renderToolsText(tools);
  if (toolsTextCache.size >= 32) toolsTextCache.delete(toolsTextCache.keys().next().value!);
  toolsTextCache.set(key, text);
  return text;
}

function renderToolsText(tools: ToolSpec[]): string {
  const lines = tools.map((t) =>
    stableStringify({ type: 'function', function: { name: t.name, description: t.description ?? '', parameters: t.parameters ?? { type: 'object', properties: {} } } }),
  );
  return (
    '# Tools\n\nYou may call one or more functions to assist with the user query.\n\n' +
    'You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n' +
    lines.join('\n') +
    '\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n' +
    '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
  );
}

export function renderToolCall(c: ChatToolCall): string {
  return `<tool_call>\n{"name": ${JSON.stringify(c.name)}, "arguments": ${stableStringify(c.arguments ?? {})}}\n</tool_call>`;
}

export interface RenderedPrompt {
  text: string;
  /** Template end-of-turn stop strings (to pass to the engine in addition to the request's own). */
  templateStops: string[];
  /** Which renderer produced the text: the model's Jinja template or a hand-written family. */
  renderer?: 'jinja' | 'family';
  /** Tool-call syntax to parse in the output. */
  toolFormat?: ToolCallFormat;
}

/** What the renderer needs to know about the model (EngineInfo satisfies it). */
export interface TemplateInfo {
  chatTemplate: string;
  chatTemplateSource?: string;
  bosToken?: string;
  eosToken?: string;
}

const usesTools = (p: ChatPrompt): boolean => p.tools.length > 0 || p.turns.some((t) => t.role === 'tool' || (t.role === 'assistant' && t.toolCalls.length > 0));

/**
 * Renders with the model's own Jinja template when it has one, else with the family. A template that never
 * mentions `tools` cannot show a tool conversation: such conversations use the family renderer (Hermes tool
 * syntax), as llama.cpp's tool polyfill does. A template the interpreter cannot parse also falls back; an error
 * the template raises while rendering (e.g. roles that must alternate) is a 400 for this request.
 */
export function renderPrompt(info: TemplateInfo, prompt: ChatPrompt, opts: { continueLast?: boolean } = {}): RenderedPrompt {
  const src = info.chatTemplateSource;
  let tpl: ModelTemplate | undefined;
  if (src !== undefined && src !== '') {
    try {
      tpl = compileModelTemplate(src);
    } catch {
      tpl = undefined; // unparseable by the interpreter: the family approximates it
    }
  }
  if (!tpl || (!tpl.supportsTools && usesTools(prompt))) return { ...renderChat(prompt, info.chatTemplate, opts), renderer: 'family', toolFormat: 'hermes' };
  let text: string;
  try {
    text = renderJinjaChat(tpl, prompt, { continueLast: opts.continueLast ?? true, ...(info.bosToken !== undefined ? { bosToken: info.bosToken } : {}), ...(info.eosToken !== undefined ? { eosToken: info.eosToken } : {}) });
  } catch (e) {
    throw badRequest(`the model's chat template refused this conversation: ${errorMessage(e)}`, 'messages');
  }
  const stops = [...tpl.stops];
  if (info.eosToken && !stops.includes(info.eosToken)) stops.push(info.eosToken);
  return { text, templateStops: stops, renderer: 'jinja', toolFormat: tpl.toolFormat };
}

/**
 * @param continueLast when the last turn is an assistant turn, render it open (no end-of-turn marker) so
 *   the model continues it (Anthropic prefill); otherwise a generation prompt for a new assistant turn is added.
 */
export function renderChat(prompt: ChatPrompt, hint?: string, opts: { continueLast?: boolean } = {}): RenderedPrompt {
  const f = FAMILIES[templateFamily(hint)]!;
  let out = f.begin;
  const sys = [prompt.system, toolsSystemText(prompt.tools)].filter((s) => s !== '').join('\n\n');
  if (sys !== '') out += f.open('system') + sys + f.close;
  const turns = prompt.turns;
  const last = turns[turns.length - 1];
  const continueLast = last?.role === 'assistant' && (opts.continueLast ?? true);
  for (let i = 0; i < turns.length; i++) {
    const t = turns[i]!;
    if (t.role === 'tool') {
      // Consecutive tool results share one user turn (Qwen3 template).
      const prevTool = i > 0 && turns[i - 1]!.role === 'tool';
      const nextTool = i + 1 < turns.length && turns[i + 1]!.role === 'tool';
      if (!prevTool) out += f.open('user');
      else out += '\n';
      out += `<tool_response>\n${t.isError ? '[error] ' : ''}${t.text}\n</tool_response>`;
      if (!nextTool) out += f.close;
      continue;
    }
    out += f.open(t.role) + turnBody(t);
    if (!(continueLast && i === turns.length - 1)) out += f.close;
  }
  if (!continueLast) out += f.open('assistant');
  return { text: out, templateStops: f.stops };
}

function turnBody(t: Exclude<ChatTurn, { role: 'tool' }>): string {
  if (t.role !== 'assistant') return t.text;
  const parts: string[] = [];
  if (t.text !== '') parts.push(t.text);
  for (const c of t.toolCalls) parts.push(renderToolCall(c));
  return parts.join('\n');
}
