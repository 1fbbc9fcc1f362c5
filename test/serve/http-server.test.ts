import { describe, expect, it } from 'vitest';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { createServeHandler } from '../../src/serve/http/server.js';
import { listen } from '../../src/serve/listen.js';
import { parseSse } from '../../src/shared/sse.js';
import { FakeEngine } from './http-fake-engine.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, HAS_SHARED } from '../helpers/paths.js';

const BASE = 'http://serve.test';
const TOOL_TEXT = 'Checking.\n<tool_call>\n{"name": "Read", "arguments": {"file_path": "/etc/hosts", "limit": 3}}\n</tool_call>';
const readToolA = { name: 'Read', description: 'Read a file', input_schema: { type: 'object', properties: { file_path: { type: 'string' }, limit: { type: 'number' } }, required: ['file_path'] } };
const readToolO = { type: 'function' as const, function: { name: 'Read', description: 'Read a file', parameters: readToolA.input_schema } };

function post(handler: (r: Request) => Promise<Response>, path: string, body: unknown, init: RequestInit = {}) {
  return handler(new Request(BASE + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...init }));
}
const fetchVia = (handler: (r: Request) => Promise<Response>) => ((url: string | URL | Request, init?: RequestInit) => handler(new Request(url, init))) as typeof fetch;

/** Yields to the event loop until the in-process handler reaches a state (no wall-clock sleeps); fails if it never does. */
async function turnsUntil(cond: () => boolean, maxTurns = 10_000): Promise<void> {
  for (let i = 0; i < maxTurns && !cond(); i++) await new Promise((r) => setImmediate(r));
  expect(cond()).toBe(true);
}

