/**
 * Grammar-constrained tool calls: the GBNF built from the real Claude Code tool definitions parses in
 * node-llama-cpp, and makes a tiny random-weight model emit text that the HTTP layer's parser turns into a valid
 * tool call (name allowed, exactly the required arguments, each of its schema's JSON type).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getLlama, type Llama, type LlamaGrammar } from 'node-llama-cpp';
import { EngineError } from '../../src/shared/errors.js';
import type { Engine } from '../../src/serve/engine.js';
import { ToolCallStreamParser, type ParsedPiece } from '../../src/serve/http/tool-call-parser.js';
import { parseAnthropicRequest } from '../../src/serve/http/anthropic-request.js';
import { createServeHandler } from '../../src/serve/http/server.js';
import { parseOpenAiRequest } from '../../src/serve/http/openai-request.js';
import {
  buildToolGrammar,
  gbnfLiteral,
  grammarForPrompt,
  isFreshUserTurn,
  grammarTools,
  parseChoiceList,
  ToolGrammarError,
  wantsToolGrammar,
  type GrammarTool,
} from '../../src/serve/tool-grammar.js';
import { FIXTURES, HAS_SHARED } from '../helpers/paths.js';
import { ENGINE_SPECS, collect } from './engine-helpers.js';

const FIXTURE = join(FIXTURES, 'claude-code', 'main-tool-first-2.1.197.json');
const tools: GrammarTool[] = HAS_SHARED ? (JSON.parse(readFileSync(FIXTURE, 'utf8')) as { tools: GrammarTool[] }).tools : [];
if (!HAS_SHARED) console.warn(`skipping fixture-based tool-grammar tests: ${FIXTURE} not found (../shared absent)`);

type Schema = { type?: string | string[]; enum?: unknown[]; const?: unknown; properties?: Record<string, Schema>; required?: string[]; items?: Schema; anyOf?: Schema[]; minLength?: number; minimum?: number };

/** Checks a generated value against the subset of JSON Schema the grammar promises; returns problems. */
function check(value: unknown, schema: Schema | undefined, path: string, maxStr = 64): string[] {
  if (!schema) return [];
  if ('const' in schema) return JSON.stringify(value) === JSON.stringify(schema.const) ? [] : [`${path}: not const`];
  if (schema.enum) return schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value)) ? [] : [`${path}: ${JSON.stringify(value)} not in enum`];
  if (schema.anyOf) return schema.anyOf.some((s) => check(value, s, path, maxStr).length === 0) ? [] : [`${path}: matches no anyOf branch`];
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  if (types.length > 1) return types.some((t) => check(value, { ...schema, type: t }, path, maxStr).length === 0) ? [] : [`${path}: none of ${types}`];
  switch (types[0]) {
    case 'string':
      if (typeof value !== 'string') return [`${path}: not a string`];
      if (value.length > maxStr || value.length < Math.min(schema.minLength ?? 0, maxStr)) return [`${path}: length ${value.length}`];
      return [];
    case 'integer':
      return Number.isInteger(value) && !(typeof schema.minimum === 'number' && (value as number) < schema.minimum && schema.minimum >= 0) ? [] : [`${path}: not an integer`];
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? [] : [`${path}: not a number`];
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${path}: not a boolean`];
    case 'array':
      return Array.isArray(value) ? value.flatMap((v, i) => check(v, schema.items, `${path}[${i}]`, maxStr)) : [`${path}: not an array`];
    case 'object': {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return [`${path}: not an object`];
      const o = value as Record<string, unknown>;
      const req = schema.required ?? [];
      const problems = req.filter((k) => !(k in o)).map((k) => `${path}.${k}: missing`);
      problems.push(...Object.keys(o).filter((k) => !req.includes(k)).map((k) => `${path}.${k}: not required, should be omitted`));
      for (const k of req) if (k in o) problems.push(...check(o[k], schema.properties?.[k], `${path}.${k}`, maxStr));
      return problems;
    }
    default:
      return [];
  }
}

function parseAll(text: string, toolList: GrammarTool[]): ParsedPiece[] {
  const p = new ToolCallStreamParser(toolList.map((t) => ({ name: t.name, parameters: t.input_schema })));
  // Feed in small chunks, as a stream would arrive.
  const out: ParsedPiece[] = [];
  for (let i = 0; i < text.length; i += 3) out.push(...p.push(text.slice(i, i + 3)));
  out.push(...p.end());
  return out;
}

describe('buildToolGrammar (text)', () => {
  it('escapes GBNF literals', () => {
    expect(gbnfLiteral('a"b\\c\nd\te')).toBe('"a\\"b\\\\c\\nd\\te"');
    expect(gbnfLiteral('\u0001')).toBe('"\\x01"');
  });

  it.skipIf(!HAS_SHARED)('offers every fixture tool by default, or only allowedTools', () => {
    const all = buildToolGrammar(tools);
    for (const t of tools) expect(all).toContain(gbnfLiteral(JSON.stringify(t.name)));
    expect(all.startsWith('root ::= "<tool_call>\\n{\\"name\\": " call "}\\n</tool_call>"')).toBe(true);
    const some = buildToolGrammar(tools, { allowedTools: ['Read', 'Agent', 'NoSuchTool'] });
    expect(grammarTools(tools, ['Read', 'Agent', 'NoSuchTool']).map((t) => t.name).sort()).toEqual(['Agent', 'Read']);
    expect(some).toContain('"\\"Read\\""');
    expect(some).toContain('"\\"Agent\\""');
    expect(some).not.toContain('"\\"Bash\\""');
    expect(() => buildToolGrammar(tools, { allowedTools: ['NoSuchTool'] })).toThrow(ToolGrammarError);
    expect(() => buildToolGrammar([])).toThrow(ToolGrammarError);
  });

  it('string choices apply by property name or Tool.property (the latter wins)', () => {
    const t: GrammarTool[] = [{ name: 'Read', input_schema: { type: 'object', properties: { file_path: { type: 'string' } }, required: ['file_path'] } }];
    expect(buildToolGrammar(t, { stringChoices: { file_path: ['/a', '/b'] } })).toContain('("\\"/a\\"" | "\\"/b\\"")');
    const g = buildToolGrammar(t, { stringChoices: { file_path: ['/a'], 'Read.file_path': ['/c'] } });
    expect(g).toContain('("\\"/c\\"")');
    expect(g).not.toContain('/a');
  });

  it('decides when to constrain', () => {
    expect(wantsToolGrammar('off', true, true)).toBe(false);
    expect(wantsToolGrammar('first', true, true)).toBe(true);
    expect(wantsToolGrammar('first', true, false)).toBe(false);
    expect(wantsToolGrammar('first', false, true)).toBe(false);
    expect(wantsToolGrammar('always', true, false)).toBe(true);
    expect(wantsToolGrammar('always', false, false)).toBe(false);
    expect(parseChoiceList('/a/hello.txt\n\n  /b c.txt \r\n/a/hello.txt\n')).toEqual(['/a/hello.txt', '/b c.txt']);
  });
});

describe('which requests get the grammar', () => {
  const fixture = (name: string) => parseAnthropicRequest(JSON.parse(readFileSync(join(FIXTURES, 'claude-code', name), 'utf8'))).prompt;

  it('isFreshUserTurn: a user turn with no tool result since the last assistant turn', () => {
    expect(isFreshUserTurn([{ role: 'user' }])).toBe(true);
    expect(isFreshUserTurn([{ role: 'user' }, { role: 'assistant' }, { role: 'user' }, { role: 'system' }])).toBe(true);
    expect(isFreshUserTurn([{ role: 'user' }, { role: 'assistant' }, { role: 'tool' }])).toBe(false);
    expect(isFreshUserTurn([{ role: 'user' }, { role: 'assistant' }, { role: 'tool' }, { role: 'user' }])).toBe(false);
    expect(isFreshUserTurn([{ role: 'user' }, { role: 'assistant' }])).toBe(false);
    expect(isFreshUserTurn([])).toBe(false);
  });

  it.skipIf(!HAS_SHARED)('real Claude Code requests: first constrains the prompt, not the tool-result follow-up; always constrains both', () => {
    const first = fixture('main-tool-first-2.1.197.json');
    const followUp = fixture('main-tool-result-2.1.197.json');
    const cfg = { mode: 'first' as const, allowedTools: ['Read'], stringChoices: { file_path: ['/p/hello.txt'] } };
    const g = grammarForPrompt(cfg, first);
    expect(g).toContain('"\\"Read\\""');
    expect(g).toContain('/p/hello.txt');
    expect(grammarForPrompt(cfg, followUp)).toBeUndefined();
    expect(grammarForPrompt({ ...cfg, mode: 'always' }, followUp)).toBe(g);
    expect(grammarForPrompt({ ...cfg, mode: 'off' }, first)).toBeUndefined();
    expect(grammarForPrompt({ mode: 'first', allowedTools: ['NoSuchTool'] }, first)).toBeUndefined();
    expect(grammarForPrompt(cfg, fixture('title-haiku-2.1.197.json'))).toBeUndefined(); // no tools
    expect(grammarForPrompt(cfg, { ...first, turns: [...first.turns, { role: 'assistant' as const, text: 'I', toolCalls: [] }] })).toBeUndefined(); // prefill
  });

  it('OpenAI requests: a trailing tool message is a tool result', () => {
    const tools = [{ type: 'function', function: { name: 'Read', parameters: { type: 'object', properties: { file_path: { type: 'string' } }, required: ['file_path'] } } }];
    const ask = parseOpenAiRequest({ model: 'm', tools, messages: [{ role: 'user', content: 'read it' }] }, 64).prompt;
    const answer = parseOpenAiRequest({
      model: 'm',
      tools,
      messages: [
        { role: 'user', content: 'read it' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'Read', arguments: '{"file_path":"/x"}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'hello' },
      ],
    }, 64).prompt;
    expect(grammarForPrompt({ mode: 'first' }, ask)).toMatch(/^root ::= /);
    expect(grammarForPrompt({ mode: 'first' }, answer)).toBeUndefined();
    expect(grammarForPrompt({ mode: 'always' }, answer)).toMatch(/^root ::= /);
  });
});

describe('grammar in node-llama-cpp', () => {
  let llama: Llama;
  beforeAll(async () => {
    llama = await getLlama({ gpu: false, build: 'never' });
  });
  afterAll(async () => {
    await llama?.dispose();
  });
  /** node-llama-cpp's own (internal) check: does the grammar accept this complete text? */
  const accepts = (g: LlamaGrammar, text: string): boolean => (g as unknown as { _testText(t: string): boolean })._testText(text);

  it.skipIf(!HAS_SHARED)('the grammar for all fixture tools parses (createGrammar does not throw)', async () => {
    const g = await llama.createGrammar({ grammar: buildToolGrammar(tools) });
    expect(g.grammar).toContain('root ::=');
  });

  it('rejects malformed GBNF (so an invalid grammar can never mean unconstrained output)', async () => {
    await expect(llama.createGrammar({ grammar: 'root ::= (' })).rejects.toThrow();
  });

  it.skipIf(!HAS_SHARED)('accepts exactly the Hermes call shape with required args of the right types', async () => {
    const g = await llama.createGrammar({ grammar: buildToolGrammar(tools, { allowedTools: ['Read', 'TaskOutput', 'ExitWorktree', 'TaskList'] }) });
    if (typeof (g as unknown as { _testText?: unknown })._testText !== 'function') return void console.warn('node-llama-cpp has no _testText; acceptance checks skipped');
    const call = (name: string, args: string) => `<tool_call>\n{"name": "${name}", "arguments": ${args}}\n</tool_call>`;
    expect(accepts(g, call('Read', '{"file_path": "/tmp/hello.txt"}'))).toBe(true);
    expect(accepts(g, call('TaskOutput', '{"task_id": "t1", "block": false, "timeout": 1500}'))).toBe(true);
    expect(accepts(g, call('ExitWorktree', '{"action": "keep"}'))).toBe(true);
    expect(accepts(g, call('TaskList', '{}'))).toBe(true);
    expect(accepts(g, call('Bash', '{"command": "ls"}'))).toBe(false); // not allowed
    expect(accepts(g, call('Read', '{}'))).toBe(false); // required missing
    expect(accepts(g, call('Read', '{"file_path": "/x", "offset": 1}'))).toBe(false); // optional property included
    expect(accepts(g, call('Read', '{"file_path": 7}'))).toBe(false); // wrong type
    expect(accepts(g, call('TaskOutput', '{"task_id": "t1", "block": "yes", "timeout": 1}'))).toBe(false);
    expect(accepts(g, call('ExitWorktree', '{"action": "drop"}'))).toBe(false); // not in enum
    expect(accepts(g, call('Read', `{"file_path": "${'a'.repeat(65)}"}`))).toBe(false); // string bound
    expect(accepts(g, call('Read', '{"file_path": "</tool_call>"}'))).toBe(false);
    expect(accepts(g, 'Sure! ' + call('Read', '{"file_path": "/x"}'))).toBe(false);
  });
});

describe('a tiny random model under the grammar (llama engine)', () => {
  let engine: Engine;
  let prompt: number[];
  beforeAll(async () => {
    engine = await ENGINE_SPECS.find((s) => s.name === 'llama')!.make(1 << 30);
    prompt = await engine.tokenize('<|im_start|>system\nYou can call tools.<|im_end|>\n<|im_start|>user\nRead the file.<|im_end|>\n<|im_start|>assistant\n');
  });
  afterAll(async () => {
    await engine?.close();
  });

  it.skipIf(!HAS_SHARED)('every sample parses into a valid tool call of an allowed tool (all fixture tools, several seeds)', async () => {
    const grammar = buildToolGrammar(tools);
    const names = new Set<string>();
    for (let seed = 1; seed <= 8; seed++) {
      const r = await collect(engine, { promptTokens: prompt, maxTokens: 1500, temperature: 1, seed, grammar });
      expect(r.done.stopReason, r.text).toBe('stop'); // the grammar completed; generation ended by itself
      const pieces = parseAll(r.text, tools);
      expect(pieces, r.text).toHaveLength(1);
      const call = pieces[0]!;
      if (call.type !== 'tool_call') throw new Error(`not a tool call: ${r.text}`);
      const tool = tools.find((t) => t.name === call.name);
      expect(tool, call.name).toBeDefined();
      expect(check(call.arguments, tool!.input_schema as Schema, call.name)).toEqual([]);
      names.add(call.name);
    }
    console.log(`[measured] tools the random model picked over 8 seeds: ${[...names].join(', ')}`);
  }, 120_000);

  it.skipIf(!HAS_SHARED)('allowedTools + file_path choices make it call Read on an existing path (greedy and sampled)', async () => {
    const paths = ['/tmp/project/hello.txt', '/tmp/project/other file.md'];
    const grammar = buildToolGrammar(tools, { allowedTools: ['Read'], stringChoices: { file_path: paths } });
    for (const [temperature, seed] of [[0, 1], [1, 2], [1, 3]] as const) {
      const r = await collect(engine, { promptTokens: prompt, maxTokens: 200, temperature, seed, grammar });
      const [call, ...rest] = parseAll(r.text, tools);
      expect(rest).toEqual([]);
      expect(call).toMatchObject({ type: 'tool_call', name: 'Read' });
      const args = (call as Extract<ParsedPiece, { type: 'tool_call' }>).arguments;
      expect(Object.keys(args)).toEqual(['file_path']);
      expect(paths).toContain(args.file_path);
      expect(r.done.outputTokens).toBe((await engine.tokenize(r.text)).length);
    }
  }, 60_000);

  it('a grammar does not change prefill reuse: cachedTokens is the same with and without it', async () => {
    const grammar = buildToolGrammar([{ name: 'Ping', input_schema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] } }]);
    const base = await engine.tokenize('<|im_start|>system\n' + 'Cache me. '.repeat(30) + '<|im_end|>\n<|im_start|>user\n');
    const a = [...base, ...(await engine.tokenize('first<|im_end|>\n<|im_start|>assistant\n'))];
    const b = [...base, ...(await engine.tokenize('second<|im_end|>\n<|im_start|>assistant\n'))];
    await collect(engine, { promptTokens: a, maxTokens: 4, temperature: 0 }); // cold: fills a slot
    const gramA = await collect(engine, { promptTokens: a, maxTokens: 100, temperature: 0, grammar });
    const plainA = await collect(engine, { promptTokens: a, maxTokens: 4, temperature: 0 });
    const gramB = await collect(engine, { promptTokens: b, maxTokens: 100, temperature: 0, grammar });
    const plainB = await collect(engine, { promptTokens: b, maxTokens: 4, temperature: 0 });
    // A repeated prompt reuses everything but its last token whether the request or its predecessor had a grammar.
    expect(gramA.done.cachedTokens).toBe(a.length - 1);
    expect(plainA.done.cachedTokens).toBe(a.length - 1);
    expect(plainB.done.cachedTokens).toBe(b.length - 1);
    // A different question after the same system prompt reuses the shared prefix under a grammar too.
    expect(gramB.done.cachedTokens).toBeGreaterThanOrEqual(base.length);
    expect(gramB.done.cachedTokens).toBeLessThan(b.length - 1);
    expect(gramA.text).toMatch(/^<tool_call>\n\{"name": "Ping", "arguments": \{"n": -?\d+\}\}\n<\/tool_call>$/);
    expect(gramA.done.stopReason).toBe('stop');
  }, 60_000);

  it('max tokens still cuts a grammar-constrained reply (stopReason length)', async () => {
    const grammar = buildToolGrammar([{ name: 'Read', input_schema: { type: 'object', properties: { file_path: { type: 'string' } }, required: ['file_path'] } }]);
    const r = await collect(engine, { promptTokens: prompt, maxTokens: 5, temperature: 0, grammar });
    expect(r.done.stopReason).toBe('length');
    expect(r.text).toBe('<tool');
  });

  it('an invalid grammar is an EngineError before anything is generated', async () => {
    await expect(collect(engine, { promptTokens: prompt, maxTokens: 5, grammar: 'root ::= (' })).rejects.toBeInstanceOf(EngineError);
  });
});

describe('HTTP layer wiring (in-process handler, tiny llama engine)', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await ENGINE_SPECS.find((s) => s.name === 'llama')!.make(1 << 30);
  });
  afterAll(async () => {
    await engine?.close();
  });
  const readTool = { name: 'Read', description: 'Read a file', input_schema: { type: 'object', properties: { file_path: { type: 'string' }, limit: { type: 'integer' } }, required: ['file_path'] } };
  const bashTool = { name: 'Bash', description: 'Run a command', input_schema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] } };
  const post = (h: (r: Request) => Promise<Response>, path: string, body: unknown) =>
    h(new Request(`http://x${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }));
  const handler = (mode: 'first' | 'always') =>
    createServeHandler({ engine, slots: 1, maxOutputTokens: 150, toolGrammar: { mode, allowedTools: ['Read'], stringChoices: { file_path: ['/w/hello.txt'] } } });

  it('Anthropic /v1/messages: first → a tool_use for Read; the reply to its tool_result is free text', async () => {
    const h = handler('first');
    const ask = { model: 'tiny', max_tokens: 400, tools: [bashTool, readTool], messages: [{ role: 'user', content: 'Read hello.txt' }] };
    const r1 = (await (await post(h, '/v1/messages', ask)).json()) as { stop_reason: string; content: { type: string; id?: string; name?: string; input?: unknown }[] };
    expect(r1.stop_reason).toBe('tool_use');
    expect(r1.content).toEqual([{ type: 'tool_use', id: expect.stringMatching(/^toolu_/), name: 'Read', input: { file_path: '/w/hello.txt' } }]);
    const follow = {
      ...ask,
      messages: [...ask.messages, { role: 'assistant', content: r1.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: r1.content[0]!.id, content: 'hi' }] }],
    };
    const r2 = (await (await post(h, '/v1/messages', follow)).json()) as { stop_reason: string; content: { type: string }[]; usage: { cache_read_input_tokens: number } };
    // Unconstrained noise from the random model, ended by the server cap.
    expect(r2.content.filter((b) => b.type === 'tool_use')).toEqual([]);
    expect(r2.stop_reason).toBe('end_turn');
    // The constrained first turn was cached like any other: the follow-up reads the shared prefix.
    expect(r2.usage.cache_read_input_tokens).toBeGreaterThan(0);
  }, 60_000);

  it('OpenAI /v1/chat/completions (streaming): always → tool_calls even after a tool result', async () => {
    const h = handler('always');
    const tools = [readTool].map((t) => ({ type: 'function', function: { name: t.name, description: t.description, parameters: t.input_schema } }));
    const body = {
      model: 'tiny',
      max_tokens: 400,
      stream: true,
      tools,
      messages: [
        { role: 'user', content: 'read it' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'Read', arguments: '{"file_path":"/w/hello.txt"}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'hi' },
      ],
    };
    const text = await (await post(h, '/v1/chat/completions', body)).text();
    const chunks = text.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)) as { choices: { delta: { tool_calls?: { function: { name?: string; arguments?: string } }[] }; finish_reason: string | null }[] });
    const calls = chunks.flatMap((c) => c.choices.flatMap((ch) => ch.delta.tool_calls ?? []));
    expect(calls.map((c) => c.function.name).filter(Boolean)).toEqual(['Read']);
    expect(JSON.parse(calls.map((c) => c.function.arguments ?? '').join(''))).toEqual({ file_path: '/w/hello.txt' });
    expect(chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).filter(Boolean)).toEqual(['tool_calls']);
  }, 60_000);
});

describe('mlx engine', () => {
  it('rejects a grammar request with a clear EngineError (mlx-lm has no GBNF sampler)', async () => {
    const engine = await ENGINE_SPECS.find((s) => s.name === 'mlx')!.make(1 << 20);
    try {
      const ids = await engine.tokenize('hello');
      await expect(collect(engine, { promptTokens: ids, maxTokens: 2, grammar: 'root ::= "a"' })).rejects.toThrow(/not supported/);
    } finally {
      await engine.close();
    }
  }, 60_000);
});
