/**
 * Renders a ChatPrompt with the model's own Jinja chat template (`tokenizer.chat_template` of a GGUF, or the
 * tokenizer's template for mlx), the way transformers' `apply_chat_template` and llama-server `--jinja` do:
 * HF-convention `messages` (system / user / assistant with `tool_calls[{id, type:'function', function:{name,
 * arguments: object}}]` / tool with `tool_call_id`), `tools` as `[{type:'function', function:{name,
 * description, parameters}}]`, `add_generation_prompt`, `bos_token`, `eos_token`.
 *
 * Interpreter: @huggingface/jinja (pinned), the implementation transformers.js uses for exactly these templates.
 * Chosen over node-llama-cpp's JinjaTemplateChatWrapper because it renders a plain message list (no
 * node-llama-cpp chat-history / function-calling layer in between) and works for every engine, mlx included.
 */
import { Template } from '@huggingface/jinja';
import type { ChatPrompt, ChatTurn } from './chat-types.js';

/** How a template's tool calls look in generated text (which parser reads them back). */
export type ToolCallFormat = 'hermes' | 'mistral' | 'glm' | 'harmony';

export interface ModelTemplate {
  source: string;
  template: Template;
  /** The template renders `tools` (otherwise tool conversations fall back to the family renderer). */
  supportsTools: boolean;
  toolFormat: ToolCallFormat;
  /** Text end-of-turn markers this template uses (besides the EOS token). */
  stops: string[];
}

/** Detects the tool-call syntax a template teaches its model. */
export function toolFormatOf(source: string): ToolCallFormat {
  if (source.includes('[TOOL_CALLS]')) return 'mistral';
  if (source.includes('<|channel|>')) return 'harmony';
  if (source.includes('<arg_key>')) return 'glm';
  return 'hermes'; // <tool_call>{json}</tool_call> and Qwen3-Coder's <tool_call><function=…> share one parser
}

const compiled = new Map<string, ModelTemplate>();

/** Parses a template once per distinct source (throws the interpreter's error on a template it cannot parse). */
export function compileModelTemplate(source: string): ModelTemplate {
  const hit = compiled.get(source);
  if (hit) return hit;
  const stops: string[] = [];
  if (source.includes('<|im_end|>')) stops.push('<|im_end|>', '<|im_start|>');
  if (source.includes('<|eot_id|>')) stops.push('<|eot_id|>', '<|start_header_id|>');
  if (source.includes('<|return|>')) stops.push('<|return|>', '<|call|>');
  const t: ModelTemplate = { source, template: new Template(source), supportsTools: /\btools\b/.test(source), toolFormat: toolFormatOf(source), stops };
  if (compiled.size > 16) compiled.clear();
  compiled.set(source, t);
  return t;
}

type HfMessage = Record<string, unknown> & { role: string; content: string };

/** The HF `messages` / `tools` for a ChatPrompt (the system prompt becomes a leading system message). */
export function toHfConversation(prompt: ChatPrompt): { messages: HfMessage[]; tools: unknown[] | undefined } {
  const messages: HfMessage[] = [];
  if (prompt.system !== '') messages.push({ role: 'system', content: prompt.system });
  for (const t of prompt.turns) messages.push(hfMessage(t));
  const tools = prompt.tools.length > 0 ? prompt.tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description ?? '', parameters: t.parameters ?? { type: 'object', properties: {} } } })) : undefined;
  return { messages, tools };
}

function hfMessage(t: ChatTurn): HfMessage {
  if (t.role === 'tool') return { role: 'tool', tool_call_id: t.toolCallId, ...(t.name !== undefined ? { name: t.name } : {}), content: t.isError ? `[error] ${t.text}` : t.text };
  if (t.role === 'assistant' && t.toolCalls.length > 0)
    return { role: 'assistant', content: t.text, tool_calls: t.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments ?? {} } })) };
  return { role: t.role, content: t.text };
}

export interface JinjaRenderOptions {
  /** Continue a trailing assistant message (Anthropic prefill) instead of opening a new turn. */
  continueLast: boolean;
  bosToken?: string;
  eosToken?: string;
}

/**
 * Renders the conversation. A trailing assistant message is continued like transformers'
 * `continue_final_message`: rendered, then cut right after its content. Errors from the template itself
 * (`raise_exception`, e.g. roles that must alternate) propagate as thrown Errors.
 */
export function renderJinjaChat(t: ModelTemplate, prompt: ChatPrompt, opts: JinjaRenderOptions): string {
  const { messages, tools } = toHfConversation(prompt);
  const last = messages[messages.length - 1];
  const continueLast = opts.continueLast && last?.role === 'assistant' && last.content !== '' && last.tool_calls === undefined;
  const ctx = {
    messages,
    ...(tools ? { tools } : {}),
    add_generation_prompt: !continueLast,
    bos_token: opts.bosToken ?? '',
    eos_token: opts.eosToken ?? '',
  };
  const text = t.template.render(ctx);
  if (!continueLast) return text;
  const final = last.content.trim(); // as transformers does
  const at = text.lastIndexOf(final);
  if (at < 0) throw new Error('cannot find the final assistant message in the rendered prompt to continue it');
  return text.slice(0, at + final.length);
}