describe('Anthropic /v1/messages', () => {
  it('streams SSE frames exactly as the API does, one text_delta per engine token, with real usage', async () => {
    const engine = new FakeEngine({ script: () => 'Hi,there!' });
    const h = createServeHandler({ engine });
    const res = await post(h, '/v1/messages', { model: 'claude-x', max_tokens: 50, stream: true, system: 'S', messages: [{ role: 'user', content: 'hello' }] });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const raw = await res.text();
    // every frame is `event: X\ndata: {...}\n\n` with X equal to data.type
    for (const frame of raw.split('\n\n').filter(Boolean)) {
      const m = /^event: (\w+)\ndata: (.*)$/s.exec(frame);
      expect(m).not.toBeNull();
      expect(JSON.parse(m![2]!).type).toBe(m![1]);
    }
    const events = parseSse(raw).map((e) => JSON.parse(e.data));
    expect(events.map((e) => e.type)).toEqual([
      'message_start', 'ping', 'content_block_start',
      ...Array(9).fill('content_block_delta'),
      'content_block_stop', 'message_delta', 'message_stop',
    ]);
    const promptLen = engine.lastPrompt.length;
    expect(events[0].message.model).toBe('claude-x');
    expect(events[0].message.usage).toMatchObject({ input_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: promptLen });
    expect(events.filter((e) => e.type === 'content_block_delta').map((e) => e.delta.text).join('')).toBe('Hi,there!');
    const md = events.find((e) => e.type === 'message_delta');
    expect(md.delta).toEqual({ stop_reason: 'end_turn', stop_sequence: null });
    expect(md.usage.output_tokens).toBe(9);
  });

  it('a second request sharing the prefix reads it from the cache (engine counts, Anthropic fields)', async () => {
    const engine = new FakeEngine({ script: () => 'ok' });
    const h = createServeHandler({ engine });
    const system = 'You are a helpful assistant. '.repeat(80);
    const ask = async (q: string) => (await (await post(h, '/v1/messages', { model: 'm', max_tokens: 5, system, messages: [{ role: 'user', content: q }] })).json()) as Anthropic.Message;
    const a = await ask('first question');
    const b = await ask('second question');
    const prefix = engine.prompts[0]!.indexOf('first question');
    expect(a.usage.cache_read_input_tokens).toBe(0);
    expect(a.usage.cache_creation_input_tokens).toBe(engine.prompts[0]!.length);
    expect(b.usage.cache_read_input_tokens).toBeGreaterThanOrEqual(prefix);
    expect(b.usage.input_tokens + b.usage.cache_read_input_tokens! + b.usage.cache_creation_input_tokens!).toBe(engine.prompts[1]!.length);
  });

  it('with caching disabled reports no cache creation and all prompt tokens as input', async () => {
    const engine = new FakeEngine({ script: () => 'ok', cacheBytes: 0 });
    const h = createServeHandler({ engine });
    const body = { model: 'm', max_tokens: 5, system: 'x'.repeat(500), messages: [{ role: 'user', content: 'q' }] };
    await post(h, '/v1/messages', body);
    const b = (await (await post(h, '/v1/messages', body)).json()) as Anthropic.Message;
    expect(b.usage).toEqual({ input_tokens: engine.prompts[1]!.length, cache_read_input_tokens: 0, cache_creation_input_tokens: 0, output_tokens: 2 });
  });

  it('parses with the official SDK stream parser, including tool_use from a generated tool call', async () => {
    const engine = new FakeEngine({ script: () => TOOL_TEXT });
    const client = new Anthropic({ apiKey: 'test', baseURL: BASE, fetch: fetchVia(createServeHandler({ engine })), maxRetries: 0 });
    const stream = client.messages.stream({ model: 'claude-x', max_tokens: 400, tools: [readToolA as Anthropic.Tool], messages: [{ role: 'user', content: 'read hosts' }] });
    const deltas: string[] = [];
    stream.on('text', (t) => deltas.push(t));
    const msg = await stream.finalMessage();
    expect(deltas.length).toBe('Checking.'.length);
    expect(msg.stop_reason).toBe('tool_use');
    expect(msg.content[0]).toMatchObject({ type: 'text', text: 'Checking.' });
    expect(msg.content[1]).toMatchObject({ type: 'tool_use', name: 'Read', input: { file_path: '/etc/hosts', limit: 3 } });
    expect((msg.content[1] as Anthropic.ToolUseBlock).id).toMatch(/^toolu_/);
    expect(engine.lastPrompt).toContain('<tools>');
    // non-streaming through the SDK, and the tool_result turn goes back in
    const tu = msg.content[1] as Anthropic.ToolUseBlock;
    const msg2 = await client.messages.create({
      model: 'claude-x',
      max_tokens: 400,
      tools: [readToolA as Anthropic.Tool],
      messages: [
        { role: 'user', content: 'read hosts' },
        { role: 'assistant', content: msg.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: tu.id, content: '127.0.0.1 localhost' }] },
      ],
    });
    expect(msg2.content.map((c) => c.type)).toEqual(['text', 'tool_use']);
    expect(engine.lastPrompt).toContain('<tool_response>\n127.0.0.1 localhost\n</tool_response>');
    expect(msg2.usage.cache_read_input_tokens).toBeGreaterThan(engine.prompts[0]!.length - 1);
  });

  it('maps leading <think> output to a thinking block when thinking is enabled (and to reasoning_content for OpenAI)', async () => {
    const engine = new FakeEngine({ script: () => '<think>\nhmm\n</think>\n\nDone.' });
    const h = createServeHandler({ engine });
    const client = new Anthropic({ apiKey: 'test', baseURL: BASE, fetch: fetchVia(h), maxRetries: 0 });
    const msg = await client.messages.stream({ model: 'm', max_tokens: 100, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: 'q' }] }).finalMessage();
    expect(msg.content).toEqual([
      { type: 'thinking', thinking: 'hmm', signature: '' },
      { type: 'text', text: 'Done.', citations: null },
    ].map((b) => (b.type === 'text' ? expect.objectContaining({ type: 'text', text: 'Done.' }) : b)));
    const plain = (await (await post(h, '/v1/messages', { model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'q' }] })).json()) as Anthropic.Message;
    expect(plain.content).toEqual([{ type: 'text', text: '<think>\nhmm\n</think>\n\nDone.' }]);
    const oa = (await (await post(h, '/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'q' }] })).json()) as { choices: { message: { content: string; reasoning_content?: string } }[] };
    expect(oa.choices[0]!.message).toMatchObject({ content: 'Done.', reasoning_content: 'hmm' });
  });

  it('does not turn <tool_call> text into tool_use when the request has no tools', async () => {
    const h = createServeHandler({ engine: new FakeEngine({ script: () => TOOL_TEXT }) });
    const m = (await (await post(h, '/v1/messages', { model: 'm', max_tokens: 400, messages: [{ role: 'user', content: 'q' }] })).json()) as Anthropic.Message;
    expect(m.content).toEqual([{ type: 'text', text: TOOL_TEXT }]);
    expect(m.stop_reason).toBe('end_turn');
  });

  it('maps max_tokens and user stop_sequences to the right stop_reason', async () => {
    const h = createServeHandler({ engine: new FakeEngine({ script: () => 'one two three' }) });
    const a = (await (await post(h, '/v1/messages', { model: 'm', max_tokens: 3, messages: [{ role: 'user', content: 'q' }] })).json()) as Anthropic.Message;
    expect(a.stop_reason).toBe('max_tokens');
    expect(a.usage.output_tokens).toBe(3);
    const b = (await (await post(h, '/v1/messages', { model: 'm', max_tokens: 50, stop_sequences: ['two'], messages: [{ role: 'user', content: 'q' }] })).json()) as Anthropic.Message;
    expect(b).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: 'two' });
  });

  it('rejects bad input with 400 in the Anthropic error shape; count_tokens counts the rendered prompt', async () => {
    const engine = new FakeEngine();
    const h = createServeHandler({ engine });
    for (const body of [{ model: 'm', messages: [{ role: 'user', content: 'q' }] }, { model: 'm', max_tokens: 5, messages: [{ role: 'bot', content: 'q' }] }, { max_tokens: 5, messages: [] }]) {
      const r = await post(h, '/v1/messages', body);
      expect(r.status).toBe(400);
      const j = (await r.json()) as { type: string; error: { type: string; message: string } };
      expect(j.type).toBe('error');
      expect(j.error.type).toBe('invalid_request_error');
      expect(j.error.message.length).toBeGreaterThan(0);
    }
    const bad = await h(new Request(BASE + '/v1/messages', { method: 'POST', body: '{nope' }));
    expect(bad.status).toBe(400);
    const c = (await (await post(h, '/v1/messages/count_tokens', { model: 'm', messages: [{ role: 'user', content: 'hello' }] })).json()) as { input_tokens: number };
    expect(c.input_tokens).toBe('<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n'.length);
    const long = await post(h, '/v1/messages', { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'x'.repeat(200_000) }] });
    expect(long.status).toBe(400);
  });
});

