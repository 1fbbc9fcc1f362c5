import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderChat } from '../../src/serve/http/chat-template.js';
import { parseAnthropicRequest } from '../../src/serve/http/anthropic-request.js';
import { parseOpenAiRequest } from '../../src/serve/http/openai-request.js';
import { ThinkSplitter, type ThinkPiece } from '../../src/serve/http/think-splitter.js';
import { ToolCallStreamParser, parseToolCallBody, type ParsedPiece } from '../../src/serve/http/tool-call-parser.js';
import { FIXTURES, HAS_SHARED } from '../helpers/paths.js';

const readTool = { name: 'Read', description: 'Read a file', parameters: { type: 'object', properties: { file_path: { type: 'string' }, limit: { type: 'number' } } } };

function feed(text: string, sizes: number[], tools = [readTool]): ParsedPiece[] {
  const p = new ToolCallStreamParser(tools);
  const out: ParsedPiece[] = [];
  let i = 0;
  let k = 0;
  while (i < text.length) {
    const n = sizes[k++ % sizes.length]!;
    out.push(...p.push(text.slice(i, i + n)));
    i += n;
  }
  out.push(...p.end());
  return out;
}

describe('tool-call parser', () => {
  const text = 'Let me read it.\n<tool_call>\n{"name": "Read", "arguments": {"file_path": "/etc/hosts"}}\n</tool_call>';
  it('parses Hermes/Qwen3 JSON tool calls across any chunking', () => {
    for (const sizes of [[1], [2, 5], [7], [1000]]) {
      const pieces = feed(text, sizes);
      const joined = pieces.filter((p) => p.type === 'text').map((p) => (p as { text: string }).text).join('');
      expect(joined).toBe('Let me read it.');
      expect(pieces.filter((p) => p.type === 'tool_call')).toEqual([{ type: 'tool_call', name: 'Read', arguments: { file_path: '/etc/hosts' } }]);
    }
  });
  it('holds back a partial "<tool_c" and releases it when it is not a tool call', () => {
    const p = new ToolCallStreamParser();
    expect(p.push('a <tool_c')).toEqual([{ type: 'text', text: 'a' }]);
    expect(p.push('ar> ')).toEqual([{ type: 'text', text: ' <tool_car>' }]);
    expect(p.end()).toEqual([{ type: 'text', text: ' ' }]);
  });
  it('parses Qwen3-Coder XML calls, coercing parameters by the tool schema', () => {
    const body = '\n<function=Read>\n<parameter=file_path>\n/a/b.ts\n</parameter>\n<parameter=limit>\n20\n</parameter>\n</function>\n';
    expect(parseToolCallBody(body, [readTool])).toEqual({ name: 'Read', arguments: { file_path: '/a/b.ts', limit: 20 } });
    const pieces = feed(`<tool_call>${body}</tool_call>`, [3]);
    expect(pieces).toEqual([{ type: 'tool_call', name: 'Read', arguments: { file_path: '/a/b.ts', limit: 20 } }]);
  });
  it('parses several calls, string-encoded arguments, and an unterminated call at end of generation', () => {
    const t = '<tool_call>{"name":"A","arguments":"{\\"x\\":1}"}</tool_call>\n<tool_call>{"name":"B","arguments":{}}';
    expect(feed(t, [4])).toEqual([
      { type: 'tool_call', name: 'A', arguments: { x: 1 } },
      { type: 'tool_call', name: 'B', arguments: {} },
    ]);
  });
  it('passes a malformed tool call through as text', () => {
    const pieces = feed('<tool_call>{not json}</tool_call>', [5]);
    expect(pieces).toEqual([{ type: 'text', text: '<tool_call>{not json}</tool_call>' }]);
  });
});

describe('think splitter', () => {
  const run = (text: string, n: number) => {
    const sp = new ThinkSplitter();
    const out: ThinkPiece[] = [];
    for (let i = 0; i < text.length; i += n) out.push(...sp.push(text.slice(i, i + n)));
    out.push(...sp.end());
    const join = (t: string) => out.filter((p) => p.type === t).map((p) => p.text).join('');
    return { thinking: join('thinking'), text: join('text') };
  };
  it('splits a leading <think> section off the answer for any chunking', () => {
    for (const n of [1, 3, 100]) expect(run('<think>\nsome reasoning\n</think>\n\nThe answer.', n)).toEqual({ thinking: 'some reasoning', text: 'The answer.' });
  });
  it('leaves text without a leading <think> untouched', () => {
    for (const n of [1, 4]) expect(run('Hi <think>not reasoning</think>', n)).toEqual({ thinking: '', text: 'Hi <think>not reasoning</think>' });
  });
});

