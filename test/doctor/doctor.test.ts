import { describe, expect, it } from 'vitest';
import { runDoctor } from '../../src/doctor/doctor.js';
import { validateAnthropicStream, validateOpenAiStream } from '../../src/doctor/stream-validators.js';
import { createServeHandler } from '../../src/serve/http/server.js';
import { systemClock } from '../../src/shared/clock.js';
import { parseSse } from '../../src/shared/sse.js';
import { FakeEngine } from '../serve/http-fake-engine.js';

const fetchVia = (handler: (r: Request) => Promise<Response>) => ((url: string | URL | Request, init?: RequestInit) => handler(new Request(url, init))) as typeof fetch;
const TOOL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>';

describe('trace doctor against the serve handler (scripted engine)', () => {
  for (const api of ['anthropic', 'openai'] as const) {
    it(`${api}: all points pass with prefix caching on, tool calls included`, async () => {
      const engine = new FakeEngine({ script: (p) => (p.includes('<tool_response>') ? 'It is sunny.' : TOOL) });
      const report = await runDoctor({ endpoint: 'http://doctor.test/', api, fetch: fetchVia(createServeHandler({ engine })), clock: systemClock, prefixChars: 2000, maxTokens: 200 });
      expect(report.model).toBe('fake-model');
      expect(report.checks.map((c) => [c.name, c.ok])).toEqual([
        ['cache', true],
        ['tool-round-trip', true],
        ['stream-format', true],
        ['usage', true],
        ['ttft', true],
      ]);
      expect(report.ok).toBe(true);
      const [c1, c2, c3] = report.requests;
      expect(c2!.cacheReadTokens!).toBeGreaterThan(2000);
      expect(c3!.cacheReadTokens!).toBeGreaterThan(2000);
      if (api === 'anthropic') expect(c1!.cacheCreationTokens!).toBeGreaterThan(2000);
      expect(c1!.toolCalls).toEqual([{ id: expect.any(String), name: 'get_weather', arguments: { city: 'Paris' } }]);
      expect(report.requests.every((r) => r.ttftMs !== null && r.ttftMs >= 0)).toBe(true);
    });
  }

  it('reports the cache point as failed against a server with caching disabled', async () => {
    const engine = new FakeEngine({ cacheBytes: 0 });
    const report = await runDoctor({ endpoint: 'http://doctor.test', api: 'anthropic', fetch: fetchVia(createServeHandler({ engine })), clock: systemClock, prefixChars: 2000 });
    const cache = report.checks.find((c) => c.name === 'cache')!;
    expect(cache.ok).toBe(false);
    expect(cache.detail).toMatch(/created no cache/);
    expect(cache.detail).toMatch(/cache-2 read 0 cached tokens/);
    expect(report.ok).toBe(false);
    expect(report.checks.filter((c) => c.name !== 'cache').every((c) => c.ok)).toBe(true);
  });

  it('reports HTTP failures (server refuses the tool_result turn) per point', async () => {
    const inner = createServeHandler({ engine: new FakeEngine() });
    const handler = async (req: Request) => {
      const body = await req.clone().text();
      if (body.includes('tool_result')) return new Response(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'no tools here' } }), { status: 400 });
      return inner(req);
    };
    const report = await runDoctor({ endpoint: 'http://doctor.test', api: 'anthropic', fetch: fetchVia(handler), clock: systemClock, prefixChars: 500 });
    const tool = report.checks.find((c) => c.name === 'tool-round-trip')!;
    expect(tool.ok).toBe(false);
    expect(tool.detail).toMatch(/HTTP 400.*no tools here/);
    expect(report.ok).toBe(false);
  });
});

describe('stream validators', () => {
  it('flag broken Anthropic framing', () => {
    const raw =
      'data: {"type":"message_start","message":{"usage":{"input_tokens":1}}}\n\n' +
      'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}\n\n' +
      'event: content_block_start\ndata: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"n","input":{}}}\n\n' +
      'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"a\\":"}}\n\n' +
      'event: content_block_stop\ndata: {"type":"content_block_stop","index":1}\n\n';
    const s = validateAnthropicStream(parseSse(raw));
    expect(s.errors).toEqual(
      expect.arrayContaining([
        'data message_start has no "event:" line',
        'content_block_delta for block 0 that is not open',
        'content_block_start index 1, expected 0',
        'stream does not end with message_stop',
        'no message_delta',
        'tool_use n: input_json_delta pieces do not form JSON',
      ]),
    );
    expect(s.usageErrors).toEqual(expect.arrayContaining(['message_start usage.cache_read_input_tokens missing']));
  });
  it('flag broken OpenAI chunks (missing index / id, no [DONE], no usage)', () => {
    const c = (delta: unknown, extra: Record<string, unknown> = {}) => `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ delta, finish_reason: null, ...extra }] })}\n\n`;
    const raw = c({ role: 'assistant' }) + c({ tool_calls: [{ function: { name: 'f', arguments: '' } }] }) + c({ tool_calls: [{ index: 1, function: { name: 'g', arguments: '{}' } }] });
    const s = validateOpenAiStream(parseSse(raw), true);
    expect(s.errors).toEqual(
      expect.arrayContaining([
        'chunk 0: choices[].index missing',
        'chunk 1: tool_calls[].index missing',
        'tool call 1: first delta has no id',
        'stream does not end with data: [DONE]',
        'no finish_reason',
      ]),
    );
    expect(s.usageErrors).toEqual(['no usage chunk although stream_options.include_usage was set']);
  });
});