describe('OpenAI /v1/chat/completions', () => {
  it('streams chunks the openai SDK parses: role first, content per token, finish_reason, usage chunk, [DONE]', async () => {
    const engine = new FakeEngine({ script: () => 'Hey' });
    const h = createServeHandler({ engine });
    const res = await post(h, '/v1/chat/completions', { model: 'qwen', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
    const raw = await res.text();
    expect(raw.endsWith('data: [DONE]\n\n')).toBe(true);
    const chunks = parseSse(raw).filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0].id && typeof c.created === 'number' && c.model === 'qwen')).toBe(true);
    expect(chunks.slice(1, 4).map((c) => c.choices[0].delta.content)).toEqual(['H', 'e', 'y']);
    expect(chunks[4].choices[0]).toMatchObject({ index: 0, finish_reason: 'stop' });
    expect(chunks[5]).toMatchObject({ choices: [], usage: { prompt_tokens: engine.lastPrompt.length, completion_tokens: 3, prompt_tokens_details: { cached_tokens: 0 } } });

    const client = new OpenAI({ apiKey: 'x', baseURL: BASE + '/v1', fetch: fetchVia(h), maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'qwen', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      if (c.usage) usage = c.usage;
    }
    expect(text).toBe('Hey');
    expect(usage?.prompt_tokens_details?.cached_tokens).toBeGreaterThan(0);
  });

  it('streams tool calls with stable index and id (name first, then argument pieces) that the SDK accumulates', async () => {
    const engine = new FakeEngine({ script: () => TOOL_TEXT + '\n<tool_call>\n{"name": "Read", "arguments": {"file_path": "/b"}}\n</tool_call>' });
    const h = createServeHandler({ engine });
    const client = new OpenAI({ apiKey: 'x', baseURL: BASE + '/v1', fetch: fetchVia(h), maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'qwen', stream: true, tools: [readToolO], messages: [{ role: 'user', content: 'read' }] });
    const calls: { id?: string; name: string; args: string }[] = [];
    let finish: string | null = null;
    for await (const c of stream) {
      const ch = c.choices[0];
      if (!ch) continue;
      for (const tc of ch.delta.tool_calls ?? []) {
        if (tc.id) {
          expect(tc.index).toBe(calls.length);
          calls.push({ id: tc.id, name: tc.function?.name ?? '', args: tc.function?.arguments ?? '' });
        } else calls[tc.index]!.args += tc.function?.arguments ?? '';
      }
      finish = ch.finish_reason ?? finish;
    }
    expect(finish).toBe('tool_calls');
    expect(calls.map((c) => [c.name, JSON.parse(c.args)])).toEqual([
      ['Read', { file_path: '/etc/hosts', limit: 3 }],
      ['Read', { file_path: '/b' }],
    ]);
    expect(new Set(calls.map((c) => c.id)).size).toBe(2);
    // the SDK's own stream helper assembles the same completion
    const done = await client.chat.completions.stream({ model: 'qwen', tools: [readToolO], messages: [{ role: 'user', content: 'read' }] }).finalChatCompletion();
    expect(done.choices[0]!.message.tool_calls?.map((t) => (t.type === 'function' ? t.function.name : ''))).toEqual(['Read', 'Read']);
    // non-streaming: a tool role round trip
    const res = await client.chat.completions.create({
      model: 'qwen',
      tools: [readToolO],
      messages: [
        { role: 'user', content: 'read' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'Read', arguments: '{"file_path":"/b"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: 'file body' },
      ],
    });
    expect(res.choices[0]!.finish_reason).toBe('tool_calls');
    expect(res.usage?.prompt_tokens).toBe(engine.lastPrompt.length);
    expect(engine.lastPrompt).toContain('<tool_response>\nfile body\n</tool_response>');
  });

  it('rejects bad input with 400 in the OpenAI error shape', async () => {
    const h = createServeHandler({ engine: new FakeEngine() });
    const r = await post(h, '/v1/chat/completions', { model: 'm', messages: [] });
    expect(r.status).toBe(400);
    const j = (await r.json()) as { error: Record<string, unknown> };
    expect(Object.keys(j.error).sort()).toEqual(['code', 'message', 'param', 'type']);
    expect(j.error.type).toBe('invalid_request_error');
    expect(j.error.param).toBe('messages');
  });
});

describe('queue, disconnects, metrics, models', () => {
  it('streams tokens while generation is still running (both APIs, over a real socket)', async () => {
    for (const [path, body] of [
      ['/v1/messages', { model: 'm', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'q' }] }],
      ['/v1/chat/completions', { model: 'm', stream: true, messages: [{ role: 'user', content: 'q' }] }],
    ] as const) {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let reachedGate = false;
      const engine = new FakeEngine({ script: () => 'abcdef', midGate: { afterTokens: 3, wait: () => ((reachedGate = true), held) } });
      const server = await listen(createServeHandler({ engine }), { port: 0 });
      try {
        const res = await fetch(server.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        const reader = res.body!.getReader();
        const dec = new TextDecoder();
        let seen = '';
        // read until the first three tokens arrived, while the engine is parked after token 3
        while (!/"(text|content)":"c"/.test(seen)) {
          const { value, done } = await reader.read();
          expect(done).toBe(false);
          seen += dec.decode(value);
        }
        expect(reachedGate).toBe(true);
        expect(seen).not.toMatch(/"(text|content)":"d"/);
        release();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          seen += dec.decode(value);
        }
        expect(seen).toMatch(/"(text|content)":"f"/);
      } finally {
        await server.close();
      }
    }
  });

  it('a client that closes the socket mid-stream aborts the generation (node:http adapter)', async () => {
    const engine = new FakeEngine({ script: () => 'y'.repeat(100_000) });
    const h = createServeHandler({ engine });
    const server = await listen(h, { port: 0 });
    try {
      const ac = new AbortController();
      const res = await fetch(server.url + '/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', stream: true, max_tokens: 100_000, messages: [{ role: 'user', content: 'q' }] }), signal: ac.signal });
      const reader = res.body!.getReader();
      await reader.read();
      await reader.read();
      ac.abort();
      for (let i = 0; i < 2000 && engine.aborted === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(engine.aborted).toBe(1);
      for (let i = 0; i < 2000 && h.queue.active > 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(h.queue.active).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('refuses requests beyond --max-queue with 529 (Anthropic) / 503 (OpenAI) and serves the queued ones', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const engine = new FakeEngine({ script: () => 'ok', gate: () => gate });
    const h = createServeHandler({ engine, slots: 1, maxQueue: 1 });
    const body = { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'q' }] };
    const first = post(h, '/v1/messages', body); // runs (held by the gate)
    await turnsUntil(() => h.queue.active === 1);
    const second = post(h, '/v1/messages', body); // waits in the queue
    await turnsUntil(() => h.queue.depth === 1);
    expect(h.queue.active).toBe(1);
    const third = await post(h, '/v1/messages', body);
    expect(third.status).toBe(529);
    expect(await third.json()).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
    const fourth = await post(h, '/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'q' }] });
    expect(fourth.status).toBe(503);
    expect(((await fourth.json()) as { error: { message: string } }).error.message).toMatch(/Overloaded/);
    open();
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    expect(h.queue.active).toBe(0);
  });

  it('a client disconnect (stream cancel) aborts the engine generation and frees the slot', async () => {
    const engine = new FakeEngine({ script: () => 'x'.repeat(5000) });
    const h = createServeHandler({ engine, slots: 1, maxQueue: 0 });
    const ac = new AbortController();
    const res = await post(h, '/v1/messages', { model: 'm', max_tokens: 5000, stream: true, messages: [{ role: 'user', content: 'q' }] }, { signal: ac.signal });
    const reader = res.body!.getReader();
    await reader.read();
    await reader.read();
    await reader.cancel();
    ac.abort();
    for (let i = 0; i < 4000 && h.queue.active > 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(engine.aborted).toBe(1);
    expect(h.queue.active).toBe(0);
    const after = await post(h, '/v1/messages', { model: 'm', max_tokens: 2, messages: [{ role: 'user', content: 'q' }] });
    expect(after.status).toBe(200);
  });

  it('serves /health, /v1/models and /metrics as JSON and Prometheus text', async () => {
    const engine = new FakeEngine({ script: () => 'abc' });
    const h = createServeHandler({ engine });
    const get = (p: string, accept?: string) => h(new Request(BASE + p, { headers: accept ? { accept } : {} }));
    expect(await (await get('/health')).json()).toMatchObject({ status: 'ok', model: 'fake-model' });
    const models = (await (await get('/v1/models')).json()) as { data: { id: string }[] };
    expect(models.data[0]!.id).toBe('fake-model');
    const body = { model: 'm', max_tokens: 5, system: 'z'.repeat(300), messages: [{ role: 'user', content: 'q' }] };
    await post(h, '/v1/messages', body);
    await post(h, '/v1/messages', body);
    const m = (await (await get('/metrics')).json()) as Record<string, any>;
    expect(m.requests).toBe(2);
    expect(m.cache.hits).toBe(1);
    expect(m.cache.misses).toBe(1);
    expect(m.tokens.output).toBe(6);
    expect(m.tokens.cached).toBeGreaterThan(300);
    expect(m.queue).toMatchObject({ depth: 0, active: 0 });
    const prom = await (await get('/metrics', 'text/plain')).text();
    expect(prom).toMatch(/^trace_serve_cache_hits_total 1$/m);
    expect(prom).toMatch(/^trace_serve_queue_depth 0$/m);
    expect(prom).toMatch(/^trace_serve_decode_tokens_per_second \d/m);
    expect((await get('/nope')).status).toBe(404);
  });
});