describe('chat template', () => {
  it('renders chatml with Hermes-style tools in the system prompt and tool calls / responses', () => {
    const r = renderChat({
      system: 'Be brief.',
      tools: [readTool],
      turns: [
        { role: 'user', text: 'hi' },
        { role: 'assistant', text: 'ok', toolCalls: [{ id: 't1', name: 'Read', arguments: { file_path: '/x' } }] },
        { role: 'tool', toolCallId: 't1', text: 'contents' },
        { role: 'tool', toolCallId: 't2', text: 'more' },
      ],
    });
    expect(r.text.startsWith('<|im_start|>system\nBe brief.\n\n# Tools\n')).toBe(true);
    expect(r.text).toContain('<tools>\n{"function":{"description":"Read a file","name":"Read"');
    expect(r.text).toContain('<|im_start|>assistant\nok\n<tool_call>\n{"name": "Read", "arguments": {"file_path":"/x"}}\n</tool_call><|im_end|>\n');
    expect(r.text).toContain('<|im_start|>user\n<tool_response>\ncontents\n</tool_response>\n<tool_response>\nmore\n</tool_response><|im_end|>\n');
    expect(r.text.endsWith('<|im_start|>assistant\n')).toBe(true);
    expect(r.templateStops).toContain('<|im_end|>');
  });
  it('continues a trailing assistant turn (Anthropic prefill) but not for OpenAI', () => {
    const prompt = { system: '', tools: [], turns: [{ role: 'user' as const, text: 'q' }, { role: 'assistant' as const, text: 'The answer is', toolCalls: [] }] };
    expect(renderChat(prompt).text.endsWith('<|im_start|>assistant\nThe answer is')).toBe(true);
    expect(renderChat(prompt, 'qwen3', { continueLast: false }).text.endsWith('The answer is<|im_end|>\n<|im_start|>assistant\n')).toBe(true);
  });
  it('maps OpenAI roles (system, user, assistant tool_calls, tool) to the same turns', () => {
    const p = parseOpenAiRequest(
      {
        model: 'm',
        messages: [
          { role: 'system', content: 'S' },
          { role: 'user', content: [{ type: 'text', text: 'u' }, { type: 'image_url', image_url: { url: 'x' } }] },
          { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'Read', arguments: '{"file_path":"/x"}' } }] },
          { role: 'tool', tool_call_id: 'c1', content: 'data' },
        ],
        tools: [{ type: 'function', function: { name: 'Read', parameters: readTool.parameters } }],
      },
      16,
    );
    expect(p.prompt.system).toBe('S');
    expect(p.prompt.turns).toEqual([
      { role: 'user', text: 'u\n[image]' },
      { role: 'assistant', text: '', toolCalls: [{ id: 'c1', name: 'Read', arguments: { file_path: '/x' } }] },
      { role: 'tool', toolCallId: 'c1', name: 'Read', text: 'data' },
    ]);
  });
});

describe.skipIf(!HAS_SHARED)('real Claude Code requests (../shared/fixtures/claude-code)', () => {
  const load = (f: string) => JSON.parse(readFileSync(join(FIXTURES, 'claude-code', f), 'utf8'));
  it('drops the billing line and renders the tool loop append-only (request 1 is a prefix of request 2)', () => {
    const a = parseAnthropicRequest(load('main-tool-first-2.1.197.json'));
    const b = parseAnthropicRequest(load('main-tool-result-2.1.197.json'));
    expect(a.prompt.system).not.toContain('x-anthropic-billing-header');
    expect(a.prompt.tools.length).toBeGreaterThan(10);
    // the in-messages system message is kept in place
    expect(a.prompt.turns.some((t) => t.role === 'system')).toBe(true);
    const ra = renderChat(a.prompt).text;
    const rb = renderChat(b.prompt).text;
    const gen = '<|im_start|>assistant\n';
    expect(ra.endsWith(gen)).toBe(true);
    expect(rb.startsWith(ra)).toBe(true);
    expect(rb).toContain('<tool_response>');
    // a different billing line (another conversation) renders the same prompt
    const other = load('main-tool-first-2.1.197.json');
    other.system[0].text = 'x-anthropic-billing-header: cc_version=9.9.9; cc_entrypoint=cli;';
    expect(renderChat(parseAnthropicRequest(other).prompt).text).toBe(ra);
  });
});
