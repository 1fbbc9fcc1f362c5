/**
 * Real chat templates (src/serve/templates: Qwen3-Coder, Devstral-Small-2507) embedded in tiny GGUFs by
 * `trace model tiny --chat-template`, rendered with @huggingface/jinja. Expected prompts are written out by hand
 * from each template's documented format (src/serve/templates/README.md), not produced by the renderer.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/serve/engine.js';
import { createLlamaEngine } from '../../src/serve/engines/llama-engine.js';
import { readGgufModelInfo } from '../../src/serve/gguf/gguf-info.js';
import { writeTinyModel } from '../../src/serve/gguf/tiny-model.js';
import { renderPrompt } from '../../src/serve/http/chat-template.js';
import { parseAnthropicRequest } from '../../src/serve/http/anthropic-request.js';
import { createServeHandler } from '../../src/serve/http/server.js';
import { ToolCallStreamParser } from '../../src/serve/http/tool-call-parser.js';
import { bundledTemplate } from '../../src/serve/templates/index.js';
import { TRACE_BIN } from '../helpers/paths.js';
import { FakeEngine } from './http-fake-engine.js';

const dir = mkdtempSync(join(tmpdir(), 'trace-jinja-'));
const QWEN = join(dir, 'qwen3-coder.gguf');
const DEVSTRAL = join(dir, 'devstral.gguf');

/** Claude Code-shaped request: system, one tool, a tool call with text before it, its result. */
const REQUEST = {
  model: 'm',
  max_tokens: 8,
  system: 'You are a coding agent.',
  tools: [{ name: 'Read', description: 'Read a file', input_schema: { type: 'object', properties: { file_path: { type: 'string', description: 'Absolute path' } }, required: ['file_path'] } }],
  messages: [
    { role: 'user', content: 'Show /etc/hosts' },
    { role: 'assistant', content: [{ type: 'text', text: 'Reading it.' }, { type: 'tool_use', id: 'toolu_01ABCDEFGH', name: 'Read', input: { file_path: '/etc/hosts' } }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01ABCDEFGH', content: '127.0.0.1 localhost' }] },
  ],
};

const QWEN_IMPORTANT =
  '\n\nIf you choose to call a function ONLY reply in the following format with NO suffix:\n\n<tool_call>\n<function=example_function_name>\n<parameter=example_parameter_1>\nvalue_1\n</parameter>\n<parameter=example_parameter_2>\nThis is the value for the second parameter\nthat can span\nmultiple lines\n</parameter>\n</function>\n</tool_call>\n\n<IMPORTANT>\nReminder:\n- Function calls MUST follow the specified format: an inner <function=...></function> block must be nested within <tool_call></tool_call> XML tags\n- Required parameters MUST be specified\n- You may provide optional reasoning for your function call in natural language BEFORE the function call, but NOT after\n- If there is no function call available, answer the question like normal with your current knowledge and do not tell the user about function calls\n</IMPORTANT>';

// Qwen3-Coder: tools as XML in the system turn, calls as <function=…> XML, results in a user turn.
const QWEN_EXPECTED =
  '<|im_start|>system\nYou are a coding agent.' +
  '\n\n# Tools\n\nYou have access to the following functions:\n\n<tools>' +
  '\n<function>\n<name>Read</name>\n<description>Read a file</description>\n<parameters>' +
  '\n<parameter>\n<name>file_path</name>\n<type>string</type>\n<description>Absolute path</description>\n</parameter>' +
  '\n<required>["file_path"]</required>\n</parameters>\n</function>\n</tools>' +
  QWEN_IMPORTANT +
  '<|im_end|>\n' +
  '<|im_start|>user\nShow /etc/hosts<|im_end|>\n' +
  '<|im_start|>assistant\nReading it.\n\n<tool_call>\n<function=Read>\n<parameter=file_path>\n/etc/hosts\n</parameter>\n</function>\n</tool_call><|im_end|>\n' +
  '<|im_start|>user\n<tool_response>\n127.0.0.1 localhost\n</tool_response>\n<|im_end|>\n' +
  '<|im_start|>assistant\n';

// Devstral (Mistral): BOS, [SYSTEM_PROMPT], tools as JSON once at the start, [TOOL_CALLS]NAME[ARGS]{json}, EOS
// after the assistant turn, [TOOL_RESULTS]; no generation prompt.
const devstralExpected = (bos: string, eos: string) =>
  bos +
  '[SYSTEM_PROMPT]You are a coding agent.[/SYSTEM_PROMPT]' +
  '[AVAILABLE_TOOLS][{"type": "function", "function": {"name": "Read", "description": "Read a file", "parameters": {"type": "object", "properties": {"file_path": {"type": "string", "description": "Absolute path"}}, "required": ["file_path"]}}}][/AVAILABLE_TOOLS]' +
  '[INST]Show /etc/hosts[/INST]' +
  'Reading it.[TOOL_CALLS]Read[ARGS]{"file_path": "/etc/hosts"}' +
  eos +
  '[TOOL_RESULTS]127.0.0.1 localhost[/TOOL_RESULTS]';

/** Tokens of a text for the tiny byte-level vocabulary: UTF-8 bytes, each special token one id. */
const tinyTokenCount = (text: string): number => {
  let n = Buffer.byteLength(text);
  for (const sp of ['<|im_start|>', '<|im_end|>', '<|endoftext|>']) n -= (text.split(sp).length - 1) * (sp.length - 1);
  return n;
};

beforeAll(() => {
  execFileSync(process.execPath, [TRACE_BIN, 'model', 'tiny', '--out', QWEN, '--layers', '1', '--dim', '16', '--chat-template', 'qwen3-coder', '--json'], { encoding: 'utf8' });
  writeTinyModel(DEVSTRAL, { layers: 1, dim: 16, chatTemplate: bundledTemplate('devstral-small-2507') });
});

describe('rendering with the GGUF-embedded template', () => {
  it('Qwen3-Coder: tools + a tool call + its result render as the template dictates', async () => {
    const info = await readGgufModelInfo(QWEN);
    expect(info.chatTemplate).toBe(bundledTemplate('qwen3-coder'));
    const r = renderPrompt({ chatTemplate: 'chatml', chatTemplateSource: info.chatTemplate! }, parseAnthropicRequest(REQUEST).prompt);
    expect(r.renderer).toBe('jinja');
    expect(r.toolFormat).toBe('hermes');
    expect(r.text).toBe(QWEN_EXPECTED);
    expect(r.templateStops).toContain('<|im_end|>');
  });

  it('Devstral: the same conversation in Mistral syntax', async () => {
    const info = await readGgufModelInfo(DEVSTRAL);
    const r = renderPrompt({ chatTemplate: 'raw', chatTemplateSource: info.chatTemplate!, bosToken: '<s>', eosToken: '</s>' }, parseAnthropicRequest(REQUEST).prompt);
    expect(r).toMatchObject({ renderer: 'jinja', toolFormat: 'mistral', text: devstralExpected('<s>', '</s>') });
  });

  it('a conversation growing by one turn extends the previous prompt (prefix cache stays valid)', () => {
    for (const name of ['qwen3-coder', 'devstral-small-2507'] as const) {
      const src = bundledTemplate(name);
      const base = parseAnthropicRequest({ ...REQUEST, messages: REQUEST.messages.slice(0, 1) }).prompt;
      const grown = parseAnthropicRequest(REQUEST).prompt;
      const a = renderPrompt({ chatTemplate: 'chatml', chatTemplateSource: src }, base).text;
      const b = renderPrompt({ chatTemplate: 'chatml', chatTemplateSource: src }, grown).text;
      const stable = name === 'qwen3-coder' ? a.slice(0, a.length - '<|im_start|>assistant\n'.length) : a;
      expect(b.startsWith(stable)).toBe(true);
    }
  });

  it('Anthropic prefill continues the last assistant message instead of opening a turn', () => {
    const p = parseAnthropicRequest({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'Sure, ' }] }).prompt;
    const r = renderPrompt({ chatTemplate: 'chatml', chatTemplateSource: bundledTemplate('qwen3-coder') }, p);
    expect(r.text).toBe('<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nSure,');
  });

  it('a template without tool support falls back to the family for tool conversations only', () => {
    const minimal = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    const withTools = renderPrompt({ chatTemplate: 'chatml', chatTemplateSource: minimal }, parseAnthropicRequest(REQUEST).prompt);
    expect(withTools.renderer).toBe('family');
    expect(withTools.text).toContain('<tools>');
    const plain = renderPrompt({ chatTemplate: 'chatml', chatTemplateSource: minimal }, parseAnthropicRequest({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }).prompt);
    expect(plain).toMatchObject({ renderer: 'jinja', text: '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n' });
  });

  it("an error raised by the template is a 400 naming it", async () => {
    // Devstral's template raises on an unknown role; a content block list it does not support is another case.
    const h = createServeHandler({ engine: new FakeEngine({ chatTemplateSource: '{{ raise_exception("roles must alternate") }}' }) });
    const r = await h(new Request('http://x/v1/messages', { method: 'POST', body: JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) }));
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { message: string } }).error.message).toBe("the model's chat template refused this conversation: roles must alternate");
  });
});