describe.skipIf(!HAS_SHARED)('real Claude Code request bodies (../shared/fixtures/claude-code)', () => {
  it('serves the Read-tool loop; the second request reads the whole first prompt from the cache', async () => {
    const load = (f: string) => JSON.parse(readFileSync(join(FIXTURES, 'claude-code', f), 'utf8'));
    const engine = new FakeEngine({ script: () => 'ok' });
    const h = createServeHandler({ engine });
    const first = load('main-tool-first-2.1.197.json');
    const second = load('main-tool-result-2.1.197.json');
    // another conversation's billing line must not matter
    second.system[0].text = 'x-anthropic-billing-header: cc_version=2.1.197.zzz; cc_entrypoint=cli;';
    const r1 = await post(h, '/v1/messages?beta=true', first);
    expect(r1.headers.get('content-type')).toContain('text/event-stream');
    const e1 = parseSse(await r1.text()).map((e) => JSON.parse(e.data));
    expect(e1[e1.length - 1].type).toBe('message_stop');
    const r2 = await post(h, '/v1/messages?beta=true', second);
    const e2 = parseSse(await r2.text()).map((e) => JSON.parse(e.data));
    const usage = e2[0].message.usage;
    expect(usage.cache_read_input_tokens).toBeGreaterThanOrEqual(engine.prompts[0]!.length);
    expect(usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens).toBe(engine.prompts[1]!.length);
  });
});
