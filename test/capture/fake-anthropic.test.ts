/** The fake upstream others reuse: it must speak the Messages API wire format exactly. */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { parseSse } from '../../src/shared/sse.js';
import { MessageAssembler } from '../../src/shared/message-assembler.js';
import { FIXTURES, HAS_SHARED } from '../helpers/paths.js';
import { createFakeAnthropic, errorReply, lastToolResultText, textReply, toolUseReply, type FakeAnthropic } from '../helpers/fake-anthropic.js';

let fake: FakeAnthropic | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const post = (body: unknown, path = '/v1/messages') =>
  new Request(`http://fake${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('fake-anthropic (handler mode)', () => {
  it('streams message_start … message_stop framed as the API does, with usage in message_start and message_delta', async () => {
    fake = createFakeAnthropic({ script: () => textReply('Hello world', { usage: { input_tokens: 50, cache_read_input_tokens: 20 }, pieceSize: 4 }) });
    const res = await fake.handler(post({ model: 'claude-x', stream: true, messages: [] }));
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('request-id')).toBe('req_fake_0');
    const text = await res.text();
    expect(text.startsWith('event: message_start\ndata: {')).toBe(true);
    const evs = parseSse(text);
    expect(evs.map((e) => e.event)).toEqual([
      'message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop',
    ]);
    for (const e of evs) expect(JSON.parse(e.data).type).toBe(e.event);
    const start = JSON.parse(evs[0]!.data);
    expect(start.message.usage).toEqual({ input_tokens: 50, cache_creation_input_tokens: 0, cache_read_input_tokens: 20, output_tokens: 1 });
    const delta = JSON.parse(evs[7]!.data);
    expect(delta.delta.stop_reason).toBe('end_turn');
    expect(delta.usage.output_tokens).toBeGreaterThan(0);
    const a = new MessageAssembler();
    for (const e of evs) a.pushData(e.data);
    expect(a.result()!.content).toEqual([{ type: 'text', text: 'Hello world' }]);
    expect(fake.messages()[0]!.completed).toBe(true);
  });

  it('tool_use: input_json_delta in several partial_json pieces; non-streaming returns the same message', async () => {
    const input = { file_path: '/a/b/hello.txt' };
    fake = createFakeAnthropic({ script: () => toolUseReply('Read', input, { pieceSize: 5, id: 'toolu_x' }) });
    const s = parseSse(await (await fake.handler(post({ model: 'm', stream: true, messages: [] }))).text());
    const parts = s.filter((e) => e.data.includes('input_json_delta')).map((e) => JSON.parse(e.data).delta.partial_json);
    expect(parts.length).toBeGreaterThan(2);
    expect(JSON.parse(parts.join(''))).toEqual(input);
    const json = (await (await fake.handler(post({ model: 'm', messages: [] }))).json()) as Record<string, any>;
    expect(json).toMatchObject({ type: 'message', role: 'assistant', stop_reason: 'tool_use', content: [{ type: 'tool_use', id: 'toolu_x', name: 'Read', input }] });
    expect(json.id).toBe('msg_fake_1');
  });

  it('count_tokens, models, 404 and scripted errors use the API shapes', async () => {
    fake = createFakeAnthropic({ script: () => errorReply(529, 'overloaded_error', 'Overloaded') });
    expect(await (await fake.handler(post({ model: 'm', messages: [] }, '/v1/messages/count_tokens'))).json()).toEqual({ input_tokens: expect.any(Number) });
    const models = (await (await fake.handler(new Request('http://fake/v1/models'))).json()) as { data: { type: string }[]; has_more: boolean };
    expect(models.data[0]!.type).toBe('model');
    expect(models.has_more).toBe(false);
    const nf = await fake.handler(new Request('http://fake/v2/x'));
    expect(nf.status).toBe(404);
    expect(((await nf.json()) as { error: { type: string } }).error.type).toBe('not_found_error');
    const err = await fake.handler(post({ model: 'm', messages: [] }));
    expect(err.status).toBe(529);
    expect(await err.json()).toEqual({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
    expect(fake.requests.map((r) => r.path)).toEqual(['/v1/messages/count_tokens', '/v1/models', '/v2/x', '/v1/messages']);
  });

  it('records raw bodies and headers; reset mid-stream errors the body; cancel marks an abort', async () => {
    fake = createFakeAnthropic({ script: (_b, i) => textReply('abcdefghij', { pieceSize: 1, resetAfterEvents: i === 0 ? 3 : undefined }) });
    const r0 = await fake.handler(new Request('http://fake/v1/messages?x=1', { method: 'POST', headers: { 'x-api-key': 'k' }, body: '{"stream":true, "model":"m","messages":[]}' }));
    await expect(r0.text()).rejects.toThrow(/reset/);
    const seen = fake.messages()[0]!;
    expect(seen.bodyText).toBe('{"stream":true, "model":"m","messages":[]}');
    expect(seen.search).toBe('?x=1');
    expect(seen.headers['x-api-key']).toBe('k');
    const r1 = await fake.handler(post({ model: 'm', stream: true, messages: [] }));
    const reader = r1.body!.getReader();
    await reader.read();
    await reader.cancel();
    expect(fake.aborts().map((r) => r.seq)).toEqual([1]);
  });

  it('answers a json_schema output request (the session-title call) with JSON text', async () => {
    fake = createFakeAnthropic();
    const res = await fake.handler(post({ model: 'claude-haiku', messages: [], output_config: { format: { type: 'json_schema', schema: {} } } }));
    const msg = (await res.json()) as { content: { text: string }[] };
    expect(JSON.parse(msg.content[0]!.text)).toEqual({ title: 'Fake title' });
  });

  it.skipIf(!HAS_SHARED)('lastToolResultText finds the tool_result of a real Claude Code request (../shared fixture)', () => {
    const body = JSON.parse(readFileSync(join(FIXTURES, 'claude-code', 'main-tool-result-2.1.197.json'), 'utf8'));
    expect(lastToolResultText(body)).toContain('The secret word is pineapple.');
    const first = JSON.parse(readFileSync(join(FIXTURES, 'claude-code', 'main-tool-first-2.1.197.json'), 'utf8'));
    expect(lastToolResultText(first)).toBeUndefined();
  });
});

describe('fake-anthropic (real port)', () => {
  it('serves the same replies over HTTP and sees a client disconnect as an abort', async () => {
    fake = createFakeAnthropic({ script: (_b, i) => (i === 0 ? textReply('over the wire') : textReply('slow', { eventDelayMs: 60_000 })) });
    await fake.listen();
    const agent = new Agent();
    const res = await request(`${fake.url}/v1/messages`, { method: 'POST', body: JSON.stringify({ model: 'm', stream: true, messages: [] }), dispatcher: agent });
    expect(res.statusCode).toBe(200);
    const a = new MessageAssembler();
    for (const e of parseSse(await res.body.text())) a.pushData(e.data);
    expect(a.result()!.content).toEqual([{ type: 'text', text: 'over the wire' }]);
    const slow = await request(`${fake.url}/v1/messages`, { method: 'POST', body: JSON.stringify({ model: 'm', stream: true, messages: [] }), dispatcher: agent });
    const it = slow.body[Symbol.asyncIterator]();
    await it.next();
    slow.body.destroy();
    await fake.waitFor(() => fake!.aborts().length === 1);
    expect(fake.aborts()[0]!.seq).toBe(1);
    await agent.destroy();
  });
});