describe('tool-call parsing per template family', () => {
  const tools = parseAnthropicRequest(REQUEST).prompt.tools;
  const parse = (format: 'hermes' | 'mistral' | 'glm', chunks: string[]) => {
    const p = new ToolCallStreamParser(tools, format);
    // adjacent text pieces merged (their split depends on the chunking)
    const out: ReturnType<ToolCallStreamParser['push']> = [];
    for (const piece of [...chunks.flatMap((c) => p.push(c)), ...p.end()]) {
      const prev = out[out.length - 1];
      if (piece.type === 'text' && prev?.type === 'text') prev.text += piece.text;
      else out.push({ ...piece });
    }
    return out;
  };
  it('Mistral/Devstral [TOOL_CALLS]NAME[ARGS]{json}, two calls, any chunking', () => {
    const text = 'Let me look.[TOOL_CALLS]Read[ARGS]{"file_path": "/a"}[TOOL_CALLS]Read[ARGS]{"file_path": "/b"}';
    const expected = [
      { type: 'text', text: 'Let me look.' },
      { type: 'tool_call', name: 'Read', arguments: { file_path: '/a' } },
      { type: 'tool_call', name: 'Read', arguments: { file_path: '/b' } },
    ];
    expect(parse('mistral', [text])).toEqual(expected);
    expect(parse('mistral', text.split(''))).toEqual(expected);
  });
  it('Mistral Small 3.x list form and a malformed call passed through as text', () => {
    expect(parse('mistral', ['[TOOL_CALLS] [{"name": "Read", "arguments": {"file_path": "/x"}, "id": "abcdefghi"}]'])).toEqual([{ type: 'tool_call', name: 'Read', arguments: { file_path: '/x' } }]);
    expect(parse('mistral', ['[TOOL_CALLS]Read[ARGS]{broken'])).toEqual([{ type: 'text', text: '[TOOL_CALLS]Read[ARGS]{broken' }]);
  });
  it('GLM <arg_key>/<arg_value> inside <tool_call>', () => {
    expect(parse('glm', ['<tool_call>Read\n<arg_key>file_path</arg_key>\n<arg_value>/etc/hosts</arg_value>\n</tool_call>'])).toEqual([{ type: 'tool_call', name: 'Read', arguments: { file_path: '/etc/hosts' } }]);
  });
});

describe('end to end through trace serve', () => {
  let qwen: Engine;
  let devstral: Engine;
  beforeAll(async () => {
    qwen = await createLlamaEngine({ modelPath: QWEN, cacheBytes: 1 << 24, slots: 1, threads: 1, gpu: false, contextSize: 4096 });
    devstral = await createLlamaEngine({ modelPath: DEVSTRAL, cacheBytes: 1 << 24, slots: 1, threads: 1, gpu: false, contextSize: 4096 });
  });
  afterAll(async () => {
    await qwen?.close();
    await devstral?.close();
  });

  it('count_tokens and generation use the embedded template (tiny byte vocabulary: tokens = bytes, special tokens 1)', async () => {
    expect(qwen.info.chatTemplateSource).toBe(bundledTemplate('qwen3-coder'));
    for (const [engine, expected] of [
      [qwen, QWEN_EXPECTED],
      [devstral, devstralExpected(devstral.info.bosToken!, devstral.info.eosToken!)],
    ] as const) {
      const h = createServeHandler({ engine, maxOutputTokens: 4 });
      const c = (await (await h(new Request('http://x/v1/messages/count_tokens', { method: 'POST', body: JSON.stringify(REQUEST) }))).json()) as { input_tokens: number };
      expect(c.input_tokens).toBe(tinyTokenCount(expected));
      const m = (await (await h(new Request('http://x/v1/messages', { method: 'POST', body: JSON.stringify(REQUEST) }))).json()) as Anthropic.Message;
      expect(m.usage.input_tokens + (m.usage.cache_read_input_tokens ?? 0) + (m.usage.cache_creation_input_tokens ?? 0)).toBe(tinyTokenCount(expected));
    }
    expect(devstral.info.bosToken).toBe('<|endoftext|>');
  });

  it('a Devstral-format call in the output becomes a tool_use block / tool_calls entry', async () => {
    const engine = new FakeEngine({ chatTemplateSource: bundledTemplate('devstral-small-2507'), script: () => 'Let me look.[TOOL_CALLS]Read[ARGS]{"file_path": "/etc/hosts"}' });
    const h = createServeHandler({ engine });
    const a = (await (await h(new Request('http://x/v1/messages', { method: 'POST', body: JSON.stringify({ ...REQUEST, max_tokens: 200 }) }))).json()) as Anthropic.Message;
    expect(a.stop_reason).toBe('tool_use');
    expect(a.content).toMatchObject([{ type: 'text', text: 'Let me look.' }, { type: 'tool_use', name: 'Read', input: { file_path: '/etc/hosts' } }]);
    const o = (await (
      await h(new Request('http://x/v1/chat/completions', { method: 'POST', body: JSON.stringify({ model: 'm', tools: [{ type: 'function', function: { name: 'Read', parameters: REQUEST.tools[0]!.input_schema } }], messages: [{ role: 'user', content: 'Show /etc/hosts' }] }) }))
    ).json()) as { choices: { finish_reason: string; message: { tool_calls: { function: { name: string; arguments: string } }[] } }[] };
    expect(o.choices[0]!.finish_reason).toBe('tool_calls');
    expect(JSON.parse(o.choices[0]!.message.tool_calls[0]!.function.arguments)).toEqual({ file_path: '/etc/hosts' });
    expect(engine.lastPrompt.startsWith('[SYSTEM_PROMPT]')).toBe(true); // Devstral's default system prompt (no system message)
  });
});
